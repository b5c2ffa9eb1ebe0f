/**
 * One number in [0, 1] per prediction that the sampler's thresholds and rankings read: higher is more unsure.
 */
import type { ClassUncertainty, InstanceUncertainty, PixelUncertainty } from '../../tasks/types.js';

/**
 * - Semantic and binary models: the mean normalised per-pixel entropy (tasks/uncertainty.ts), already in [0, 1].
 * - Instance models: 1 - the smallest score margin over the instances, where an instance's margin is the lesser
 *   of its best-minus-second class score and its score. The class margin says how sure the model was of the
 *   class; the score is the margin over "no object here", the runner-up a detector never scores. YOLO's class
 *   margin never exceeds its score, so there the class margin decides; torchvision's Mask R-CNN reports one
 *   score per detection (class margin 1), so there the score decides. A prediction with no instance scores 0:
 *   there is nothing to doubt in it (a missed object shows in no score; the random strategy samples those).
 * - Classification models (which cannot be sampled, but have the number): the normalised entropy of the scores.
 * Undefined when the prediction has no uncertainty (raw Open Inference Protocol tensors).
 */
export function uncertaintyScore(
  uncertainty: PixelUncertainty | InstanceUncertainty | ClassUncertainty | undefined,
): number | undefined {
  if (!uncertainty) return undefined;
  let score: number;
  if (uncertainty.kind === 'pixel-entropy') score = uncertainty.meanEntropy;
  else if (uncertainty.kind === 'class-scores') score = uncertainty.entropy;
  else score = uncertainty.count === 0 ? 0 : 1 - Math.min(uncertainty.minMargin, uncertainty.minScore);
  // A model that emits NaN must not rank above every real score (NaN fails every comparison but this one).
  return Number.isFinite(score) ? Math.min(Math.max(score, 0), 1) : undefined;
}
