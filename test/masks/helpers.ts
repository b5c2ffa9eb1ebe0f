/** Mask builders and a deliberately naive reference encoder for the mask tests. */
import type { BinaryMask, CroppedMask } from '../../src/masks/types.js';

export { seededRandom } from '../helpers/random.js';

export function emptyMask(width: number, height: number): BinaryMask {
  return { width, height, data: new Uint8Array(width * height) };
}

/** Sets the inclusive rectangle (x0, y0)..(x1, y1). */
export function fillRect(
  mask: BinaryMask,
  x0: number,
  y0: number,
  x1: number,
  y1: number,
  value = 1,
): BinaryMask {
  for (let y = y0; y <= y1; y++) for (let x = x0; x <= x1; x++) mask.data[y * mask.width + x] = value;
  return mask;
}

export function ellipseMask(
  width: number,
  height: number,
  cx: number,
  cy: number,
  rx: number,
  ry: number,
): BinaryMask {
  const mask = emptyMask(width, height);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const dx = (x + 0.5 - cx) / rx;
      const dy = (y + 0.5 - cy) / ry;
      if (dx * dx + dy * dy <= 1) mask.data[y * width + x] = 1;
    }
  }
  return mask;
}

/** Independent pixels with probability `density`. */
export function noiseMask(width: number, height: number, density: number, random: () => number): BinaryMask {
  const mask = emptyMask(width, height);
  for (let i = 0; i < mask.data.length; i++) mask.data[i] = random() < density ? 1 : 0;
  return mask;
}

/** A few random rectangles, some overlapping, some cut by the border: blob-like masks with holes and gaps. */
export function rectanglesMask(
  width: number,
  height: number,
  count: number,
  random: () => number,
): BinaryMask {
  const mask = emptyMask(width, height);
  for (let k = 0; k < count; k++) {
    const x0 = Math.floor(random() * width);
    const y0 = Math.floor(random() * height);
    const x1 = Math.min(width - 1, x0 + Math.floor(random() * width * 0.6));
    const y1 = Math.min(height - 1, y0 + Math.floor(random() * height * 0.6));
    fillRect(mask, x0, y0, x1, y1, k % 4 === 3 ? 0 : 1);
  }
  return mask;
}

/** pycocotools' rleEncode spelled out pixel by pixel in column-major order: the reference to compare with. */
export function referenceCounts(mask: BinaryMask): number[] {
  const { width, height, data } = mask;
  const counts: number[] = [];
  let previous = 0;
  let run = 0;
  for (let x = 0; x < width; x++) {
    for (let y = 0; y < height; y++) {
      const value = data[y * width + x] === 0 ? 0 : 1;
      if (value !== previous) {
        counts.push(run);
        run = 0;
        previous = value;
      }
      run++;
    }
  }
  counts.push(run);
  return counts;
}

/** The crop of `mask` at the given rectangle, as a CroppedMask (pixels outside it are dropped). */
export function cropOf(
  mask: BinaryMask,
  left: number,
  top: number,
  cropWidth: number,
  cropHeight: number,
): CroppedMask {
  const data = new Uint8Array(cropWidth * cropHeight);
  for (let y = 0; y < cropHeight; y++) {
    for (let x = 0; x < cropWidth; x++)
      data[y * cropWidth + x] = mask.data[(top + y) * mask.width + left + x];
  }
  return { width: mask.width, height: mask.height, left, top, cropWidth, cropHeight, data };
}

export function normalised(mask: BinaryMask): Uint8Array {
  return mask.data.map((v) => (v === 0 ? 0 : 1));
}

export function iou(a: BinaryMask, b: BinaryMask): number {
  let inter = 0;
  let union = 0;
  for (let i = 0; i < a.data.length; i++) {
    const p = a.data[i] !== 0;
    const q = b.data[i] !== 0;
    if (p && q) inter++;
    if (p || q) union++;
  }
  return union === 0 ? 1 : inter / union;
}

/** Index of the first differing byte, -1 when equal (typed-array deep equality is slow on whole images). */
export function firstDifference(a: Uint8Array, b: Uint8Array): number {
  if (a.length !== b.length) return Math.min(a.length, b.length);
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return i;
  return -1;
}
