/**
 * The two answers of a kept shadow comparison as mask PNGs of the image's size, transparent where nothing was
 * found, for the UI to lay over the image side by side. Colours say what matched:
 * - instances: a matched pair has the same colour on both sides; an instance without a match is red;
 * - class maps: each class has its colour (the shadow's classes matched to the served ones by name), the
 *   background is transparent.
 */
import { alignClassMap, backgroundClass, type SegmentationAgreement } from '../../eval/index.js';
import { colorForIndex, encodeClassMapPng, type Rgb } from '../../masks/index.js';
import type { CroppedMask } from '../../masks/types.js';
import type { SegmentationResult } from '../../tasks/types.js';

/** Instances without a match. */
export const UNMATCHED_COLOR: Rgb = [230, 25, 25];

/** Whether a colour reads as red, so that a matched pair is never mistaken for an unmatched instance. */
function reddish([r, g, b]: Rgb): boolean {
  return r >= 200 && Math.max(g, b) < 0.55 * r;
}

/** `count` pair colours from the shared palette order, the red ones skipped. */
function pairColors(count: number): Rgb[] {
  const colors: Rgb[] = [];
  for (let i = 0; colors.length < count; i++) {
    const color = colorForIndex(i);
    if (!reddish(color)) colors.push(color);
  }
  return colors;
}

function paint(map: Uint8Array, width: number, mask: CroppedMask, value: number): void {
  const { left, top, cropWidth, cropHeight, data } = mask;
  for (let y = 0; y < cropHeight; y++) {
    const row = (top + y) * width + left;
    for (let x = 0; x < cropWidth; x++) if (data[y * cropWidth + x] !== 0) map[row + x] = value;
  }
}

/** Pairs beyond this share colours (indexed PNGs hold 256 colours: transparent, red, and these). */
const MAX_PAIR_COLORS = 254;

export function comparisonPng(
  side: 'served' | 'shadow',
  served: SegmentationResult,
  shadow: SegmentationResult,
  agreement: SegmentationAgreement,
): Buffer {
  const result = side === 'served' ? served : shadow;
  const { width, height } = result;
  if (result.task === 'instance' && agreement.kind === 'instances') {
    const pairOf = new Map<number, number>();
    agreement.matches.forEach((match, k) => {
      pairOf.set(side === 'served' ? match.served : match.shadow, k % MAX_PAIR_COLORS);
    });
    const map = new Uint8Array(width * height);
    // Lowest score first, so the most confident instance is on top where masks overlap.
    const order = result.instances
      .map((_, i) => i)
      .sort((a, b) => result.instances[a].score - result.instances[b].score);
    for (const i of order) {
      const pair = pairOf.get(i);
      paint(map, width, result.instances[i].mask, pair === undefined ? 1 : pair + 2);
    }
    const pairs = Math.min(MAX_PAIR_COLORS, agreement.matches.length);
    const palette: Rgb[] = [[0, 0, 0], UNMATCHED_COLOR, ...pairColors(pairs)];
    return encodeClassMapPng(map, width, height, palette, { transparentIndex: 0 });
  }
  if (served.task === 'instance' || shadow.task === 'instance' || result.task === 'instance') {
    throw new Error('a class-map comparison of instance answers');
  }
  const map =
    side === 'served' ? served.classMap : alignClassMap(served.labels, shadow.labels, shadow.classMap).map;
  let highest = 0;
  for (let i = 0; i < map.length; i++) if (map[i] > highest) highest = map[i];
  const palette = Array.from({ length: highest + 1 }, (_, c) => colorForIndex(c));
  const background = backgroundClass(served.task, served.labels);
  return encodeClassMapPng(
    map,
    width,
    height,
    palette,
    background === undefined || background > highest ? {} : { transparentIndex: background },
  );
}
