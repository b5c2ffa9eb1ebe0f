/**
 * Activation ranges from calibration runs. `minmax`: the smallest and largest value seen over every image.
 * `percentile`: each image's tensor is clipped to its own [100 - p, p] percentiles first (read from a 2048-bin
 * histogram of that tensor), and the range is the smallest and largest of those clipped bounds; a few extreme
 * activations then no longer stretch the range that every other value is quantised in.
 */
import type { ActivationRange } from './qdq.js';

export type CalibrationMethod = { kind: 'minmax' } | { kind: 'percentile'; percentile: number };

const BINS = 2048;

function minMax(values: Float32Array): ActivationRange {
  let min = Number.POSITIVE_INFINITY;
  let max = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v < min) min = v;
    if (v > max) max = v;
  }
  return { min, max };
}

/** The values at the (100 - p)th and pth percentiles, to a 2048th of the tensor's range. */
export function percentileRange(values: Float32Array, percentile: number): ActivationRange {
  const { min, max } = minMax(values);
  if (!(max > min)) return { min, max };
  const counts = new Float64Array(BINS);
  const width = (max - min) / BINS;
  for (let i = 0; i < values.length; i++) {
    counts[Math.min(BINS - 1, Math.floor((values[i] - min) / width))]++;
  }
  const tail = (values.length * (100 - percentile)) / 100;
  let low = 0;
  for (let seen = 0; low < BINS - 1 && seen + counts[low] <= tail; low++) seen += counts[low];
  let high = BINS - 1;
  for (let seen = 0; high > 0 && seen + counts[high] <= tail; high--) seen += counts[high];
  return { min: min + low * width, max: min + (high + 1) * width };
}

export class RangeCollector {
  readonly #method: CalibrationMethod;
  readonly #ranges = new Map<string, ActivationRange>();
  #images = 0;

  constructor(method: CalibrationMethod) {
    this.#method = method;
  }

  /** One calibration image's tensors, by name. */
  add(tensors: ReadonlyMap<string, Float32Array>): void {
    for (const [name, values] of tensors) {
      const range =
        this.#method.kind === 'minmax' ? minMax(values) : percentileRange(values, this.#method.percentile);
      const known = this.#ranges.get(name);
      this.#ranges.set(
        name,
        known ? { min: Math.min(known.min, range.min), max: Math.max(known.max, range.max) } : range,
      );
    }
    this.#images++;
  }

  get images(): number {
    return this.#images;
  }

  ranges(): ReadonlyMap<string, ActivationRange> {
    return this.#ranges;
  }
}
