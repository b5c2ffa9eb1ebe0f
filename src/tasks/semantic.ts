/**
 * Dense decoders: one score map in, one class per original-image pixel out.
 * - `softmax`: C mutually exclusive classes; class = argmax (activation does not change the argmax, so applied
 *   probabilities and logits are read alike). Class index = label index.
 * - `sigmoid`: binary foreground. One channel = foreground probability (or logit); two channels = [background,
 *   foreground] of a softmax. Class map 0 = background, 1 = foreground.
 * - `sigmoid-multilabel`: C independent sigmoids; the highest class wins if it is above thresholds.mask, else
 *   the pixel is background. Class map value = channel + 1, labels = ['background', ...labels].
 * The answer's labels always come from classLabels (models/class-labels.ts), which the model status lists too.
 */
import { classLabels } from '../models/class-labels.js';
import type { DecoderName } from '../models/config.js';
import type { NamedTensors } from '../runtime/types.js';
import { thresholdFor } from './activation.js';
import { type ClassRule, classAreas, contentWindow, resampleClassMap } from './class-map.js';
import { outputMismatch, resolveRoles } from './outputs.js';
import { channelDifference, channelView, readScoreMap, type ScoreMap } from './score-map.js';
import type { DecodeContext, SemanticResult } from './types.js';
import { type PixelDistribution, pixelUncertainty } from './uncertainty.js';

/** The class map is one byte per pixel. */
const MAX_CLASSES = 256;

function readScores(outputs: NamedTensors, context: DecodeContext, decoder: DecoderName): ScoreMap {
  const { scores } = resolveRoles(outputs, ['scores'], context, decoder);
  return readScoreMap(scores, context.config.output.layout, context, decoder);
}

function semanticResult(
  context: DecodeContext,
  map: ScoreMap,
  rule: ClassRule,
  labels: string[],
  distribution: PixelDistribution,
): SemanticResult {
  const { transform, config } = context;
  const window = contentWindow(map, transform);
  const { classMap, counts } = resampleClassMap(map, transform, window, rule);
  return {
    task: config.task === 'binary' ? 'binary' : 'semantic',
    width: transform.sourceWidth,
    height: transform.sourceHeight,
    classMap,
    labels,
    areas: classAreas(counts, labels),
    uncertainty: pixelUncertainty(map, distribution, config.output.activation, window),
  };
}

export function decodeSoftmax(outputs: NamedTensors, context: DecodeContext): SemanticResult {
  const map = readScores(outputs, context, 'softmax');
  const labels = context.labels;
  if (map.channels !== labels.length) {
    throw outputMismatch(
      context,
      'softmax',
      `score map has ${map.channels} channels, but there are ${labels.length} labels (one channel per label, output.layout ${context.config.output.layout})`,
    );
  }
  if (map.channels < 2 || map.channels > MAX_CLASSES) {
    throw outputMismatch(
      context,
      'softmax',
      `a softmax map needs 2 to ${MAX_CLASSES} channels, not ${map.channels}`,
    );
  }
  return semanticResult(
    context,
    map,
    { threshold: Number.NEGATIVE_INFINITY, shift: 0 },
    classLabels('softmax', labels),
    'softmax',
  );
}

export function decodeSigmoid(outputs: NamedTensors, context: DecodeContext): SemanticResult {
  const map = readScores(outputs, context, 'sigmoid');
  const { activation } = context.config.output;
  if (map.channels !== 1 && map.channels !== 2) {
    throw outputMismatch(
      context,
      'sigmoid',
      `a binary map has 1 channel (foreground) or 2 ([background, foreground]), not ${map.channels} (output.layout ${context.config.output.layout})`,
    );
  }
  if (context.labels.length > 2) {
    throw outputMismatch(
      context,
      'sigmoid',
      `a binary model has at most 2 labels, not ${context.labels.length}`,
    );
  }
  // Two softmax channels reduce to one foreground value: the probability itself, or for logits the difference
  // fg - bg, which is exactly the logit of the foreground probability.
  const foreground =
    map.channels === 1 ? map : activation === 'logits' ? channelDifference(map, 0, 1) : channelView(map, 1);
  const rule: ClassRule = { threshold: thresholdFor(context.config.thresholds.mask, activation), shift: 1 };
  return semanticResult(context, foreground, rule, classLabels('sigmoid', context.labels), 'binary');
}

export function decodeMultilabel(outputs: NamedTensors, context: DecodeContext): SemanticResult {
  const map = readScores(outputs, context, 'sigmoid-multilabel');
  const labels = context.labels;
  if (map.channels !== labels.length) {
    throw outputMismatch(
      context,
      'sigmoid-multilabel',
      `score map has ${map.channels} channels, but there are ${labels.length} labels (one channel per label, output.layout ${context.config.output.layout})`,
    );
  }
  if (map.channels > MAX_CLASSES - 1) {
    throw outputMismatch(
      context,
      'sigmoid-multilabel',
      `at most ${MAX_CLASSES - 1} classes, not ${map.channels}`,
    );
  }
  // The sigmoid is increasing, so the top logit is the top probability and one threshold test decides.
  const rule: ClassRule = {
    threshold: thresholdFor(context.config.thresholds.mask, context.config.output.activation),
    shift: 1,
  };
  return semanticResult(context, map, rule, classLabels('sigmoid-multilabel', labels), 'multilabel');
}
