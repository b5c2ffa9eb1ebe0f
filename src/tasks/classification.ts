/**
 * `softmax-classifier`: one score per class for the whole image, [1, C] or [1, C, 1, 1] (global pooling kept as
 * 1x1; with `output.layout: NHWC`, [1, 1, 1, C]). With `output.activation: logits` the scores are turned into
 * probabilities by a softmax; `applied` reads them as probabilities already. Answers the `top_k` best classes
 * (config `top_k`, default DEFAULT_TOP_K), every class's probability and how unsure the model was: normalised
 * entropy, the best probability and its margin over the second.
 */
import type { NamedTensors } from '../runtime/types.js';
import { describeDims, outputMismatch, resolveRoles, toFloat32 } from './outputs.js';
import type { ClassificationResult, ClassScore, ClassUncertainty, DecodeContext } from './types.js';

/** Classes answered when the config gives no `top_k`. */
export const DEFAULT_TOP_K = 5;

/** The class axis of a score tensor, or undefined when other axes are not 1 (not one score per class). */
function classAxis(dims: readonly number[], layout: 'NCHW' | 'NHWC'): number | undefined {
  if (dims.length === 2) return dims[0] === 1 ? 1 : undefined;
  if (dims.length !== 4 || dims[0] !== 1) return undefined;
  const axis = layout === 'NHWC' ? 3 : 1;
  return dims.every((d, i) => i === axis || d === 1) ? axis : undefined;
}

/** Softmax with the maximum subtracted first, so large logits do not overflow. */
export function softmax(logits: ArrayLike<number>): number[] {
  let max = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < logits.length; i++) if (logits[i] > max) max = logits[i];
  const exps = Array.from({ length: logits.length }, (_, i) => Math.exp(logits[i] - max));
  const sum = exps.reduce((a, b) => a + b, 0);
  return exps.map((e) => e / sum);
}

/** Entropy / ln C, best probability and best minus second best of one distribution. */
export function classUncertainty(probabilities: readonly number[]): ClassUncertainty {
  const total = probabilities.reduce((a, b) => a + b, 0);
  let entropy = 0;
  let first = 0;
  let second = 0;
  for (const raw of probabilities) {
    // A model that applies its own softmax may round to a sum a little off 1: entropy reads the distribution.
    const p = total > 0 ? raw / total : 0;
    if (p > 0) entropy -= p * Math.log(p);
    if (raw > first) {
      second = first;
      first = raw;
    } else if (raw > second) second = raw;
  }
  const classes = probabilities.length;
  const normalised = classes > 1 ? entropy / Math.log(classes) : 0;
  return {
    kind: 'class-scores',
    entropy: Math.min(Math.max(normalised, 0), 1),
    topScore: first,
    margin: first - second,
  };
}

/** The k best classes, best first; equal scores keep class order. */
export function topClasses(scores: readonly number[], labels: readonly string[], k: number): ClassScore[] {
  return scores
    .map((score, classId) => ({ classId, label: labels[classId], score }))
    .sort((a, b) => b.score - a.score || a.classId - b.classId)
    .slice(0, k);
}

export function decodeSoftmaxClassifier(outputs: NamedTensors, context: DecodeContext): ClassificationResult {
  const { scores: tensor } = resolveRoles(outputs, ['scores'], context, 'softmax-classifier');
  const { config, labels, transform } = context;
  const axis = classAxis(tensor.dims, config.output.layout);
  if (axis === undefined) {
    throw outputMismatch(
      context,
      'softmax-classifier',
      `scores have dims ${describeDims(tensor.dims)}; expected [1, C] or [1, C, 1, 1] (output.layout ${config.output.layout}: [1, 1, 1, C] for NHWC)`,
    );
  }
  const classes = tensor.dims[axis];
  if (classes !== labels.length) {
    throw outputMismatch(
      context,
      'softmax-classifier',
      `the model scores ${classes} classes, but there are ${labels.length} labels (one score per label)`,
    );
  }
  if (classes < 2) {
    throw outputMismatch(
      context,
      'softmax-classifier',
      `a classifier needs at least 2 classes, not ${classes}`,
    );
  }
  const values = toFloat32(tensor);
  for (let i = 0; i < values.length; i++) {
    if (!Number.isFinite(values[i])) {
      throw outputMismatch(context, 'softmax-classifier', `the score of class ${i} is ${values[i]}`);
    }
  }
  const probabilities =
    config.output.activation === 'logits' ? softmax(values) : Array.from(values, (v) => Number(v));
  const k = Math.min(config.top_k ?? DEFAULT_TOP_K, classes);
  return {
    task: 'classification',
    width: transform.sourceWidth,
    height: transform.sourceHeight,
    top: topClasses(probabilities, labels, k),
    scores: probabilities,
    labels: [...labels],
    uncertainty: classUncertainty(probabilities),
  };
}
