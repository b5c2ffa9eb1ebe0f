/**
 * What the drift monitor looks at in one prediction: input signals from the pixels the model saw (computed by the
 * runtime while it filled the tensor, src/image/statistics.ts) and output signals from the segmentation's
 * summary. Both are a handful of numbers, so a monitor keeps no images and decodes nothing.
 */
import type { PixelStatistics } from '../../image/index.js';
import { type PredictionSummary, summarizeResult } from '../../serving/events.js';
import type { Segmentation } from '../../serving/pipeline.js';
import type {
  ClassUncertainty,
  InstanceUncertainty,
  PixelUncertainty,
  SegmentationResult,
} from '../../tasks/types.js';

export interface InputSignals extends PixelStatistics {
  /** Width / height of the (EXIF-oriented) source image. */
  aspectRatio: number;
}

export interface OutputSignals {
  /** Mean normalised per-pixel entropy (semantic and binary models); the scores' entropy (classification). */
  entropy?: number;
  /** Mean score of the kept instances (instance models); absent when there are none. */
  instanceScore?: number;
  /**
   * Share of each class by class index (the model's labels): of the pixels for semantic and binary models, of the
   * instances for instance models, 1 for the best class of a classification. Sums to 1, or to 0 for an instance
   * result without instances.
   */
  classShares: number[];
}

/** One prediction as the monitor sees it. `input` is absent when no image was decoded (its signals count as missing). */
export interface DriftObservation {
  input?: InputSignals;
  output: OutputSignals;
}

/** The input signals of an image of `width` x `height` (as oriented) whose pixels gave `statistics`. */
export function inputSignalsOf(statistics: PixelStatistics, width: number, height: number): InputSignals {
  return { ...statistics, aspectRatio: height > 0 ? width / height : Number.NaN };
}

/** The output signals of a segmentation (its summary only: no per-pixel work). */
export function outputSignals(result: SegmentationResult, classCount: number): OutputSignals {
  return outputSignalsOf(summarizeResult(result), result.uncertainty, classCount);
}

/** The output signals from what a `prediction.completed` event carries (its summary and uncertainty). */
export function outputSignalsOf(
  summary: PredictionSummary,
  uncertainty: PixelUncertainty | InstanceUncertainty | ClassUncertainty | undefined,
  classCount: number,
): OutputSignals {
  const classShares = new Array<number>(classCount).fill(0);
  if (summary.task === 'tensors') return { classShares };
  if (summary.task === 'classification') {
    // The mix of answers: how often each class wins, as the instance mix counts detections.
    const best = summary.classes[0];
    if (best && best.classId < classCount) classShares[best.classId] = 1;
    const entropy = uncertainty?.kind === 'class-scores' ? uncertainty.entropy : undefined;
    return { entropy, classShares };
  }
  if (summary.task === 'instance') {
    const count = summary.instances.length;
    for (const instance of summary.instances) {
      if (instance.classId < classCount) classShares[instance.classId] += 1 / count;
    }
    const meanScore = uncertainty?.kind === 'instance-scores' ? uncertainty.meanScore : undefined;
    return { instanceScore: count > 0 ? meanScore : undefined, classShares };
  }
  let foreground = 0;
  for (const { classId, ratio } of summary.classes) {
    if (classId < classCount) {
      classShares[classId] += ratio;
      foreground += ratio;
    }
  }
  // Binary and multilabel maps list only their non-background classes: the rest is background (class 0).
  if (!summary.classes.some((c) => c.classId === 0) && classCount > 0)
    classShares[0] += Math.max(0, 1 - foreground);
  const entropy = uncertainty?.kind === 'pixel-entropy' ? uncertainty.meanEntropy : undefined;
  return { entropy, classShares };
}

/** The observation for a segmentation: output signals, and input signals when the runtime measured the pixels. */
export function driftObservation(seg: Segmentation, classCount: number): DriftObservation {
  const output = outputSignals(seg.result, classCount);
  if (!seg.statistics) return { output };
  return { input: inputSignalsOf(seg.statistics, seg.image.orientedWidth, seg.image.orientedHeight), output };
}
