/**
 * Semantic and binary segmentation metrics from a confusion matrix over class maps (one class id per pixel,
 * row-major, as the semantic decoders produce them). Every figure (per-class IoU, Dice, recall, precision, the
 * means, pixel accuracy) comes from the matrix, so a dataset's figures are those of its summed matrix: pixels
 * are pooled over images, the usual convention (mmsegmentation, torchmetrics' "global" reduction); per-image
 * figures are kept beside them to rank images.
 *
 * Means (the nanmean convention): each one averages the classes where its measure is defined, never counting an
 * absent class as 0 or 1.
 * - mIoU and mean Dice: classes present in the ground truth or the prediction (union > 0).
 * - mean accuracy (mean per-class recall, "mAcc"): classes present in the ground truth.
 * - mean precision: classes present in the prediction.
 * Pixel accuracy is the share of counted pixels whose class is right. Pixels whose truth is the ignore index
 * (255 "void" in VOC-style masks) are left out of everything.
 */
import { SegserveError } from '../errors.js';
import { diceFromCounts, iouFromCounts } from './iou.js';

/** counts[truth * classes + predicted]: pixels of class `truth` predicted as `predicted`. */
export interface ConfusionMatrix {
  classes: number;
  /** Float64 so that counts over many large images stay exact (to 2^53). */
  counts: Float64Array;
}

export interface ClassMapOptions {
  /** A truth pixel of this value counts nowhere (e.g. 255). */
  ignoreIndex?: number | null;
}

export function emptyConfusion(classes: number): ConfusionMatrix {
  if (!Number.isInteger(classes) || classes < 1 || classes > 256) {
    throw new SegserveError('INVALID_ARGUMENT', {
      reason: `a class map has 1 to 256 classes, not ${classes}`,
    });
  }
  return { classes, counts: new Float64Array(classes * classes) };
}

function invalid(reason: string): never {
  throw new SegserveError('EVAL_INPUT_INVALID', { source: 'class map', reason });
}

/**
 * Adds one image's pixels to `matrix` (and returns it). Throws EVAL_INPUT_INVALID when the maps differ in size
 * or hold a class id the matrix does not have (other than the ignore index in the truth).
 */
export function addToConfusion(
  matrix: ConfusionMatrix,
  truth: Uint8Array,
  prediction: Uint8Array,
  options: ClassMapOptions = {},
): ConfusionMatrix {
  if (truth.length !== prediction.length) {
    invalid(`the truth has ${truth.length} pixels, the prediction ${prediction.length}`);
  }
  const C = matrix.classes;
  const ignore = options.ignoreIndex ?? -1;
  // Counted into a 256 x 256 table first (no bounds check per pixel), then checked and folded in.
  const table = new Uint32Array(256 * 256);
  for (let i = 0; i < truth.length; i++) table[(truth[i] << 8) | prediction[i]]++;
  for (let t = 0; t < 256; t++) {
    for (let p = 0; p < 256; p++) {
      const n = table[(t << 8) | p];
      if (n === 0 || t === ignore) continue;
      if (t >= C) invalid(`the truth has class id ${t}, but there are ${C} classes`);
      if (p >= C) invalid(`the prediction has class id ${p}, but there are ${C} classes`);
      matrix.counts[t * C + p] += n;
    }
  }
  return matrix;
}

export function confusionMatrix(
  truth: Uint8Array,
  prediction: Uint8Array,
  classes: number,
  options: ClassMapOptions = {},
): ConfusionMatrix {
  return addToConfusion(emptyConfusion(classes), truth, prediction, options);
}

export interface ClassScores {
  class_id: number;
  label: string;
  truth_pixels: number;
  predicted_pixels: number;
  /** null where undefined: see the module comment. */
  iou: number | null;
  dice: number | null;
  /** Per-class pixel accuracy: the share of this class's pixels predicted as it. */
  recall: number | null;
  precision: number | null;
}

export interface SemanticScores {
  classes: ClassScores[];
  miou: number | null;
  mdice: number | null;
  /** Mean per-class recall ("mean accuracy"). */
  mean_accuracy: number | null;
  mean_precision: number | null;
  pixel_accuracy: number | null;
  /** Pixels counted (ignored ones excluded). */
  pixels: number;
}

function mean(values: Array<number | null>): number | null {
  const defined = values.filter((v): v is number => v !== null);
  return defined.length === 0 ? null : defined.reduce((a, b) => a + b, 0) / defined.length;
}

/** Every figure of a confusion matrix; `labels[c]` names class c (default its number). */
export function scoresOf(matrix: ConfusionMatrix, labels: readonly string[] = []): SemanticScores {
  const C = matrix.classes;
  const { counts } = matrix;
  let pixels = 0;
  let correct = 0;
  const classes: ClassScores[] = [];
  for (let c = 0; c < C; c++) {
    let truthPixels = 0;
    let predictedPixels = 0;
    for (let k = 0; k < C; k++) {
      truthPixels += counts[c * C + k];
      predictedPixels += counts[k * C + c];
    }
    const tp = counts[c * C + c];
    const fn = truthPixels - tp;
    const fp = predictedPixels - tp;
    pixels += truthPixels;
    correct += tp;
    classes.push({
      class_id: c,
      label: labels[c] ?? String(c),
      truth_pixels: truthPixels,
      predicted_pixels: predictedPixels,
      iou: iouFromCounts(tp, fp, fn),
      dice: diceFromCounts(tp, fp, fn),
      recall: truthPixels === 0 ? null : tp / truthPixels,
      precision: predictedPixels === 0 ? null : tp / predictedPixels,
    });
  }
  return {
    classes,
    miou: mean(classes.map((c) => c.iou)),
    mdice: mean(classes.map((c) => c.dice)),
    mean_accuracy: mean(classes.map((c) => c.recall)),
    mean_precision: mean(classes.map((c) => c.precision)),
    pixel_accuracy: pixels === 0 ? null : correct / pixels,
    pixels,
  };
}

/** The matrix as rows (ground truth) of columns (prediction), for JSON. */
export function confusionRows(matrix: ConfusionMatrix): number[][] {
  const C = matrix.classes;
  return Array.from({ length: C }, (_, t) => Array.from(matrix.counts.subarray(t * C, (t + 1) * C)));
}

/** One image's figures, to rank images worst first (by mIoU). */
export interface SemanticImageRow {
  image: string;
  pixels: number;
  pixel_accuracy: number | null;
  miou: number | null;
  mdice: number | null;
}
