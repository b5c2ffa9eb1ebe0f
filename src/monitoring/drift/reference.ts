/**
 * The reference distributions of the drift signals: fixed bins per numeric signal (quantiles of the reference
 * predictions) with their counts, and the class mix. Built once from the first predictions of a version or read
 * from a baseline file; the window is then binned with the same edges.
 */
import type { Task } from '../../models/config.js';
import { binOf, quantileEdges } from './psi.js';
import type { NumericSignal } from './signal-names.js';
import type { DriftObservation } from './signals.js';

export { NUMERIC_SIGNALS, type NumericSignal, type SignalName } from './signal-names.js';

/** The numeric signals a task's predictions carry (entropy for dense maps, the mean score for instances). */
export function numericSignalsFor(task: Task): NumericSignal[] {
  const output: NumericSignal = task === 'instance' ? 'instance_score' : 'entropy';
  return ['brightness', 'contrast', 'colourfulness', 'aspect_ratio', output];
}

export function numericValue(observation: DriftObservation, signal: NumericSignal): number | undefined {
  const { input, output } = observation;
  switch (signal) {
    case 'brightness':
      return input?.brightness;
    case 'contrast':
      return input?.contrast;
    case 'colourfulness':
      return input?.colourfulness;
    case 'aspect_ratio':
      return input?.aspectRatio;
    case 'entropy':
      return output.entropy;
    case 'instance_score':
      return output.instanceScore;
  }
}

/**
 * Adds an observation's class mix to `mass` (length classes + 1): its shares, or one whole count in the last
 * slot, "(none)", when it found nothing (an instance model without instances).
 */
export function addClassMix(mass: Float64Array, shares: readonly number[], sign: 1 | -1 = 1): void {
  const classes = mass.length - 1;
  let sum = 0;
  for (let c = 0; c < classes; c++) sum += shares[c] ?? 0;
  if (sum <= 0) {
    mass[classes] += sign;
    return;
  }
  for (let c = 0; c < classes; c++) mass[c] += (sign * (shares[c] ?? 0)) / sum;
}

export interface NumericReference {
  /** Upper bin edges (see quantileEdges); bins = edges.length + 1, plus one for missing values. */
  edges: number[];
  /** Reference counts per bin, the missing-value bin last (length edges.length + 2). */
  counts: number[];
}

export interface ClassMixReference {
  /** The model's labels, then "(none)". */
  categories: string[];
  /** Summed class shares per category over the reference predictions. */
  mass: number[];
}

export interface ReferenceDistributions {
  /** Predictions the reference was made from. */
  size: number;
  numeric: Partial<Record<NumericSignal, NumericReference>>;
  classMix: ClassMixReference;
}

export const NONE_CATEGORY = '(none)';

/**
 * Quantile bins per numeric signal, unless configured: as many as keep the PSI of pure sampling noise at a
 * quarter of the threshold, 2 to 10. Between two samples of one distribution PSI is not 0 but about
 * (bins - 1) x (1/reference + 1/window) (it is a chi-square over the bins): 0.18 with 10 bins at 100/100, and the
 * largest of six signals over a stretch of windows lies well above that. Measured on human-segmentation photos
 * in 50 shuffled orders (reference 100, window 100, 33 full windows each): with 5 bins the largest PSI had median
 * 0.197 (90th percentile 0.243) and crossed 0.25 in 4 of 50 orders; with 4 bins (this rule) the median fell to
 * 0.145 but the tail did not (90th percentile 0.258, 5 of 50 crossed: any of six signals can wander that far
 * at 100 predictions, see test/monitoring/drift-real.test.ts). So 100/100 is a floor, not a recommendation.
 * Defaults (200/200, threshold 0.25) give 7 bins.
 */
export function driftBins(
  referenceSize: number,
  window: number,
  threshold: number,
  configured?: number,
): number {
  if (configured !== undefined) return configured;
  const noisePerBin = 1 / referenceSize + 1 / window;
  return Math.max(2, Math.min(10, Math.floor(1 + threshold / 4 / noisePerBin)));
}

/** Builds reference distributions from the predictions of a reference period (one pass, then sorted once). */
export class ReferenceBuilder {
  readonly #signals: NumericSignal[];
  readonly #values: Map<NumericSignal, number[]>;
  readonly #mass: Float64Array;
  readonly #labels: readonly string[];
  #size = 0;

  constructor(task: Task, labels: readonly string[]) {
    this.#signals = numericSignalsFor(task);
    this.#values = new Map(this.#signals.map((s) => [s, []]));
    this.#labels = labels;
    this.#mass = new Float64Array(labels.length + 1);
  }

  get size(): number {
    return this.#size;
  }

  add(observation: DriftObservation): void {
    for (const signal of this.#signals) {
      // Missing values are kept as NaN: they fill the missing bin.
      this.#values.get(signal)?.push(numericValue(observation, signal) ?? Number.NaN);
    }
    addClassMix(this.#mass, observation.output.classShares);
    this.#size++;
  }

  build(bins: number): ReferenceDistributions {
    const numeric: Partial<Record<NumericSignal, NumericReference>> = {};
    for (const signal of this.#signals) {
      const values = this.#values.get(signal) ?? [];
      const edges = quantileEdges(values, bins);
      const counts = new Array<number>(edges.length + 2).fill(0);
      for (const value of values) counts[binOf(value, edges)]++;
      numeric[signal] = { edges, counts };
    }
    return {
      size: this.#size,
      numeric,
      classMix: { categories: [...this.#labels, NONE_CATEGORY], mass: [...this.#mass] },
    };
  }
}
