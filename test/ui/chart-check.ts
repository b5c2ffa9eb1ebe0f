/**
 * What a chart canvas holds, read back from its pixels: how many are drawn in a series' colour. A chart whose
 * element exists but whose canvas stayed blank, or was drawn in other colours only, counts 0.
 */
import type { Pixels } from './browser.js';

/** `#rrggbb` as numbers. */
export function rgb(hex: string): [number, number, number] {
  const value = Number.parseInt(hex.slice(1), 16);
  return [(value >> 16) & 255, (value >> 8) & 255, value & 255];
}

/**
 * Opaque pixels within `tolerance` (per channel) of `color`. Lines are anti-aliased, so their edges blend with
 * the background; their core keeps the colour within a few levels.
 */
export function pixelsOfColor(pixels: Pixels, color: string, tolerance = 24): number {
  const [r, g, b] = rgb(color);
  let found = 0;
  for (let i = 0; i < pixels.data.length; i += 4) {
    if (pixels.data[i + 3] < 250) continue;
    if (
      Math.abs(pixels.data[i] - r) <= tolerance &&
      Math.abs(pixels.data[i + 1] - g) <= tolerance &&
      Math.abs(pixels.data[i + 2] - b) <= tolerance
    ) {
      found++;
    }
  }
  return found;
}

/** Pixels that are not fully transparent: the canvas background is transparent, so these were drawn. */
export function drawnPixels(pixels: Pixels): number {
  let found = 0;
  for (let i = 3; i < pixels.data.length; i += 4) if (pixels.data[i] > 0) found++;
  return found;
}
