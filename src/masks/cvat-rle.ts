/**
 * CVAT's mask RLE, as the `<mask>` element of "CVAT for images 1.1" XML carries it: `left`, `top`, `width` and
 * `height` give a box in the image, and `rle` the runs over that box only, row by row (left to right, then top to
 * bottom, unlike COCO's columns), alternating background and foreground and starting with background (so it
 * starts with 0 when the box's first pixel is painted). CVAT writes the runs as `3, 5, 7` and the box as the tight
 * box of the mask (`width` = right - left + 1); an empty mask has no box, and CVAT has no empty masks.
 */
import { SegserveError } from '../errors.js';
import { maskBbox } from './crop.js';
import type { BinaryMask } from './types.js';

export interface CvatMask {
  left: number;
  top: number;
  width: number;
  height: number;
  /** Runs over the box, row-major, background first. */
  rle: number[];
}

/** The CVAT mask of `mask` over its tight box, or undefined when nothing is painted. */
export function maskToCvat(mask: BinaryMask): CvatMask | undefined {
  const [left, top, width, height] = maskBbox(mask);
  if (width === 0 || height === 0) return undefined;
  const rle: number[] = [];
  let on = false;
  let run = 0;
  for (let y = top; y < top + height; y++) {
    const row = y * mask.width;
    for (let x = left; x < left + width; x++) {
      const painted = mask.data[row + x] !== 0;
      if (painted !== on) {
        rle.push(run);
        run = 0;
        on = painted;
      }
      run++;
    }
  }
  rle.push(run);
  return { left, top, width, height, rle };
}

/** The `rle` attribute as CVAT writes it. */
export function formatCvatRle(rle: readonly number[]): string {
  return rle.join(', ');
}

function invalid(reason: string): never {
  throw new SegserveError('INVALID_ARGUMENT', { reason: `CVAT mask: ${reason}` });
}

/** Reads an `rle` attribute (`3, 5, 7`); throws INVALID_ARGUMENT on anything but non-negative integers. */
export function parseCvatRle(text: string): number[] {
  return text.split(',').map((part) => {
    const value = Number(part.trim());
    if (part.trim() === '' || !Number.isInteger(value) || value < 0) {
      invalid(`rle holds ${JSON.stringify(part.trim())}, not a non-negative integer`);
    }
    return value;
  });
}

/** The whole-image mask of a CVAT mask on an imageWidth x imageHeight image; the box must lie inside it. */
export function cvatToMask(cvat: CvatMask, imageWidth: number, imageHeight: number): BinaryMask {
  const { left, top, width, height, rle } = cvat;
  if (left < 0 || top < 0 || left + width > imageWidth || top + height > imageHeight) {
    invalid(`box ${left},${top} ${width}x${height} is not inside the ${imageWidth}x${imageHeight} image`);
  }
  const total = rle.reduce((sum, n) => sum + n, 0);
  if (total !== width * height) invalid(`rle covers ${total} pixels, the box ${width * height}`);
  const data = new Uint8Array(imageWidth * imageHeight);
  let position = 0;
  rle.forEach((length, index) => {
    if (index % 2 === 1) {
      for (let k = position; k < position + length; k++) {
        const y = Math.floor(k / width);
        data[(top + y) * imageWidth + left + (k - y * width)] = 1;
      }
    }
    position += length;
  });
  return { width: imageWidth, height: imageHeight, data };
}
