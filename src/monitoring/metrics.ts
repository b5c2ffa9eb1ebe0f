/**
 * The Prometheus metrics of segserve (prom-client), in base units with bounded labels: never a per-image,
 * per-user or per-URL label. Prediction metrics come from `prediction.completed`; request metrics from the
 * HTTP adapter (`recordRequest`); queue, readiness and load gauges are read from the serving core at scrape
 * time, so they cannot go stale. The README's metrics table lists every name.
 */
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { PredictionCompleted } from '../serving/events.js';
import type { InferenceService } from '../serving/service.js';
import { STAGES } from '../serving/types.js';
import { InferenceStats } from './inference-stats.js';
import { type VersionSnapshot, versionSnapshots } from './version-state.js';

/** Seconds: 1 ms to 30 s, dense where models answer (10-500 ms). */
const SECONDS_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
/** Shares in [0, 1]: mean normalised entropy, instance scores, a class's share of the image. */
const SHARE_BUCKETS = [0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 1];

export interface RequestRecord {
  /** The route pattern (`/v1/models/:model/segment`), never the URL itself. */
  route: string;
  /** The model that served it, when admission picked one; '' otherwise (unknown names are not labels). */
  model: string;
  version: string;
  variant: string;
  /** `OK` or the catalogue error code. */
  code: string;
  seconds: number;
}

export class ServingMetrics {
  readonly registry = new Registry();
  /** The Open Inference Protocol statistics extension's view of the same predictions. */
  readonly inferenceStats = new InferenceStats();
  readonly #requests: Counter<'route' | 'model' | 'version' | 'variant' | 'code'>;
  readonly #requestSeconds: Histogram<'route' | 'model'>;
  readonly #stageSeconds: Histogram<'model' | 'version' | 'stage'>;
  readonly #entropy: Histogram<'model' | 'version'>;
  readonly #scores: Histogram<'model' | 'version'>;
  readonly #batchSize: Histogram<'model' | 'version'>;
  readonly #classes: Counter<'model' | 'version' | 'class'>;
  readonly #areaRatio: Histogram<'model' | 'version' | 'class'>;
  readonly #predictions: Counter<'model' | 'version' | 'source'>;
  readonly #gateDecisions: Counter<'model' | 'gate' | 'outcome'>;
  readonly #series = new Map<string, VersionSeries>();
  /** The request label sets of each model version, so that its series can be removed when it goes away. */
  readonly #requestLabels = new Map<string, Map<string, Record<RequestLabel, string>>>();

  constructor(service: InferenceService, options: { processMetrics?: boolean } = {}) {
    const registers = [this.registry];
    if (options.processMetrics ?? true) collectDefaultMetrics({ register: this.registry });
    this.#requests = new Counter({
      name: 'segserve_requests_total',
      help: 'HTTP requests answered, by route pattern, serving model, version, variant and outcome code (OK or the error code).',
      labelNames: ['route', 'model', 'version', 'variant', 'code'],
      registers,
    });
    this.#requestSeconds = new Histogram({
      name: 'segserve_request_duration_seconds',
      help: 'Time from the request to the end of its answer, by route pattern and serving model.',
      labelNames: ['route', 'model'],
      buckets: SECONDS_BUCKETS,
      registers,
    });
    this.#stageSeconds = new Histogram({
      name: 'segserve_stage_duration_seconds',
      help: 'Time per pipeline stage of each prediction (the stages of the answer timings).',
      labelNames: ['model', 'version', 'stage'],
      buckets: SECONDS_BUCKETS,
      registers,
    });
    this.#predictions = new Counter({
      name: 'segserve_predictions_total',
      help: 'Predictions made, by model, version and the adapter that asked (v1, predict..., v2, cli).',
      labelNames: ['model', 'version', 'source'],
      registers,
    });
    this.#entropy = new Histogram({
      name: 'segserve_prediction_entropy',
      help: 'Mean per-pixel entropy of each semantic or binary prediction (the entropy of the class scores for a classification), normalised to [0, 1].',
      labelNames: ['model', 'version'],
      buckets: SHARE_BUCKETS,
      registers,
    });
    this.#scores = new Histogram({
      name: 'segserve_instance_score',
      help: 'Score of every instance an instance model found.',
      labelNames: ['model', 'version'],
      buckets: SHARE_BUCKETS,
      registers,
    });
    this.#batchSize = new Histogram({
      name: 'segserve_batch_size',
      help: 'Requests in the inference that served each prediction (1 when it ran alone; config `batching`).',
      labelNames: ['model', 'version'],
      buckets: [1, 2, 4, 8, 16, 32, 64],
      registers,
    });
    this.#classes = new Counter({
      name: 'segserve_class_predictions_total',
      help: 'Instances per class (instance models), images containing the class (semantic, binary), or images classified as the class (classification).',
      labelNames: ['model', 'version', 'class'],
      registers,
    });
    this.#areaRatio = new Histogram({
      name: 'segserve_class_area_ratio',
      help: 'Share of the image a class covers, per prediction containing it (semantic, binary).',
      labelNames: ['model', 'version', 'class'],
      buckets: SHARE_BUCKETS,
      registers,
    });
    this.#gateDecisions = new Counter({
      name: 'segserve_gate_decisions_total',
      help: 'Images the gate classifier of a gated model (pipeline.gate) accepted or refused, by gated model, gate model and outcome.',
      labelNames: ['model', 'gate', 'outcome'],
      registers,
    });
    new Gauge({
      name: 'segserve_inflight_requests',
      help: 'Requests admitted and not yet answered, across models.',
      registers,
      collect() {
        this.set(service.health().requests.in_flight);
      },
    });
    /** A gauge per model version, its value read from the version at scrape time (undefined: no sample). */
    const versionGauge = (
      name: string,
      help: string,
      value: (version: VersionSnapshot) => number | undefined,
    ) =>
      new Gauge({
        name,
        help,
        labelNames: ['model', 'version'],
        registers,
        collect() {
          this.reset();
          for (const snapshot of versionSnapshots(service)) {
            const sample = value(snapshot);
            if (sample !== undefined)
              this.set({ model: snapshot.model, version: String(snapshot.version) }, sample);
          }
        },
      });
    versionGauge(
      'segserve_queue_depth',
      'Requests waiting for a free session, per model version.',
      (version) => version.queued,
    );
    versionGauge(
      'segserve_queue_capacity',
      'Requests a model version admits at once (sessions plus queue); more are refused with 503.',
      (version) => version.capacity,
    );
    versionGauge(
      'segserve_model_ready',
      'Whether a model version can serve (1) or not (0): loading, failed, or without a live session.',
      (version) => (version.ready ? 1 : 0),
    );
    versionGauge(
      'segserve_model_load_seconds',
      'Seconds a model version took to load and warm up.',
      (version) => version.loadSeconds,
    );
    new Counter({
      name: 'segserve_event_subscriber_failures_total',
      help: 'Event subscribers (metrics, sampling...) that threw; the requests themselves were not affected.',
      registers,
      collect() {
        this.reset();
        this.inc(service.events.failures());
      },
    });
    service.events.on('prediction.completed', 'metrics', (event) => this.#observe(event));
    service.events.on('gate.decided', 'metrics', (event) =>
      this.#gateDecisions.inc({
        model: event.model,
        gate: event.gate,
        outcome: event.accepted ? 'accepted' : 'refused',
      }),
    );
    // A version that went away takes its series with it: versions come and go (uploads, reloads, the watch),
    // and series kept for each one ever served would grow without end.
    service.events.on('model.unloaded', 'metrics', (event) => this.forget(event.model, event.version));
  }

  /** Drops the prediction series of a model version (its version-state gauges go at the next scrape). */
  forget(model: string, version: number): void {
    const key = `${model}\u0000${version}`;
    this.#series.get(key)?.remove();
    this.#series.delete(key);
    this.inferenceStats.forget(model, String(version));
    for (const labels of this.#requestLabels.get(key)?.values() ?? []) this.#requests.remove(labels);
    this.#requestLabels.delete(key);
  }

  recordRequest(record: RequestRecord): void {
    const { route, model, version, variant, code, seconds } = record;
    this.#requests.inc({ route, model, version, variant, code });
    if (model !== '') this.#rememberRequest(record);
    this.#requestSeconds.observe({ route, model }, seconds);
    if (code !== 'OK' && model !== '') this.inferenceStats.fail(model, version, seconds);
  }

  /** The text exposition format for `GET /metrics`. */
  metrics(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  #rememberRequest({ model, version, route, variant, code }: RequestRecord): void {
    const key = `${model}\u0000${version}`;
    let seen = this.#requestLabels.get(key);
    if (!seen) {
      seen = new Map();
      this.#requestLabels.set(key, seen);
    }
    const labels = `${route}\u0000${variant}\u0000${code}`;
    if (!seen.has(labels)) seen.set(labels, { route, model, version, variant, code });
  }

  #observe(event: PredictionCompleted): void {
    this.inferenceStats.observe(event);
    const series = this.#seriesOf(event.model, event.version);
    series.predictions(event.source).inc();
    for (const [stage, histogram] of series.stages) {
      // A stage the prediction did not pass (raw tensors are neither decoded nor encoded) is not a 0 s sample.
      // So is the gate stage of a model without a gate (absent).
      const ms = event.timings[stage];
      if (ms !== undefined && ms > 0) histogram.observe(ms / 1000);
    }
    if (event.batchSize !== undefined) series.batchSize.observe(event.batchSize);
    const { summary, uncertainty } = event;
    if (uncertainty?.kind === 'pixel-entropy') series.entropy.observe(uncertainty.meanEntropy);
    if (uncertainty?.kind === 'class-scores') series.entropy.observe(uncertainty.entropy);
    if (summary.task === 'instance') {
      for (const instance of summary.instances) {
        series.scores.observe(instance.score);
        series.classes(instance.label).inc();
      }
    } else if (summary.task === 'classification') {
      const best = summary.classes[0];
      if (best) series.classes(best.label).inc();
    } else if (summary.task !== 'tensors') {
      for (const cls of summary.classes) {
        series.classes(cls.label).inc();
        series.areaRatio(cls.label).observe(cls.ratio);
      }
    }
  }

  /**
   * The prediction series of one model version, bound once: prom-client hashes a label set on every labelled
   * call, which made the prediction metrics cost 36 us per prediction; bound children cost a bucket search.
   */
  #seriesOf(model: string, version: number): VersionSeries {
    const key = `${model}\u0000${version}`;
    let series = this.#series.get(key);
    if (!series) {
      const labels = { model, version: String(version) };
      const removals: Array<() => void> = [];
      const bound = <T>(make: (label: string) => T, remove: (label: string) => void) => {
        const children = new Map<string, T>();
        removals.push(() => {
          for (const label of children.keys()) remove(label);
        });
        return (label: string) => {
          let child = children.get(label);
          if (!child) {
            child = make(label);
            children.set(label, child);
          }
          return child;
        };
      };
      series = {
        predictions: bound(
          (source) => this.#predictions.labels({ ...labels, source }),
          (source) => this.#predictions.remove({ ...labels, source }),
        ),
        stages: STAGES.map((stage) => [stage, this.#stageSeconds.labels({ ...labels, stage })] as const),
        entropy: this.#entropy.labels(labels),
        scores: this.#scores.labels(labels),
        batchSize: this.#batchSize.labels(labels),
        classes: bound(
          (label) => this.#classes.labels({ ...labels, class: label }),
          (label) => this.#classes.remove({ ...labels, class: label }),
        ),
        areaRatio: bound(
          (label) => this.#areaRatio.labels({ ...labels, class: label }),
          (label) => this.#areaRatio.remove({ ...labels, class: label }),
        ),
        remove: () => {
          for (const remove of removals) remove();
          for (const stage of STAGES) this.#stageSeconds.remove({ ...labels, stage });
          this.#entropy.remove(labels);
          this.#scores.remove(labels);
          this.#batchSize.remove(labels);
        },
      };
      this.#series.set(key, series);
    }
    return series;
  }
}

/** Bound metric children of one model version (labels with a few values each: sources, stages, classes). */
interface VersionSeries {
  predictions(source: string): { inc(): void };
  stages: ReadonlyArray<readonly [(typeof STAGES)[number], { observe(value: number): void }]>;
  entropy: { observe(value: number): void };
  scores: { observe(value: number): void };
  batchSize: { observe(value: number): void };
  classes(label: string): { inc(): void };
  areaRatio(label: string): { observe(value: number): void };
  /** Removes every child of this version from its metrics. */
  remove(): void;
}

type RequestLabel = 'route' | 'model' | 'version' | 'variant' | 'code';
