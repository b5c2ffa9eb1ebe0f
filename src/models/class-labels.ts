/**
 * The class list of a model's answers: entry i names class id i, the value written in class maps and
 * `class_id`. It differs from the labels file for two decoders, which add background as class 0:
 * `sigmoid-multilabel` (labels name output channels, channel c is class c + 1) and a one-label `sigmoid`.
 * Both the decoders and the model status read this one function, so `GET /v1/models/{m}` lists exactly the
 * labels that answers use and that `class_id` indexes.
 */
import type { DecoderName } from './config.js';

const BACKGROUND = 'background';

export function classLabels(decoder: DecoderName, labels: readonly string[]): string[] {
  switch (decoder) {
    case 'sigmoid-multilabel':
      return [BACKGROUND, ...labels];
    case 'sigmoid':
      // Class map values 0 and 1: two labels name both; one names the foreground.
      if (labels.length >= 2) return [labels[0], labels[1]];
      if (labels.length === 1) return [BACKGROUND, labels[0]];
      return [BACKGROUND, 'foreground'];
    default:
      return [...labels];
  }
}
