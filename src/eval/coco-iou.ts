/**
 * Overlap of COCO boxes and masks as pycocotools' `maskUtils.iou` defines it. Against a crowd region the
 * union is the detection alone (intersection / detection area): a detection inside a crowd is not punished
 * for the rest of the crowd. Masks are compared on their runs, never decoded.
 */
import { rleArea, rleBbox } from '../masks/index.js';
import type { CocoBox } from './coco-input.js';

/** pycocotools' bbIou: boxes as [x, y, w, h] doubles, computed in the C code's order of operations. */
export function boxIou(detection: CocoBox, truth: CocoBox, crowd: boolean): number {
  const detectionArea = detection[2] * detection[3];
  const truthArea = truth[2] * truth[3];
  const w = Math.min(detection[2] + detection[0], truth[2] + truth[0]) - Math.max(detection[0], truth[0]);
  if (w <= 0) return 0;
  const h = Math.min(detection[3] + detection[1], truth[3] + truth[1]) - Math.max(detection[1], truth[1]);
  if (h <= 0) return 0;
  const intersection = w * h;
  return intersection / (crowd ? detectionArea : detectionArea + truthArea - intersection);
}

/**
 * A mask as its foreground intervals in column-major pixel order ([starts[i], ends[i])), with its area and
 * pycocotools' box (`toBbox`). Intervals make an intersection a merge of two sorted lists: the cost is the
 * number of runs (a few hundred for an object), not the pixels (a few hundred thousand per image).
 */
export interface MaskRuns {
  height: number;
  width: number;
  starts: Float64Array;
  ends: Float64Array;
  area: number;
  box: CocoBox;
}

export function maskRuns(counts: number[], height: number, width: number): MaskRuns {
  const n = counts.length >> 1;
  const starts = new Float64Array(n);
  const ends = new Float64Array(n);
  let k = 0;
  let position = 0;
  for (let i = 0; i < counts.length; i++) {
    const run = counts[i];
    if (i % 2 === 1 && run > 0) {
      starts[k] = position;
      ends[k] = position + run;
      k++;
    }
    position += run;
  }
  return {
    height,
    width,
    starts: starts.subarray(0, k),
    ends: ends.subarray(0, k),
    area: rleArea(counts),
    box: rleBbox(counts, height, width),
  };
}

/** Foreground pixels the two masks share. */
export function intersectionArea(a: MaskRuns, b: MaskRuns): number {
  let i = 0;
  let j = 0;
  let shared = 0;
  const na = a.starts.length;
  const nb = b.starts.length;
  while (i < na && j < nb) {
    const from = a.starts[i] > b.starts[j] ? a.starts[i] : b.starts[j];
    const to = a.ends[i] < b.ends[j] ? a.ends[i] : b.ends[j];
    if (to > from) shared += to - from;
    if (a.ends[i] < b.ends[j]) i++;
    else j++;
  }
  return shared;
}

/**
 * pycocotools' rleIou. Masks of different sizes cannot be compared: like pycocotools this gives -1, which no
 * threshold accepts, so such a detection matches nothing. Boxes that do not overlap skip the run walk.
 */
export function maskIou(detection: MaskRuns, truth: MaskRuns, crowd: boolean): number {
  if (boxIou(detection.box, truth.box, crowd) <= 0) return 0;
  if (detection.height !== truth.height || detection.width !== truth.width) return -1;
  const shared = intersectionArea(detection, truth);
  if (shared === 0) return 0;
  return shared / (crowd ? detection.area : detection.area + truth.area - shared);
}
