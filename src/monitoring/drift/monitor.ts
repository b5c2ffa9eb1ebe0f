/**
 * DriftMonitor: one per loaded model version. It takes the first `referenceSize` predictions as the reference
 * (or a baseline's distributions), then compares the last `window` predictions with it by the Population
 * Stability Index of each signal. The score is the largest PSI; crossing the threshold reports drift once, and
 * drift clears only when the score falls below CLEAR_RATIO x threshold, so a score hovering at the threshold
 * does not flap.
 *
 * Cost: the window is kept as running histograms (a ring of each prediction's bin per signal and its class
 * shares), so `observe` is O(signals x bins + classes) once the reference is fixed: no re-binning, no sorting.
 */
import type { Task } from '../../models/config.js';
import { binOf, psi, smoothedProportions } from './psi.js';
import {
  addClassMix,
  driftBins,
  type NumericSignal,
  numericValue,
  ReferenceBuilder,
  type ReferenceDistributions,
  type SignalName,
} from './reference.js';
import type { DriftObservation } from './signals.js';

/** Drift clears below this share of the threshold (0.25 -> 0.2). */
export const CLEAR_RATIO = 0.8;

export interface DriftMonitorOptions {
  model: string;
  version: number;
  task: Task;
  /** The model's labels by class index. */
  labels: readonly string[];
  /** Predictions compared with the reference. */
  window: number;
  threshold: number;
  /** Predictions that make the reference when no `reference` is given. */
  referenceSize?: number;
  /** Quantile bins per numeric signal; default driftBins(referenceSize, window, threshold). */
  bins?: number;
  /** Fixed reference distributions (from a baseline file). */
  reference?: ReferenceDistributions;
}

/** A change of the detected state, as a `drift.detected` event would carry it. */
export interface DriftChange {
  model: string;
  version: number;
  detected: boolean;
  /** The largest PSI over the signals. */
  score: number;
  /** The signal with that PSI. */
  signal: SignalName;
}

export interface DriftState {
  model: string;
  version: number;
  /** reference: collecting the reference; filling: the window is not full yet; monitoring: scores are live. */
  phase: 'reference' | 'filling' | 'monitoring';
  referenceSource: 'predictions' | 'baseline';
  /** Predictions in the reference so far, and how many it takes. */
  referenceCount: number;
  referenceSize: number;
  /** Predictions in the window, and its size. */
  windowCount: number;
  window: number;
  threshold: number;
  detected: boolean;
  /** Largest PSI and its signal (monitoring only). */
  score?: number;
  signal?: SignalName;
  /** PSI per signal (monitoring only), for gauges. */
  signals: Partial<Record<SignalName, number>>;
}

interface NumericTrack {
  signal: NumericSignal;
  edges: number[];
  reference: Float64Array;
  counts: Float64Array;
  /** Bin of each prediction in the window's ring. */
  ring: Uint8Array;
  scratch: Float64Array;
}

interface ClassTrack {
  reference: Float64Array;
  mass: Float64Array;
  /** Class shares of each prediction in the ring, row by row (labels + "(none)" wide). */
  ring: Float64Array;
  scratch: Float64Array;
}

export class DriftMonitor {
  readonly model: string;
  readonly version: number;
  readonly #window: number;
  readonly #threshold: number;
  readonly #referenceSize: number;
  readonly #bins: number;
  readonly #source: DriftState['referenceSource'];
  readonly #labels: readonly string[];
  #builder?: ReferenceBuilder;
  #reference?: ReferenceDistributions;
  #numeric: NumericTrack[] = [];
  #classes?: ClassTrack;
  /** Predictions in the window so far (saturates at the window size) and the ring's next slot. */
  #filled = 0;
  #next = 0;
  #detected = false;
  #scores: Partial<Record<SignalName, number>> = {};
  #score?: { value: number; signal: SignalName };

  constructor(options: DriftMonitorOptions) {
    this.model = options.model;
    this.version = options.version;
    this.#window = options.window;
    this.#threshold = options.threshold;
    this.#labels = options.labels;
    if (options.reference) {
      this.#source = 'baseline';
      this.#referenceSize = options.reference.size;
      this.#bins = 0;
      this.#fix(options.reference);
    } else {
      this.#source = 'predictions';
      this.#referenceSize = options.referenceSize ?? 200;
      this.#bins = driftBins(this.#referenceSize, options.window, options.threshold, options.bins);
      this.#builder = new ReferenceBuilder(options.task, options.labels);
    }
  }

  /** The reference distributions once fixed (what a baseline file holds), else undefined. */
  reference(): ReferenceDistributions | undefined {
    return this.#reference;
  }

  #fix(reference: ReferenceDistributions): void {
    this.#reference = reference;
    this.#numeric = Object.entries(reference.numeric).map(([signal, ref]) => {
      const counts = Float64Array.from(ref.counts);
      return {
        signal: signal as NumericSignal,
        edges: ref.edges,
        reference: smoothedProportions(counts, reference.size),
        counts: new Float64Array(counts.length),
        ring: new Uint8Array(this.#window),
        scratch: new Float64Array(counts.length),
      };
    });
    const width = reference.classMix.mass.length;
    this.#classes = {
      reference: smoothedProportions(reference.classMix.mass, reference.size),
      mass: new Float64Array(width),
      ring: new Float64Array(this.#window * width),
      scratch: new Float64Array(width),
    };
  }

  /** Takes one prediction; answers the change of the detected state it caused, if any. */
  observe(observation: DriftObservation): DriftChange | undefined {
    if (this.#builder) {
      this.#builder.add(observation);
      if (this.#builder.size >= this.#referenceSize) {
        this.#fix(this.#builder.build(this.#bins));
        this.#builder = undefined;
      }
      return undefined;
    }
    const classes = this.#classes;
    if (!classes) return undefined;
    const slot = this.#next;
    const full = this.#filled === this.#window;
    for (const track of this.#numeric) {
      if (full) track.counts[track.ring[slot]] -= 1;
      const bin = binOf(numericValue(observation, track.signal), track.edges);
      track.ring[slot] = bin;
      track.counts[bin] += 1;
    }
    const width = classes.mass.length;
    const row = classes.ring.subarray(slot * width, (slot + 1) * width);
    if (full) for (let c = 0; c < width; c++) classes.mass[c] -= row[c];
    row.fill(0);
    addClassMix(row, observation.output.classShares);
    for (let c = 0; c < width; c++) classes.mass[c] += row[c];
    this.#next = (slot + 1) % this.#window;
    if (!full) this.#filled++;
    if (this.#filled < this.#window) return undefined;
    return this.#evaluate();
  }

  #evaluate(): DriftChange | undefined {
    const classes = this.#classes;
    if (!classes) return undefined;
    let best: { value: number; signal: SignalName } = { value: -1, signal: 'class_mix' };
    for (const track of this.#numeric) {
      const value = psi(track.reference, smoothedProportions(track.counts, this.#window, track.scratch));
      this.#scores[track.signal] = value;
      if (value > best.value) best = { value, signal: track.signal };
    }
    // Running sums drift by float rounding over millions of updates; a tiny negative mass must not go below 0.
    for (let c = 0; c < classes.mass.length; c++) if (classes.mass[c] < 0) classes.mass[c] = 0;
    const mix = psi(classes.reference, smoothedProportions(classes.mass, this.#window, classes.scratch));
    this.#scores.class_mix = mix;
    if (mix > best.value) best = { value: mix, signal: 'class_mix' };
    this.#score = best;
    const crossed = this.#detected
      ? best.value < CLEAR_RATIO * this.#threshold
      : best.value >= this.#threshold;
    if (!crossed) return undefined;
    this.#detected = !this.#detected;
    return {
      model: this.model,
      version: this.version,
      detected: this.#detected,
      score: best.value,
      signal: best.signal,
    };
  }

  state(): DriftState {
    const phase = this.#builder ? 'reference' : this.#filled < this.#window ? 'filling' : 'monitoring';
    return {
      model: this.model,
      version: this.version,
      phase,
      referenceSource: this.#source,
      referenceCount: this.#builder ? this.#builder.size : this.#referenceSize,
      referenceSize: this.#referenceSize,
      windowCount: this.#filled,
      window: this.#window,
      threshold: this.#threshold,
      detected: this.#detected,
      score: phase === 'monitoring' ? this.#score?.value : undefined,
      signal: phase === 'monitoring' ? this.#score?.signal : undefined,
      signals: phase === 'monitoring' ? { ...this.#scores } : {},
    };
  }

  /** The labels the monitor was made for (a baseline records them). */
  get labels(): readonly string[] {
    return this.#labels;
  }
}
