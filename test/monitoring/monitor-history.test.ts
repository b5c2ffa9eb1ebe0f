/**
 * The monitor page's history on its own, with a clock the test moves: predictions and requests land in 5 s
 * buckets, the ring wraps after 15 minutes without growing, quantiles read from the fixed bins are where the
 * observations were, the class mix keeps the frequent classes by name, and the page's server-error codes are
 * exactly those the Prometheus error-ratio rule counts.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DriftState } from '../../src/monitoring/drift/monitor.js';
import { LATENCY_BINS, quantile, UNIT_BINS } from '../../src/monitoring/histogram-bins.js';
import { MonitorHistory } from '../../src/monitoring/monitor-history.js';
import type { MonitorJson, MonitorVersion } from '../../src/monitoring/monitor-types.js';
import { outcomeOf, SERVER_ERROR_CODES } from '../../src/monitoring/request-outcome.js';
import type { PredictionCompleted, PredictionSummary } from '../../src/serving/events.js';
import type { InferenceService } from '../../src/serving/service.js';
import { PROJECT_ROOT } from '../helpers/paths.js';
import { serviceFor } from '../helpers/serving.js';
import { tinySoftmaxModel, tinyYoloSegModel } from '../helpers/tiny-models.js';
import { type TinyRepository, tinyRepository } from '../http/helpers.js';

/** A bucket boundary (a multiple of 5 s), so the arithmetic below reads plainly. */
const T0 = 1_700_000_000_000;

let repo: TinyRepository;
let service: InferenceService;

beforeAll(async () => {
  repo = await tinyRepository({ softmax: tinySoftmaxModel(), yolo: tinyYoloSegModel() });
  service = serviceFor(repo.repository);
});
afterAll(() => repo?.close());

const TIMINGS = { decode: 2, preprocess: 1, queue: 0, infer: 10, postprocess: 3, encode: 1, total: 17 };

function event(at: number, overrides: Partial<PredictionCompleted> = {}): PredictionCompleted {
  const summary: PredictionSummary = {
    task: 'semantic',
    classes: [
      { label: 'background', classId: 0, area: 75, ratio: 0.75 },
      { label: 'red', classId: 1, area: 25, ratio: 0.25 },
    ],
  };
  return {
    type: 'prediction.completed',
    predictionId: 'p',
    source: 'v1',
    model: 'softmax',
    version: 1,
    variant: 'default',
    at,
    timings: TIMINGS,
    uncertainty: { kind: 'pixel-entropy', meanEntropy: 0.2, maxEntropy: 0.9, uncertainShare: 0.1 },
    summary,
    ...overrides,
  };
}

function history(clock: { now: number }, driftStates?: () => DriftState[]): MonitorHistory {
  return new MonitorHistory(service, { clock: () => clock.now, sampleMs: 0, driftStates });
}

function versionOf(json: MonitorJson, model: string, version = 1): MonitorVersion {
  const found = json.models.find((m) => m.model === model && m.version === version);
  if (!found) throw new Error(`no ${model} v${version} in ${json.models.map((m) => m.model).join(', ')}`);
  return found;
}

describe('MonitorHistory', () => {
  it('counts predictions per 5 s bucket, with rates over the time each bucket lasted', () => {
    const clock = { now: T0 + 12_000 };
    const monitor = history(clock);
    monitor.observe(event(T0 + 100));
    monitor.observe(event(T0 + 4_900));
    monitor.observe(event(T0 + 5_000));
    monitor.observe(event(T0 + 11_000));
    const json = monitor.read({ windowSeconds: 15 });
    expect(json.bucket_seconds).toBe(5);
    expect(json.window_seconds).toBe(15);
    expect(json.times).toEqual([T0 / 1000, T0 / 1000 + 5, T0 / 1000 + 10]);
    // 2 in 5 s, 1 in 5 s, and 1 in the 2 s the current bucket has lasted.
    expect(versionOf(json, 'softmax').predictions).toEqual([0.4, 0.2, 0.5]);
    expect(versionOf(json, 'softmax').latency_ms.mean.infer).toEqual([10, 10, 10]);
    monitor.close();
  });

  it('answers the whole history by default, with every model of the repository, traffic or not', () => {
    const clock = { now: T0 };
    const monitor = history(clock);
    const json = monitor.read();
    expect(json.window_seconds).toBe(900);
    expect(json.times).toHaveLength(180);
    expect(json.models.map((m) => `${m.model} v${m.version} ${m.state} ${m.ready}`)).toEqual([
      'softmax v1 ready true',
      'yolo v1 ready true',
    ]);
    const softmax = versionOf(json, 'softmax');
    expect(softmax.predictions.every((v) => v === 0)).toBe(true);
    expect(softmax.latency_ms.mean.total.every((v) => v === null)).toBe(true);
    expect(softmax.queue).toEqual({ depth: 0, capacity: expect.any(Number) });
    expect(softmax.uncertainty?.kind).toBe('entropy');
    expect(versionOf(json, 'yolo').uncertainty?.kind).toBe('instance_score');
    expect(softmax.classes).toEqual({ labels: [], shares: [] });
    expect(json.server.headline.requests_per_second).toBe(0);
    expect(json.server.headline.p95_ms).toBeNull();
    monitor.close();
  });

  it('wraps after 15 minutes: old buckets are gone, new ones fill, and memory does not grow', () => {
    const clock = { now: T0 };
    const monitor = history(clock);
    monitor.observe(event(T0));
    monitor.read();
    const bytes = monitor.bytes();
    expect(bytes).toBeGreaterThan(0);
    // An hour of traffic, 20 predictions and 20 requests a second.
    for (let t = T0; t < T0 + 3_600_000; t += 50) {
      clock.now = t;
      monitor.observe(event(t, { timings: { ...TIMINGS, infer: 5 + (t % 1000) / 100 } }));
      monitor.recordRequest({
        route: '/v1/models/:model/segment',
        model: 'softmax',
        version: '1',
        variant: 'default',
        code: 'OK',
        seconds: 0.02,
      });
      if (t % 1000 === 0) monitor.sample();
    }
    expect(monitor.bytes()).toBe(bytes);
    const json = monitor.read();
    const softmax = versionOf(json, 'softmax');
    expect(json.times[0]).toBe((T0 + 3_600_000 - 900_000) / 1000);
    // Full buckets of the last 15 minutes: 100 per 5 s.
    expect(softmax.predictions.slice(0, -1).every((v) => v === 20)).toBe(true);
    expect(softmax.requests.ok.slice(0, -1).every((v) => v === 20)).toBe(true);
    expect(softmax.queue_depth.filter((v) => v === 0)).toHaveLength(180);
    // The first prediction, an hour ago, is outside the window.
    clock.now = T0 + 3_600_000 + 1;
    monitor.observe(event(T0));
    expect(versionOf(monitor.read(), 'softmax').predictions[0]).toBe(20);
    monitor.close();
  });

  it('drops a prediction older than the history or from the future', () => {
    const clock = { now: T0 + 1_000_000 };
    const monitor = history(clock);
    monitor.observe(event(T0));
    monitor.observe(event(T0 + 2_000_000));
    expect(versionOf(monitor.read(), 'softmax').predictions.every((v) => v === 0)).toBe(true);
    monitor.close();
  });

  it('reads stage latency percentiles and the entropy spread from the bins', () => {
    const clock = { now: T0 + 4_000 };
    const monitor = history(clock);
    for (let i = 1; i <= 100; i++) {
      monitor.observe(
        event(T0 + i, {
          timings: { ...TIMINGS, infer: i },
          uncertainty: { kind: 'pixel-entropy', meanEntropy: i / 101, maxEntropy: 1, uncertainShare: 0 },
        }),
      );
    }
    const softmax = versionOf(monitor.read({ windowSeconds: 5 }), 'softmax');
    expect(softmax.latency_ms.mean.infer).toEqual([50.5]);
    // Bins a factor sqrt(2) wide: within 20% of the true 95th percentile.
    expect(softmax.latency_ms.p95.infer[0]).toBeGreaterThan(95 * 0.8);
    expect(softmax.latency_ms.p95.infer[0]).toBeLessThan(95 * 1.2);
    expect(softmax.latency_ms.p95.queue).toEqual([0.0475]);
    expect(softmax.uncertainty?.p10[0]).toBeCloseTo(0.1, 1);
    expect(softmax.uncertainty?.p50[0]).toBeCloseTo(0.5, 1);
    expect(softmax.uncertainty?.p90[0]).toBeCloseTo(0.9, 1);
    monitor.close();
  });

  it('class mix: area shares of semantic models, instance counts of instance models, the rest as other', () => {
    const clock = { now: T0 + 1_000 };
    const monitor = history(clock);
    monitor.observe(event(T0));
    monitor.observe(
      event(T0, {
        summary: { task: 'semantic', classes: [{ label: 'green', classId: 2, area: 100, ratio: 1 }] },
      }),
    );
    const softmax = versionOf(monitor.read({ windowSeconds: 5 }), 'softmax');
    expect(softmax.classes.labels).toEqual(['background', 'red', 'green']);
    expect(softmax.classes.shares).toEqual([[0.375], [0.125], [0.5]]);

    // The tiny YOLO knows 3 labels; more class ids than it has labels fall into `other`.
    const instance = (classId: number, score: number) => ({ label: `c${classId}`, classId, score, area: 10 });
    monitor.observe(
      event(T0, {
        model: 'yolo',
        summary: { task: 'instance', instances: [instance(0, 0.9), instance(0, 0.8), instance(1, 0.5)] },
        uncertainty: undefined,
      }),
    );
    monitor.observe(
      event(T0, { model: 'yolo', summary: { task: 'instance', instances: [instance(40, 0.7)] } }),
    );
    const yolo = versionOf(monitor.read({ windowSeconds: 5 }), 'yolo');
    const labels = repo.repository.get('yolo')?.labels ?? [];
    expect(yolo.classes.labels).toEqual([labels[0], labels[1], 'other']);
    expect(yolo.classes.shares).toEqual([[0.5], [0.25], [0.25]]);
    expect(yolo.uncertainty?.kind).toBe('instance_score');
    expect(yolo.uncertainty?.p50[0]).toBeGreaterThan(0.6);
    expect(yolo.uncertainty?.p50[0]).toBeLessThan(0.82);
    monitor.close();
  });

  it('keeps the most frequent classes by name and sums the rest as other', async () => {
    const labels = Array.from({ length: 12 }, (_, i) => `class${i}`);
    const many = await tinyRepository({
      many: { ...tinySoftmaxModel(), labels, config: manyConfig(labels) },
    });
    try {
      const clock = { now: T0 + 1_000 };
      const monitor = new MonitorHistory(serviceFor(many.repository), {
        clock: () => clock.now,
        sampleMs: 0,
      });
      // Class i covers a share proportional to i + 1: the 8 largest are classes 4..11.
      const total = labels.reduce((sum, _, i) => sum + i + 1, 0);
      monitor.observe(
        event(T0, {
          model: 'many',
          summary: {
            task: 'semantic',
            classes: labels.map((label, i) => ({ label, classId: i, area: i + 1, ratio: (i + 1) / total })),
          },
        }),
      );
      const json = versionOf(monitor.read({ windowSeconds: 5 }), 'many');
      expect(json.classes.labels).toEqual([...labels.slice(4), 'other']);
      expect(json.classes.shares.at(-1)?.[0]).toBeCloseTo((1 + 2 + 3 + 4) / total, 3);
      monitor.close();
    } finally {
      await many.close();
    }
  });

  it('sorts requests by outcome per model and server-wide, with the headline of the last minute', () => {
    const clock = { now: T0 };
    const monitor = history(clock);
    // 2.5 s into the current bucket, 32.5 s after start.
    clock.now = T0 + 32_500;
    const record = (model: string, code: string, seconds = 0.05) =>
      monitor.recordRequest({
        route: '/v1/models/:model/segment',
        model,
        version: model === '' ? '' : '1',
        variant: model === '' ? '' : 'default',
        code,
        seconds,
      });
    for (let i = 0; i < 16; i++) record('softmax', 'OK', 0.01 * (i + 1));
    record('softmax', 'IMAGE_CORRUPT');
    record('softmax', 'INFERENCE_FAILED');
    record('', 'QUEUE_FULL');
    record('', 'INTERNAL_ERROR');
    // Not traffic of any model: a probe, the page's own poll, a client naming an unknown model.
    record('', 'OK');
    record('', 'MODEL_NOT_FOUND');
    const json = monitor.read({ windowSeconds: 60 });
    const softmax = versionOf(json, 'softmax');
    expect(softmax.headline.requests_per_second).toBeCloseTo(18 / 32.5, 3);
    expect(softmax.headline.error_ratio).toBeCloseTo(1 / 18, 3);
    expect(softmax.headline.refused_ratio).toBe(0);
    expect(softmax.headline.p95_ms).toBeGreaterThan(140);
    expect(softmax.headline.p95_ms).toBeLessThan(200);
    expect(softmax.requests.client_error.at(-1)).toBe(0.4);
    expect(json.server.headline.requests_per_second).toBeCloseTo(20 / 32.5, 3);
    expect(json.server.headline.error_ratio).toBeCloseTo(2 / 20, 3);
    expect(json.server.headline.refused_ratio).toBeCloseTo(1 / 20, 3);
    expect(json.server.requests.refused.at(-1)).toBe(0.4);
    expect(versionOf(json, 'yolo').headline.requests_per_second).toBe(0);
    // A server younger than a minute: its rates are over its age, not the full minute.
    expect(json.server.headline.seconds).toBe(32.5);
    monitor.close();
  });

  it('samples queue depth and drift scores into the current bucket, with the drift state of now', () => {
    const clock = { now: T0 };
    const state: DriftState = {
      model: 'softmax',
      version: 1,
      phase: 'monitoring',
      referenceSource: 'predictions',
      referenceCount: 20,
      referenceSize: 20,
      windowCount: 20,
      window: 20,
      threshold: 0.25,
      detected: false,
      score: 0.1,
      signal: 'brightness',
      signals: { brightness: 0.1, entropy: 0.05, class_mix: 0.02 },
    };
    const monitor = history(clock, () => [state]);
    monitor.sample();
    clock.now += 5_000;
    state.signals = { brightness: 0.4, entropy: 0.05, class_mix: 0.02 };
    state.detected = true;
    state.score = 0.4;
    monitor.sample();
    const softmax = versionOf(monitor.read({ windowSeconds: 10 }), 'softmax');
    expect(softmax.queue_depth).toEqual([0, 0]);
    expect(softmax.drift).toMatchObject({
      phase: 'monitoring',
      threshold: 0.25,
      detected: true,
      score: 0.4,
      signals: { brightness: [0.1, 0.4], entropy: [0.05, 0.05], class_mix: [0.02, 0.02] },
    });
    expect(Object.keys(softmax.drift?.signals ?? {})).toEqual(['brightness', 'entropy', 'class_mix']);
    expect(versionOf(monitor.read(), 'yolo').drift).toBeNull();
    monitor.close();
  });

  it('subscribes to prediction.completed on the service', async () => {
    // A clock that stands still: the rates of the bucket still filling depend on its age.
    const now = Date.now();
    const monitor = new MonitorHistory(service, { sampleMs: 0, clock: () => now });
    service.events.emit(event(now));
    await new Promise((resolve) => setImmediate(resolve));
    const before = versionOf(monitor.read(), 'softmax').predictions;
    expect(before.some((v) => v > 0)).toBe(true);
    monitor.close();
    service.events.emit(event(now));
    await new Promise((resolve) => setImmediate(resolve));
    expect(versionOf(monitor.read(), 'softmax').predictions).toEqual(before);
  });
});

describe('fixed-bin quantiles', () => {
  it('interpolate inside the bin and answer undefined for an empty histogram', () => {
    const counts = new Uint32Array(UNIT_BINS.count);
    expect(quantile(counts, 0, UNIT_BINS, 0.5)).toBeUndefined();
    counts[UNIT_BINS.binOf(0.31)] = 10;
    expect(quantile(counts, 0, UNIT_BINS, 0.5)).toBeCloseTo(0.31, 5);
    expect(UNIT_BINS.binOf(1)).toBe(UNIT_BINS.count - 1);
    expect(UNIT_BINS.binOf(Number.NaN)).toBe(0);
  });

  it('latency bins cover 0 to minutes, a factor sqrt(2) wide', () => {
    expect(LATENCY_BINS.binOf(0)).toBe(0);
    expect(LATENCY_BINS.binOf(-1)).toBe(0);
    for (const ms of [0.06, 1, 7.3, 120, 5_000, 60_000]) {
      const bin = LATENCY_BINS.binOf(ms);
      expect(LATENCY_BINS.lower(bin)).toBeLessThanOrEqual(ms);
      expect(LATENCY_BINS.upper(bin)).toBeGreaterThan(ms);
      expect(LATENCY_BINS.upper(bin) / LATENCY_BINS.lower(bin)).toBeCloseTo(Math.SQRT2, 5);
    }
    expect(LATENCY_BINS.binOf(1e9)).toBe(LATENCY_BINS.count - 1);
  });
});

describe('request outcomes', () => {
  it('server errors are exactly the codes of the Prometheus error-ratio rule', async () => {
    const rules = await readFile(join(PROJECT_ROOT, 'deploy/prometheus/rules/segserve.rules.yml'), 'utf8');
    const rule = /record: model:segserve_server_errors:rate5m[\s\S]*?code=~"([^"]+)"/.exec(rules);
    expect(rule).not.toBeNull();
    expect(rule![1].split('|').sort()).toEqual([...SERVER_ERROR_CODES].sort());
  });

  it('sorts codes: OK, the request at fault, back-pressure, the server at fault', () => {
    expect(outcomeOf('OK')).toBe('ok');
    expect(outcomeOf('IMAGE_CORRUPT')).toBe('client_error');
    expect(outcomeOf('MODEL_NOT_FOUND')).toBe('client_error');
    expect(outcomeOf('QUEUE_FULL')).toBe('refused');
    expect(outcomeOf('MODEL_NOT_READY')).toBe('refused');
    expect(outcomeOf('INFERENCE_TIMEOUT')).toBe('server_error');
    expect(outcomeOf('NOT_A_CODE')).toBe('server_error');
    expect(outcomeOf('toString')).toBe('server_error');
  });
});

function manyConfig(labels: string[]): unknown {
  const config = tinySoftmaxModel().config as Record<string, unknown>;
  return { ...config, labels };
}
