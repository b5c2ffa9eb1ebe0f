/** The scalar activations decoders need, and thresholds moved into the domain a model emits. */
import type { OutputConfig } from '../models/config.js';

export function sigmoid(x: number): number {
  return 1 / (1 + Math.exp(-x));
}

/** Inverse of the sigmoid; 0 and 1 map to -Infinity and +Infinity, so comparisons stay exact at the ends. */
export function logit(p: number): number {
  if (p <= 0) return Number.NEGATIVE_INFINITY;
  if (p >= 1) return Number.POSITIVE_INFINITY;
  return Math.log(p / (1 - p));
}

/**
 * A probability threshold in the model's own output domain. `value > threshold` on logits is the same test as
 * `sigmoid(value) > probability` (the sigmoid is increasing), without an exp per pixel.
 */
export function thresholdFor(probability: number, activation: OutputConfig['activation']): number {
  return activation === 'logits' ? logit(probability) : probability;
}
