/**
 * Deterministic colours for classes and instances: the same index gets the same colour in every response, overlay
 * and PNG, and neighbouring indices look clearly different.
 */
import { SegserveError } from '../errors.js';

export type Rgb = [number, number, number];

/** 1/phi: stepping the hue by it spreads any run of consecutive indices almost evenly around the colour wheel. */
const GOLDEN_STEP = 0.618033988749895;

/**
 * Colour of index `i`: hue advances by the golden ratio; saturation and value alternate with periods 2 and 3,
 * so the indices that land on similar hues after a few turns still differ in brightness or strength.
 */
export function colorForIndex(i: number): Rgb {
  if (!Number.isInteger(i) || i < 0) {
    throw new SegserveError('INVALID_ARGUMENT', {
      reason: `colour index must be a non-negative integer, got ${i}`,
    });
  }
  const hue = (0.1 + i * GOLDEN_STEP) % 1;
  const saturation = i % 2 === 0 ? 0.9 : 0.7;
  const value = i % 3 === 2 ? 0.75 : 0.95;
  return hsvToRgb(hue, saturation, value);
}

/** `count` colours by class index; index 0 is `background` when given (class i keeps colorForIndex(i) either way). */
export function classPalette(count: number, options: { background?: Rgb } = {}): Rgb[] {
  if (!Number.isInteger(count) || count < 0) {
    throw new SegserveError('INVALID_ARGUMENT', {
      reason: `palette size must be a non-negative integer, got ${count}`,
    });
  }
  const palette: Rgb[] = [];
  for (let i = 0; i < count; i++) palette.push(colorForIndex(i));
  if (count > 0 && options.background) palette[0] = [...options.background];
  return palette;
}

function hsvToRgb(h: number, s: number, v: number): Rgb {
  const sector = Math.floor(h * 6);
  const f = h * 6 - sector;
  const p = v * (1 - s);
  const q = v * (1 - f * s);
  const t = v * (1 - (1 - f) * s);
  const [r, g, b] = [
    [v, t, p],
    [q, v, p],
    [p, v, t],
    [p, q, v],
    [t, p, v],
    [v, p, q],
  ][sector % 6];
  return [Math.round(r * 255), Math.round(g * 255), Math.round(b * 255)];
}
