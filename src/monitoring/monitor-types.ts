/**
 * The wire format of `GET /v1/monitor`, the JSON the built-in monitor page (web/src/monitor-page.ts) charts.
 * Types only, with nothing below them that needs Node, so the browser type-checks against these same
 * declarations instead of keeping a copy. Every series is one value per time bucket, aligned with `times`;
 * `null` marks a bucket without a sample (no prediction, nothing measured), which charts draw as a gap.
 */
import type { Task } from '../models/config.js';
import type { LoadState, StageTimings } from '../serving/types.js';
import type { SignalName } from './drift/signal-names.js';
import type { Outcome } from './request-outcome.js';

export type { Outcome, SignalName };

export type Stage = keyof StageTimings;

/** One value per bucket; null where there was nothing to measure. */
export type Series = Array<number | null>;

/** Requests per second in each bucket, by how they were answered. */
export type OutcomeRates = Record<Outcome, number[]>;

/** The numbers at the top of the page: the last minute (less when the server is younger). */
export interface MonitorHeadline {
  /** Seconds the figures cover. */
  seconds: number;
  requests_per_second: number;
  predictions_per_second: number;
  /** End-to-end request latency, ms; null without requests. */
  p95_ms: number | null;
  /** Share of requests that failed through the server's or the model's fault (0..1); null without requests. */
  error_ratio: number | null;
  /** Share refused by back-pressure (QUEUE_FULL, MODEL_NOT_READY...; 0..1); null without requests. */
  refused_ratio: number | null;
}

export interface MonitorDrift {
  /** reference: collecting the reference; filling: the window is not full yet; monitoring: scores are live. */
  phase: 'reference' | 'filling' | 'monitoring';
  reference: { count: number; size: number };
  window: { count: number; size: number };
  threshold: number;
  detected: boolean;
  /** The largest PSI now and its signal; null before monitoring starts. */
  score: number | null;
  signal: SignalName | null;
  /** PSI per signal, the last value seen in each bucket. */
  signals: Partial<Record<SignalName, Series>>;
}

export interface MonitorVersion {
  model: string;
  version: number;
  task?: Task;
  /** unloaded: no longer in the repository; its history stays until it ages out of the window. */
  state: LoadState | 'unloaded';
  /** Loaded with a live session: it takes requests now. */
  ready: boolean;
  /** Requests waiting for a session now, and how many it admits at once; null when not loaded. */
  queue: { depth: number | null; capacity: number | null };
  headline: MonitorHeadline;
  /** Predictions per second. */
  predictions: number[];
  requests: OutcomeRates;
  /** Milliseconds per pipeline stage: mean and 95th percentile of the predictions in each bucket. */
  latency_ms: { mean: Record<Stage, Series>; p95: Record<Stage, Series> };
  /** Longest queue seen in each bucket (sampled every second). */
  queue_depth: Series;
  /**
   * The spread of the model's uncertainty signal: mean normalised entropy of each prediction (semantic, binary)
   * or the score of each instance found (instance models); 10th, 50th and 90th percentile per bucket.
   */
  uncertainty: { kind: 'entropy' | 'instance_score'; p10: Series; p50: Series; p90: Series } | null;
  /**
   * What the model finds: the share of each class per bucket (instances per class for instance models, image
   * area per class for semantic and binary ones). The most frequent classes of the window, the rest as `other`.
   */
  classes: { labels: string[]; shares: Series[] };
  /** Null for versions without drift monitoring (no `monitoring.drift` block, or a refused baseline). */
  drift: MonitorDrift | null;
}

export interface MonitorJson {
  /** Epoch milliseconds of this reading. */
  now: number;
  bucket_seconds: number;
  window_seconds: number;
  /** Start of each bucket, epoch seconds; the last bucket is the current one, still filling. */
  times: number[];
  server: {
    status: 'ok' | 'degraded' | 'unavailable';
    /** Requests admitted and not yet answered, now. */
    in_flight: number;
    headline: MonitorHeadline;
    /**
     * Every model's requests, plus the refusals and server errors of requests no model was chosen for
     * (QUEUE_FULL is refused before admission picks a version).
     */
    requests: OutcomeRates;
  };
  models: MonitorVersion[];
}
