/**
 * The gate stage of a pipeline (`pipeline.gate` in a model's config.yaml): a classification model sees the image
 * before the model that segments it, and the image goes on only when the classifier gives one of the `accept`
 * labels a probability of at least `min_score`. The rule reads every class's probability, not only the top
 * `top_k` the classifier answers with, so an accepted label outside them still counts. With `min_score` above
 * 0.5 under a softmax, passing means the accepted label is also the classifier's best.
 *
 * Pure decisions here; the serving core (service.ts) admits and runs the gate, pipeline.ts decodes the image once
 * for both models.
 */
import { type ErrorDetailList, SegserveError } from '../errors.js';
import type { GateConfig } from '../models/config.js';
import type { ClassificationResult } from '../tasks/types.js';

/** What the gate said about one image. */
export interface GateDecision {
  /** The gate classifier that decided, and its version. */
  model: string;
  version: number;
  accepted: boolean;
  /** The accepted label that scored best (passing or not), and its probability. */
  label: string;
  score: number;
  /** The classifier's top classes, best first, as it answers them on its own. */
  top: ClassificationResult['top'];
  /** The gate stage's time, decoded image to decision, in ms. */
  ms: number;
}

/** Applies the gate's rule to the classifier's answer. */
export function decideGate(
  gate: GateConfig,
  classifier: { model: string; version: number },
  result: ClassificationResult,
  ms: number,
): GateDecision {
  let label = gate.accept[0];
  let score = Number.NEGATIVE_INFINITY;
  for (const accepted of gate.accept) {
    const classId = result.labels.indexOf(accepted);
    // The repository checks at load time that every accepted label is one of the classifier's.
    const probability = classId >= 0 ? (result.scores[classId] ?? 0) : 0;
    if (probability > score) {
      label = accepted;
      score = probability;
    }
  }
  return {
    model: classifier.model,
    version: classifier.version,
    accepted: score >= gate.min_score,
    label,
    score,
    top: result.top,
    ms,
  };
}

const round4 = (value: number) => Math.round(value * 10_000) / 10_000;

/** GATE_REFUSED for `model`'s request, with the classifier's answer in the details. */
export function gateRefused(
  model: { name: string; version: number },
  gate: GateConfig,
  decision: GateDecision,
): SegserveError {
  const classes: ErrorDetailList = decision.top.map((c) => ({
    label: c.label,
    class_id: c.classId,
    score: round4(c.score),
  }));
  return new SegserveError('GATE_REFUSED', {
    model: model.name,
    version: model.version,
    gate: decision.model,
    gate_version: decision.version,
    accept: gate.accept.join(' or '),
    min_score: gate.min_score,
    label: decision.label,
    score: round4(decision.score),
    classes,
  });
}
