/**
 * Conversions between whole-image masks and masks stored only inside a rectangle, plus the pixel
 * measurements (area, tight box) that decoders and serialisers need.
 */
import type { BinaryMask, CroppedMask } from './types.js';

/** COCO box in pixels: [x, y, width, height]. */
export type MaskBox = [number, number, number, number];

export function isCroppedMask(mask: BinaryMask | CroppedMask): mask is CroppedMask {
  return 'cropWidth' in mask;
}

/** Views a whole-image mask as a crop that covers the whole image (no copy). */
export function asCroppedMask(mask: BinaryMask | CroppedMask): CroppedMask {
  if (isCroppedMask(mask)) return mask;
  return {
    width: mask.width,
    height: mask.height,
    left: 0,
    top: 0,
    cropWidth: mask.width,
    cropHeight: mask.height,
    data: mask.data,
  };
}

/** Pastes the crop into a zeroed whole-image mask; any non-zero byte becomes 1. */
export function expandCroppedMask(mask: CroppedMask): BinaryMask {
  const { width, height, left, top, cropWidth, cropHeight, data } = mask;
  const out = new Uint8Array(width * height);
  for (let y = 0; y < cropHeight; y++) {
    const src = y * cropWidth;
    const dst = (top + y) * width + left;
    for (let x = 0; x < cropWidth; x++) out[dst + x] = data[src + x] === 0 ? 0 : 1;
  }
  return { width, height, data: out };
}

interface ContentBounds {
  minX: number;
  minY: number;
  maxX: number;
  maxY: number;
}

/** Tight bounds of the non-zero pixels, in crop coordinates; null when the crop is empty. */
function contentBounds(mask: CroppedMask): ContentBounds | null {
  const { cropWidth, cropHeight, data } = mask;
  let minX = cropWidth;
  let minY = cropHeight;
  let maxX = -1;
  let maxY = -1;
  for (let y = 0; y < cropHeight; y++) {
    const row = y * cropWidth;
    let first = -1;
    for (let x = 0; x < cropWidth; x++) {
      if (data[row + x] !== 0) {
        first = x;
        break;
      }
    }
    if (first < 0) continue;
    let last = cropWidth - 1;
    while (data[row + last] === 0) last--;
    if (first < minX) minX = first;
    if (last > maxX) maxX = last;
    if (minY > y) minY = y;
    maxY = y;
  }
  return maxY < 0 ? null : { minX, minY, maxX, maxY };
}

/**
 * Shrinks a mask to the tight rectangle around its non-zero pixels (values normalised to 0/1).
 * An empty mask becomes a 0x0 crop at the origin.
 */
export function cropToContent(mask: BinaryMask | CroppedMask): CroppedMask {
  const crop = asCroppedMask(mask);
  const bounds = contentBounds(crop);
  if (bounds === null) {
    return {
      width: crop.width,
      height: crop.height,
      left: 0,
      top: 0,
      cropWidth: 0,
      cropHeight: 0,
      data: new Uint8Array(0),
    };
  }
  const cropWidth = bounds.maxX - bounds.minX + 1;
  const cropHeight = bounds.maxY - bounds.minY + 1;
  const data = new Uint8Array(cropWidth * cropHeight);
  for (let y = 0; y < cropHeight; y++) {
    const src = (bounds.minY + y) * crop.cropWidth + bounds.minX;
    const dst = y * cropWidth;
    for (let x = 0; x < cropWidth; x++) data[dst + x] = crop.data[src + x] === 0 ? 0 : 1;
  }
  return {
    width: crop.width,
    height: crop.height,
    left: crop.left + bounds.minX,
    top: crop.top + bounds.minY,
    cropWidth,
    cropHeight,
    data,
  };
}

/** Number of non-zero pixels. */
export function maskArea(mask: BinaryMask | CroppedMask): number {
  const { data } = mask;
  let area = 0;
  for (let i = 0; i < data.length; i++) if (data[i] !== 0) area++;
  return area;
}

/** Tight box of the non-zero pixels in image coordinates; [0, 0, 0, 0] when empty (as pycocotools' toBbox). */
export function maskBbox(mask: BinaryMask | CroppedMask): MaskBox {
  const crop = asCroppedMask(mask);
  const bounds = contentBounds(crop);
  if (bounds === null) return [0, 0, 0, 0];
  return [
    crop.left + bounds.minX,
    crop.top + bounds.minY,
    bounds.maxX - bounds.minX + 1,
    bounds.maxY - bounds.minY + 1,
  ];
}
