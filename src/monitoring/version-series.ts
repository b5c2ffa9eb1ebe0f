/**
 * The monitor history of one model version: fixed columns over a BucketRing, written per prediction, per
 * request and per sample, and read back as the series of the monitor page. Every column is allocated when the
 * version is first seen; a prediction costs O(stages + classes found), with no allocation.
 */
import type { Task } from '../models/config.js';
import { STAGES } from '../serving/types.js';
import { BucketRing } from './bucket-ring.js';
import { SIGNAL_NAMES } from './drift/signal-names.js';
import { type Bins, LATENCY_BINS, quantile, UNIT_BINS } from './histogram-bins.js';
import type { MonitorVersion, Series, Stage } from './monitor-types.js';
import { OUTCOMES } from './request-outcome.js';

const STAGE_COUNT = STAGES.length;
const LATENCY = LATENCY_BINS.count;
const UNIT = UNIT_BINS.count;
const OUTCOME_COUNT = OUTCOMES.length;
const SIGNAL_COUNT = SIGNAL_NAMES.length;
/** Classes charted by name; the rest of the window's classes are summed as `other`. */
export const TOP_CLASSES = 8;

/** A span of consecutive buckets to read, and how long each lasted (the last one is still filling). */
export interface Span {
  first: number;
  count: number;
  /** Seconds bucket `i` of the span covered, for rates. */
  seconds(i: number): number;
}

/** Four significant digits: plenty for a chart, and it keeps the JSON small. */
export function round(value: number): number {
  return Number(value.toPrecision(4));
}

function fill<T>(count: number, value: (i: number) => T): T[] {
  const values = new Array<T>(count);
  for (let i = 0; i < count; i++) values[i] = value(i);
  return values;
}

export class VersionSeries {
  readonly model: string;
  readonly version: number;
  readonly task: Task | undefined;
  /** Class names by class id; ids past the end are counted in one extra slot, charted as `other`. */
  readonly labels: readonly string[];
  readonly ring: BucketRing;
  readonly #predictions: Uint32Array;
  readonly #outcomes: Uint32Array;
  readonly #requestMs: Uint32Array;
  readonly #stageSum: Float64Array;
  readonly #stageCount: Uint32Array;
  readonly #stageBins: Uint32Array;
  /** Mean entropy per prediction (semantic, binary) or score per instance (instance models). */
  readonly #uncertainty: Uint32Array;
  readonly #classMass: Float32Array;
  readonly #queueMax: Float32Array;
  readonly #drift: Float32Array;

  constructor(model: string, version: number, buckets: number, task?: Task, labels: readonly string[] = []) {
    this.model = model;
    this.version = version;
    this.task = task;
    this.labels = labels;
    const ring = new BucketRing(buckets);
    this.ring = ring;
    this.#predictions = ring.column((n) => new Uint32Array(n));
    this.#outcomes = ring.column((n) => new Uint32Array(n), OUTCOME_COUNT);
    this.#requestMs = ring.column((n) => new Uint32Array(n), LATENCY);
    this.#stageSum = ring.column((n) => new Float64Array(n), STAGE_COUNT);
    this.#stageCount = ring.column((n) => new Uint32Array(n), STAGE_COUNT);
    this.#stageBins = ring.column((n) => new Uint32Array(n), STAGE_COUNT * LATENCY);
    this.#uncertainty = ring.column((n) => new Uint32Array(n), UNIT);
    this.#classMass = ring.column((n) => new Float32Array(n), labels.length + 1);
    this.#queueMax = ring.column((n) => new Float32Array(n), 1, Number.NaN);
    this.#drift = ring.column((n) => new Float32Array(n), SIGNAL_COUNT, Number.NaN);
  }

  /** Bytes held by the columns: fixed at construction. */
  static bytes(buckets: number, classes: number): number {
    const perBucket =
      8 /* held */ +
      4 *
        (1 +
          OUTCOME_COUNT +
          LATENCY +
          STAGE_COUNT +
          STAGE_COUNT * LATENCY +
          UNIT +
          classes +
          1 +
          1 +
          SIGNAL_COUNT) +
      8 * STAGE_COUNT;
    return buckets * perBucket;
  }

  // Writing: `slot` comes from `ring.write(bucket)`.

  prediction(slot: number): void {
    this.#predictions[slot]++;
  }

  /** One stage's time of a prediction, `stage` an index into STAGES. */
  stage(slot: number, stage: number, ms: number): void {
    const at = slot * STAGE_COUNT + stage;
    this.#stageSum[at] += ms;
    this.#stageCount[at]++;
    this.#stageBins[at * LATENCY + LATENCY_BINS.binOf(ms)]++;
  }

  uncertainty(slot: number, value: number): void {
    this.#uncertainty[slot * UNIT + UNIT_BINS.binOf(value)]++;
  }

  /** `mass` of class `classId`: one per instance found, or the share of the image a class covers. */
  classMass(slot: number, classId: number, mass: number): void {
    const classes = this.labels.length;
    const at = classId >= 0 && classId < classes ? classId : classes;
    this.#classMass[slot * (classes + 1) + at] += mass;
  }

  /** One answered request: its outcome (index into OUTCOMES) and its duration. */
  request(slot: number, outcome: number, ms: number): void {
    this.#outcomes[slot * OUTCOME_COUNT + outcome]++;
    this.#requestMs[slot * LATENCY + LATENCY_BINS.binOf(ms)]++;
  }

  queueSample(slot: number, depth: number): void {
    const held = this.#queueMax[slot];
    if (!(held >= depth)) this.#queueMax[slot] = depth;
  }

  /** The latest PSI of a drift signal (index into SIGNAL_NAMES) in this bucket. */
  driftSample(slot: number, signal: number, score: number): void {
    this.#drift[slot * SIGNAL_COUNT + signal] = score;
  }

  // Reading.

  /** Adds the requests of the span's buckets, by outcome, into `into` (length OUTCOMES.length). */
  addOutcomes(span: Span, into: Float64Array, perBucket?: Float64Array[]): void {
    for (let i = 0; i < span.count; i++) {
      const slot = this.ring.read(span.first + i);
      if (slot < 0) continue;
      for (let o = 0; o < OUTCOME_COUNT; o++) {
        const n = this.#outcomes[slot * OUTCOME_COUNT + o];
        into[o] += n;
        if (perBucket) perBucket[o][i] += n;
      }
    }
  }

  /** Adds the request-duration histogram of the span into `into` (length LATENCY_BINS.count). */
  addRequestLatency(span: Span, into: Float64Array): void {
    for (let i = 0; i < span.count; i++) {
      const slot = this.ring.read(span.first + i);
      if (slot < 0) continue;
      for (let k = 0; k < LATENCY; k++) into[k] += this.#requestMs[slot * LATENCY + k];
    }
  }

  predictionsIn(span: Span): number {
    let total = 0;
    for (let i = 0; i < span.count; i++) {
      const slot = this.ring.read(span.first + i);
      if (slot >= 0) total += this.#predictions[slot];
    }
    return total;
  }

  /** True when anything was written in the span (a prediction, a request or a sample). */
  touched(span: Span): boolean {
    for (let i = 0; i < span.count; i++) if (this.ring.read(span.first + i) >= 0) return true;
    return false;
  }

  /** The charted series of the span (everything of MonitorVersion that is history, not a gauge). */
  series(span: Span): Pick<
    MonitorVersion,
    'predictions' | 'latency_ms' | 'queue_depth' | 'uncertainty' | 'classes'
  > & {
    drift: Partial<Record<(typeof SIGNAL_NAMES)[number], Series>>;
  } {
    const slots = fill(span.count, (i) => this.ring.read(span.first + i));
    const perSlot = (value: (slot: number) => number | null): Series =>
      slots.map((slot) => (slot < 0 ? null : value(slot)));
    const mean = {} as Record<Stage, Series>;
    const p95 = {} as Record<Stage, Series>;
    STAGES.forEach((stage, s) => {
      mean[stage] = perSlot((slot) => {
        const n = this.#stageCount[slot * STAGE_COUNT + s];
        return n === 0 ? null : round(this.#stageSum[slot * STAGE_COUNT + s] / n);
      });
      p95[stage] = perSlot((slot) =>
        this.#quantile(this.#stageBins, (slot * STAGE_COUNT + s) * LATENCY, LATENCY_BINS, 0.95),
      );
    });
    const spread = (q: number) =>
      perSlot((slot) => this.#quantile(this.#uncertainty, slot * UNIT, UNIT_BINS, q));
    const hasUncertainty = this.task !== undefined;
    const drift: Partial<Record<(typeof SIGNAL_NAMES)[number], Series>> = {};
    SIGNAL_NAMES.forEach((signal, g) => {
      const values = perSlot((slot) => {
        const score = this.#drift[slot * SIGNAL_COUNT + g];
        return Number.isNaN(score) ? null : round(score);
      });
      if (values.some((v) => v !== null)) drift[signal] = values;
    });
    return {
      predictions: slots.map((slot, i) => (slot < 0 ? 0 : round(this.#predictions[slot] / span.seconds(i)))),
      latency_ms: { mean, p95 },
      queue_depth: perSlot((slot) => {
        const depth = this.#queueMax[slot];
        return Number.isNaN(depth) ? null : depth;
      }),
      uncertainty: hasUncertainty
        ? {
            kind: this.task === 'instance' ? 'instance_score' : 'entropy',
            p10: spread(0.1),
            p50: spread(0.5),
            p90: spread(0.9),
          }
        : null,
      classes: this.#classShares(slots),
      drift,
    };
  }

  #quantile(counts: Uint32Array, offset: number, bins: Bins, q: number): number | null {
    const value = quantile(counts, offset, bins, q);
    return value === undefined ? null : round(value);
  }

  /** The TOP_CLASSES classes with the most mass over the window by name, the rest as `other`. */
  #classShares(slots: number[]): MonitorVersion['classes'] {
    const stride = this.labels.length + 1;
    const totals = new Float64Array(stride);
    for (const slot of slots) {
      if (slot < 0) continue;
      for (let c = 0; c < stride; c++) totals[c] += this.#classMass[slot * stride + c];
    }
    const named = [...totals.keys()]
      .filter((c) => c < this.labels.length && totals[c] > 0)
      .sort((a, b) => totals[b] - totals[a] || a - b)
      .slice(0, TOP_CLASSES)
      .sort((a, b) => a - b);
    const rest = [...totals.keys()].filter((c) => totals[c] > 0 && !named.includes(c));
    const groups = rest.length > 0 ? [...named.map((c) => [c]), rest] : named.map((c) => [c]);
    const labels = [...named.map((c) => this.labels[c]), ...(rest.length > 0 ? ['other'] : [])];
    const shares = groups.map((group) =>
      slots.map((slot) => {
        if (slot < 0) return null;
        let all = 0;
        for (let c = 0; c < stride; c++) all += this.#classMass[slot * stride + c];
        if (all <= 0) return null;
        let mass = 0;
        for (const c of group) mass += this.#classMass[slot * stride + c];
        return round(mass / all);
      }),
    );
    return { labels, shares };
  }
}
