/**
 * The short history behind the built-in monitor page (`/monitor`, `GET /v1/monitor`), for a single machine where
 * no Prometheus keeps one: the last 15 minutes in 5 s buckets, per model version, in memory.
 *
 * It is fed by the same sources as the Prometheus metrics, never by metrics of its own making: every
 * `prediction.completed` (stage timings, uncertainty, what was found), the HTTP adapter's request records (the
 * ones ServingMetrics counts, handed to both), and once a second a sample of the gauges (queue depth per
 * version, drift scores from DriftWatch). Memory is fixed per model version (VersionSeries.bytes: 0.3-0.4 MB
 * for the default window) whatever the traffic, and a prediction costs O(stages + classes found): measured
 * here, 1.2 us for one with 10 instances and 0.2 us per request record, against milliseconds of inference;
 * a full read of two models takes about 2 ms and answers about 44 kB.
 */

import type { PredictionCompleted } from '../serving/events.js';
import type { InferenceService } from '../serving/service.js';
import { STAGES } from '../serving/types.js';
import { BucketRing } from './bucket-ring.js';
import type { DriftState } from './drift/monitor.js';
import { SIGNAL_NAMES, type SignalName } from './drift/signal-names.js';
import { LATENCY_BINS, quantile } from './histogram-bins.js';
import type { RequestRecord } from './metrics.js';
import type {
  MonitorDrift,
  MonitorHeadline,
  MonitorJson,
  MonitorVersion,
  OutcomeRates,
} from './monitor-types.js';
import { OUTCOMES, type Outcome, outcomeOf } from './request-outcome.js';
import { round, type Span, VersionSeries } from './version-series.js';
import { type VersionSnapshot, versionSnapshots } from './version-state.js';

export const DEFAULT_BUCKET_SECONDS = 5;
export const DEFAULT_HISTORY_SECONDS = 15 * 60;
/** The headline figures cover the last minute: long enough to be steady, short enough to show a change. */
const HEADLINE_SECONDS = 60;

export interface MonitorHistoryOptions {
  bucketSeconds?: number;
  /** How far back the history reaches (rounded up to whole buckets). */
  historySeconds?: number;
  /** How often queue depths and drift scores are sampled; 0: never by itself (tests call `sample()`). */
  sampleMs?: number;
  /** Epoch milliseconds now (tests give their own clock). */
  clock?: () => number;
  /** The drift monitors' states (DriftWatch.states); none without drift monitoring. */
  driftStates?: () => readonly DriftState[];
}

export interface MonitorQuery {
  /** Only this model's versions. */
  model?: string;
  /** Seconds of history to answer, at most `historySeconds` (default: all of it). */
  windowSeconds?: number;
}

const OUTCOME_INDEX = new Map<Outcome, number>(OUTCOMES.map((o, i) => [o, i]));
const SIGNAL_INDEX = new Map<SignalName, number>(SIGNAL_NAMES.map((s, i) => [s, i]));

export class MonitorHistory {
  readonly bucketSeconds: number;
  readonly historySeconds: number;
  readonly #buckets: number;
  readonly #bucketMs: number;
  readonly #service: InferenceService;
  readonly #clock: () => number;
  readonly #driftStates: () => readonly DriftState[];
  readonly #started: number;
  /** By model name, then version. */
  readonly #series = new Map<string, Map<number, VersionSeries>>();
  /** Requests no model was chosen for that the server refused or failed (QUEUE_FULL, say), by outcome. */
  readonly #unattributedRing: BucketRing;
  readonly #unattributed: Uint32Array;
  /** Code -> outcome index, so a request costs a map lookup. */
  readonly #outcomeOfCode = new Map<string, number>();
  readonly #timer?: NodeJS.Timeout;
  readonly #unsubscribe: Array<() => void>;

  constructor(service: InferenceService, options: MonitorHistoryOptions = {}) {
    this.bucketSeconds = options.bucketSeconds ?? DEFAULT_BUCKET_SECONDS;
    this.#bucketMs = this.bucketSeconds * 1000;
    this.#buckets = Math.ceil((options.historySeconds ?? DEFAULT_HISTORY_SECONDS) / this.bucketSeconds);
    this.historySeconds = this.#buckets * this.bucketSeconds;
    this.#service = service;
    this.#clock = options.clock ?? Date.now;
    this.#driftStates = options.driftStates ?? (() => []);
    this.#started = this.#clock();
    this.#unattributedRing = new BucketRing(this.#buckets);
    this.#unattributed = this.#unattributedRing.column((n) => new Uint32Array(n), OUTCOMES.length);
    this.#unsubscribe = [
      service.events.on('prediction.completed', 'monitor', (event) => this.observe(event)),
      // A version loaded after start whose classes differ from the history kept under its number (reloaded
      // with new labels, or unloaded and loaded again) starts a new history: the columns are sized per class.
      service.events.on('model.loaded', 'monitor', (event) => this.#renew(event.model, event.version)),
    ];
    const sampleMs = options.sampleMs ?? 1000;
    if (sampleMs > 0) {
      this.#timer = setInterval(() => this.sample(), sampleMs);
      // Sampling must never keep a process alive that is otherwise done.
      this.#timer.unref();
    }
  }

  /** Stops sampling and listening. */
  close(): void {
    clearInterval(this.#timer);
    for (const unsubscribe of this.#unsubscribe) unsubscribe();
  }

  /** Bytes of history held now (fixed per model version seen). */
  bytes(): number {
    let total = this.#buckets * (8 + 4 * OUTCOMES.length);
    for (const versions of this.#series.values()) {
      for (const series of versions.values())
        total += VersionSeries.bytes(this.#buckets, series.labels.length);
    }
    return total;
  }

  /** One completed prediction (the event subscription calls it; exposed for tests). */
  observe(event: PredictionCompleted): void {
    const bucket = this.#bucketAt(event.at);
    if (bucket < 0) return;
    const series = this.#seriesFor(event.model, event.version);
    const slot = series.ring.write(bucket);
    if (slot < 0) return;
    series.prediction(slot);
    const { summary, timings, uncertainty } = event;
    const tensors = summary.task === 'tensors';
    for (let s = 0; s < STAGES.length; s++) {
      const stage = STAGES[s];
      // Raw tensors are neither decoded nor encoded: their 0 there is not a measurement.
      if (tensors && (stage === 'decode' || stage === 'encode')) continue;
      // Only gated models pass the gate stage.
      const ms = timings[stage];
      if (ms !== undefined) series.stage(slot, s, ms);
    }
    if (uncertainty?.kind === 'pixel-entropy') series.uncertainty(slot, uncertainty.meanEntropy);
    if (uncertainty?.kind === 'class-scores') series.uncertainty(slot, uncertainty.entropy);
    if (summary.task === 'instance') {
      for (const instance of summary.instances) {
        series.uncertainty(slot, instance.score);
        series.classMass(slot, instance.classId, 1);
      }
    } else if (summary.task === 'classification') {
      // The class mix of a classifier: which class won each image.
      const best = summary.classes[0];
      if (best) series.classMass(slot, best.classId, 1);
    } else if (!tensors) {
      for (const cls of summary.classes) series.classMass(slot, cls.classId, cls.ratio);
    }
  }

  /** One answered HTTP request, the record ServingMetrics.recordRequest gets. */
  recordRequest(record: RequestRecord): void {
    const bucket = this.#bucketAt(this.#clock());
    if (bucket < 0) return;
    let outcome = this.#outcomeOfCode.get(record.code);
    if (outcome === undefined) {
      outcome = OUTCOME_INDEX.get(outcomeOf(record.code)) ?? 0;
      // Bounded: codes are `OK` and catalogue codes.
      if (this.#outcomeOfCode.size < 256) this.#outcomeOfCode.set(record.code, outcome);
    }
    if (record.model === '') {
      // Health probes, the UI, this page's own polls (all OK), and client mistakes such as an unknown model
      // are not traffic of any model; refusals and server errors before admission are, and count server-wide.
      const kind = OUTCOMES[outcome];
      if (kind !== 'refused' && kind !== 'server_error') return;
      const slot = this.#unattributedRing.write(bucket);
      if (slot >= 0) this.#unattributed[slot * OUTCOMES.length + outcome]++;
      return;
    }
    const series = this.#seriesFor(record.model, Number(record.version));
    const slot = series.ring.write(bucket);
    if (slot >= 0) series.request(slot, outcome, record.seconds * 1000);
  }

  /** Samples the gauges into the current bucket: queue depths and drift scores (the timer calls it). */
  sample(): void {
    const bucket = this.#bucketAt(this.#clock());
    if (bucket < 0) return;
    const live = new Set<VersionSeries>();
    for (const snapshot of versionSnapshots(this.#service)) {
      const series = this.#seriesFor(snapshot.model, snapshot.version);
      live.add(series);
      if (snapshot.queued === undefined) continue;
      const slot = series.ring.write(bucket);
      if (slot >= 0) series.queueSample(slot, snapshot.queued);
    }
    for (const state of this.#driftStates()) {
      const series = this.#seriesFor(state.model, state.version);
      const slot = series.ring.write(bucket);
      if (slot < 0) continue;
      for (const [signal, score] of Object.entries(state.signals) as Array<
        [SignalName, number | undefined]
      >) {
        const index = SIGNAL_INDEX.get(signal);
        if (index !== undefined && score !== undefined) series.driftSample(slot, index, score);
      }
    }
    // A version that was unloaded keeps its history until it has aged out of the window, then goes.
    for (const [model, versions] of this.#series) {
      for (const [version, series] of versions) {
        if (!live.has(series) && series.ring.newest() <= bucket - this.#buckets) versions.delete(version);
      }
      if (versions.size === 0) this.#series.delete(model);
    }
  }

  /** The history and the gauges as `GET /v1/monitor` answers them. */
  read(query: MonitorQuery = {}): MonitorJson {
    const now = this.#clock();
    const current = Math.floor(now / this.#bucketMs);
    const count = Math.min(
      this.#buckets,
      Math.max(1, Math.ceil((query.windowSeconds ?? this.historySeconds) / this.bucketSeconds)),
    );
    const span = this.#span(current - count + 1, count, now);
    const headlineCount = Math.min(count, Math.ceil(HEADLINE_SECONDS / this.bucketSeconds));
    const headlineSpan = this.#span(current - headlineCount + 1, headlineCount, now);
    const headlineSeconds = Math.max(
      1,
      Math.min((now - (current - headlineCount + 1) * this.#bucketMs) / 1000, (now - this.#started) / 1000),
    );

    const snapshots = new Map<string, VersionSnapshot>();
    for (const snapshot of versionSnapshots(this.#service)) {
      snapshots.set(`${snapshot.model}\u0000${snapshot.version}`, snapshot);
      // Every version of the repository gets a card, traffic or not (a failed one shows as not ready).
      this.#seriesFor(snapshot.model, snapshot.version);
    }
    const drift = new Map(this.#driftStates().map((s) => [`${s.model}\u0000${s.version}`, s]));

    const models: MonitorVersion[] = [];
    const allSeries: VersionSeries[] = [];
    for (const [model, versions] of [...this.#series].sort(([a], [b]) => a.localeCompare(b))) {
      for (const series of [...versions.values()].sort((a, b) => b.version - a.version)) {
        const key = `${model}\u0000${series.version}`;
        const snapshot = snapshots.get(key);
        if (!snapshot && !series.touched(span)) continue;
        allSeries.push(series);
        if (query.model !== undefined && query.model !== model) continue;
        models.push(this.#version(series, snapshot, drift.get(key), span, headlineSpan, headlineSeconds));
      }
    }

    const rates = this.#emptyRates(count);
    const perBucket = OUTCOMES.map(() => new Float64Array(count));
    const totals = new Float64Array(OUTCOMES.length);
    for (const series of allSeries) series.addOutcomes(span, totals, perBucket);
    this.#addUnattributed(span, totals, perBucket);
    OUTCOMES.forEach((outcome, o) => {
      rates[outcome] = Array.from(perBucket[o], (n, i) => round(n / span.seconds(i)));
    });
    const health = this.#service.health();
    return {
      now,
      bucket_seconds: this.bucketSeconds,
      window_seconds: count * this.bucketSeconds,
      times: Array.from({ length: count }, (_, i) => ((span.first + i) * this.#bucketMs) / 1000),
      server: {
        status: health.status,
        in_flight: health.requests.in_flight,
        headline: this.#headline(allSeries, headlineSpan, headlineSeconds, true),
        requests: rates,
      },
      models,
    };
  }

  #version(
    series: VersionSeries,
    snapshot: VersionSnapshot | undefined,
    drift: DriftState | undefined,
    span: Span,
    headlineSpan: Span,
    headlineSeconds: number,
  ): MonitorVersion {
    const perBucket = OUTCOMES.map(() => new Float64Array(span.count));
    series.addOutcomes(span, new Float64Array(OUTCOMES.length), perBucket);
    const requests = this.#emptyRates(span.count);
    OUTCOMES.forEach((outcome, o) => {
      requests[outcome] = Array.from(perBucket[o], (n, i) => round(n / span.seconds(i)));
    });
    const { drift: signals, ...history } = series.series(span);
    return {
      model: series.model,
      version: series.version,
      task: series.task,
      state: snapshot?.state ?? 'unloaded',
      ready: snapshot?.ready ?? false,
      queue: { depth: snapshot?.queued ?? null, capacity: snapshot?.capacity ?? null },
      headline: this.#headline([series], headlineSpan, headlineSeconds, false),
      requests,
      ...history,
      drift: drift ? driftJson(drift, signals) : null,
    };
  }

  #headline(series: VersionSeries[], span: Span, seconds: number, server: boolean): MonitorHeadline {
    const totals = new Float64Array(OUTCOMES.length);
    const latency = new Float64Array(LATENCY_BINS.count);
    let predictions = 0;
    for (const one of series) {
      one.addOutcomes(span, totals);
      one.addRequestLatency(span, latency);
      predictions += one.predictionsIn(span);
    }
    if (server) this.#addUnattributed(span, totals);
    const requests = totals.reduce((a, b) => a + b, 0);
    const share = (outcome: Outcome) =>
      requests === 0 ? null : round(totals[OUTCOME_INDEX.get(outcome) ?? 0] / requests);
    const p95 = quantile(latency, 0, LATENCY_BINS, 0.95);
    return {
      seconds: round(seconds),
      requests_per_second: round(requests / seconds),
      predictions_per_second: round(predictions / seconds),
      p95_ms: p95 === undefined ? null : round(p95),
      error_ratio: share('server_error'),
      refused_ratio: share('refused'),
    };
  }

  #addUnattributed(span: Span, into: Float64Array, perBucket?: Float64Array[]): void {
    for (let i = 0; i < span.count; i++) {
      const slot = this.#unattributedRing.read(span.first + i);
      if (slot < 0) continue;
      for (let o = 0; o < OUTCOMES.length; o++) {
        const n = this.#unattributed[slot * OUTCOMES.length + o];
        into[o] += n;
        if (perBucket) perBucket[o][i] += n;
      }
    }
  }

  #emptyRates(count: number): OutcomeRates {
    const rates = {} as OutcomeRates;
    for (const outcome of OUTCOMES) rates[outcome] = new Array<number>(count).fill(0);
    return rates;
  }

  #span(first: number, count: number, now: number): Span {
    const last = first + count - 1;
    const bucketSeconds = this.bucketSeconds;
    const bucketMs = this.#bucketMs;
    // The current bucket has lasted only until now: its rates are over that time (at least a second, so a
    // bucket a few milliseconds old does not show a spike).
    const lastSeconds = Math.min(bucketSeconds, Math.max(1, (now - last * bucketMs) / 1000));
    return { first, count, seconds: (i) => (i === count - 1 ? lastSeconds : bucketSeconds) };
  }

  /** The bucket of epoch time `ms`, or -1 when it is outside the history (too old, or in the future). */
  #bucketAt(ms: number): number {
    const bucket = Math.floor(ms / this.#bucketMs);
    const current = Math.floor(this.#clock() / this.#bucketMs);
    return bucket > current || bucket <= current - this.#buckets ? -1 : bucket;
  }

  #renew(model: string, version: number): void {
    const series = this.#series.get(model)?.get(version);
    if (!series) return;
    const status = this.#service.repository.get(model);
    const labels = status?.labels ?? [];
    const same =
      series.task === status?.task &&
      series.labels.length === labels.length &&
      series.labels.every((label, i) => label === labels[i]);
    if (!same) this.#series.get(model)?.delete(version);
  }

  #seriesFor(model: string, version: number): VersionSeries {
    let versions = this.#series.get(model);
    if (!versions) {
      versions = new Map();
      this.#series.set(model, versions);
    }
    let series = versions.get(version);
    if (!series) {
      const status = this.#service.repository.get(model);
      series = new VersionSeries(model, version, this.#buckets, status?.task, status?.labels ?? []);
      versions.set(version, series);
    }
    return series;
  }
}

function driftJson(state: DriftState, signals: MonitorDrift['signals']): MonitorDrift {
  return {
    phase: state.phase,
    reference: { count: state.referenceCount, size: state.referenceSize },
    window: { count: state.windowCount, size: state.window },
    threshold: state.threshold,
    detected: state.detected,
    score: state.score === undefined ? null : round(state.score),
    signal: state.signal ?? null,
    signals,
  };
}
