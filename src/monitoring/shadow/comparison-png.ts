/**
 * The two answers of a kept shadow comparison as mask PNGs of the image's size, for the UI to lay over the image
 * side by side: transparent where nothing was found, each mask a translucent fill with an opaque edge, so that a
 * mask shows whatever the colour of the object under it (a green mask over a green object would vanish without
 * its edge). Colours say what matched:
 * - instances: a matched pair has the same colour on both sides; an instance without a match is red;
 * - class maps: each class has its colour (the shadow's classes matched to the served ones by name), the
 *   background is transparent.
 */
import { alignClassMap, backgroundClass, type SegmentationAgreement } from '../../eval/index.js';
import { colorForIndex, encodeClassMapPng, type Rgb } from '../../masks/index.js';
import type { CroppedMask } from '../../masks/types.js';
import type { MaskResult } from '../../tasks/types.js';

/** Instances without a match. */
export const UNMATCHED_COLOR: Rgb = [230, 25, 25];
/** Opacity of a mask's inside and of its edge (0-255). */
export const FILL_ALPHA = 140;
export const EDGE_ALPHA = 255;
/** Masks (colours) that fit a 256-entry palette with a fill and an edge entry each, besides transparent. */
const MAX_COLORS = 127;

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

/**
 * `ids` (0 = nothing, id k in colour `colors[k - 1]`) as an indexed PNG: id k's inside is palette entry
 * 2k - 1 (translucent), its edge 2k (opaque). A pixel is on the edge when a pixel within the edge's width
 * (straight across or down) holds another id or lies outside the image. The width grows with the image (1 px
 * up to 375 px, 3 px at 640, at most 8), since the page shows images some 400 px wide: a 1 px edge of a large
 * photo would vanish when scaled down.
 */
function outlinedPng(ids: Uint8Array, width: number, height: number, colors: Rgb[]): Buffer {
  if (colors.length > MAX_COLORS) throw new Error(`${colors.length} mask colours, at most ${MAX_COLORS}`);
  const edge = Math.min(8, Math.max(1, Math.round(Math.max(width, height) / 250)));
  const out = new Uint8Array(ids.length);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = y * width + x;
      const id = ids[i];
      if (id === 0) continue;
      let onEdge = false;
      for (let d = 1; d <= edge && !onEdge; d++) {
        onEdge =
          x < d ||
          y < d ||
          x + d >= width ||
          y + d >= height ||
          ids[i - d] !== id ||
          ids[i + d] !== id ||
          ids[i - d * width] !== id ||
          ids[i + d * width] !== id;
      }
      out[i] = 2 * id - (onEdge ? 0 : 1);
    }
  }
  const palette: Rgb[] = [[0, 0, 0]];
  const alphas = [0];
  for (const color of colors) {
    palette.push(color, color);
    alphas.push(FILL_ALPHA, EDGE_ALPHA);
  }
  return encodeClassMapPng(out, width, height, palette, { alphas });
}

export function comparisonPng(
  side: 'served' | 'shadow',
  served: MaskResult,
  shadow: MaskResult,
  agreement: SegmentationAgreement,
): Buffer {
  const result = side === 'served' ? served : shadow;
  const { width, height } = result;
  if (result.task === 'instance' && agreement.kind === 'instances') {
    // Id 1: unmatched; id 2 + k: pair k (pairs beyond the palette share colours).
    const pairs = Math.min(MAX_COLORS - 1, agreement.matches.length);
    const pairOf = new Map<number, number>();
    agreement.matches.forEach((match, k) => {
      pairOf.set(side === 'served' ? match.served : match.shadow, k % pairs);
    });
    const ids = new Uint8Array(width * height);
    // Lowest score first, so the most confident instance is on top where masks overlap.
    const order = result.instances
      .map((_, i) => i)
      .sort((a, b) => result.instances[a].score - result.instances[b].score);
    for (const i of order) {
      const pair = pairOf.get(i);
      paint(ids, width, result.instances[i].mask, pair === undefined ? 1 : pair + 2);
    }
    return outlinedPng(ids, width, height, [UNMATCHED_COLOR, ...pairColors(pairs)]);
  }
  if (served.task === 'instance' || shadow.task === 'instance' || result.task === 'instance') {
    throw new Error('a class-map comparison of instance answers');
  }
  const map =
    side === 'served' ? served.classMap : alignClassMap(served.labels, shadow.labels, shadow.classMap).map;
  // Id = class + 1, the background 0 (nothing drawn); classes past the palette's room are not drawn.
  const background = backgroundClass(served.task, served.labels);
  let highest = 0;
  for (let i = 0; i < map.length; i++) if (map[i] > highest) highest = map[i];
  const classes = Math.min(highest + 1, MAX_COLORS);
  const table = new Uint8Array(256);
  for (let c = 0; c < classes; c++) table[c] = c === background ? 0 : c + 1;
  const ids = new Uint8Array(map.length);
  for (let i = 0; i < map.length; i++) ids[i] = table[map[i]];
  return outlinedPng(
    ids,
    width,
    height,
    Array.from({ length: classes }, (_, c) => colorForIndex(c)),
  );
}
