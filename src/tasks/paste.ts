/**
 * Pasting small per-instance masks (Mask R-CNN's M x M, typically 28 x 28) into the image, as torchvision's
 * `paste_masks_in_image` does, but straight into original-image pixels:
 *
 * 1. pad the mask with one cell of zeros on every side ((M + 2) x (M + 2));
 * 2. grow the box by (M + 2) / M around its centre, so the padded mask covers what the mask covered;
 * 3. truncate the grown box to integers (torch's int64 cast, towards zero) and treat it as inclusive:
 *    w = x1 - x0 + 1 pixels (at least 1);
 * 4. resize the padded mask bilinearly to h x w (align_corners=False: src = max((j + 0.5) * (M + 2) / w - 0.5, 0));
 * 5. keep the part that lies inside the image, and threshold it.
 *
 * The box is first mapped to original-image coordinates, so with an identity transform this is exactly
 * torchvision's result, and otherwise it is the result torchvision gives when the detector sees the original
 * image at the model's scale. Only the pixels of the pasted rectangle are computed.
 */
import type { CroppedMask } from '../masks/types.js';
import { blankMask } from './instances.js';
import type { CornerBox } from './nms.js';
import { type AxisTable, thresholdSamples } from './sampling.js';

/** Sampling table of the padded mask (`cells` = M + 2) for image pixels first..first+count-1 of a `size`-wide box at `origin`. */
function resizeTable(first: number, count: number, origin: number, size: number, cells: number): AxisTable {
  const table: AxisTable = {
    i0: new Int32Array(count),
    i1: new Int32Array(count),
    w1: new Float32Array(count),
  };
  const ratio = cells / size;
  for (let k = 0; k < count; k++) {
    const source = Math.max((first + k - origin + 0.5) * ratio - 0.5, 0);
    const i0 = Math.floor(source);
    table.i0[k] = i0;
    table.i1[k] = Math.min(i0 + 1, cells - 1);
    table.w1[k] = source - i0;
  }
  return table;
}

/**
 * Pastes one M x M probability mask (`probabilities` from `offset`, row-major) into a `width` x `height` image.
 * `box` is in original-image pixels and not clipped (torchvision pastes boxes that leave the image, too).
 */
export function pasteMask(
  probabilities: Float32Array,
  offset: number,
  size: number,
  box: CornerBox,
  width: number,
  height: number,
  threshold: number,
): { mask: CroppedMask; area: number } {
  const cells = size + 2;
  const padded = new Float32Array(cells * cells);
  for (let r = 0; r < size; r++) {
    padded.set(probabilities.subarray(offset + r * size, offset + (r + 1) * size), (r + 1) * cells + 1);
  }
  const grow = cells / size;
  const centreX = (box.x1 + box.x2) / 2;
  const centreY = (box.y1 + box.y2) / 2;
  const halfW = ((box.x2 - box.x1) / 2) * grow;
  const halfH = ((box.y2 - box.y1) / 2) * grow;
  const x0 = Math.trunc(centreX - halfW);
  const x1 = Math.trunc(centreX + halfW);
  const y0 = Math.trunc(centreY - halfH);
  const y1 = Math.trunc(centreY + halfH);
  const boxWidth = Math.max(x1 - x0 + 1, 1);
  const boxHeight = Math.max(y1 - y0 + 1, 1);
  const left = Math.min(Math.max(x0, 0), width);
  const top = Math.min(Math.max(y0, 0), height);
  const rect = {
    left,
    top,
    right: Math.max(left, Math.min(x0 + boxWidth, width)),
    bottom: Math.max(top, Math.min(y0 + boxHeight, height)),
  };
  const mask = blankMask(rect, width, height);
  if (mask.cropWidth === 0 || mask.cropHeight === 0) return { mask, area: 0 };
  const cols = resizeTable(rect.left, mask.cropWidth, x0, boxWidth, cells);
  const rows = resizeTable(rect.top, mask.cropHeight, y0, boxHeight, cells);
  const area = thresholdSamples(padded, 0, cells, rows, cols, 0, 0, threshold, mask.data);
  return { mask, area };
}
