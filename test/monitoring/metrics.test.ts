/**
 * GET /metrics after real requests through every kind of route: the documented names in base units, request
 * outcomes by catalogue code, prediction metrics from `prediction.completed`, scrape-time gauges, and no label
 * that carries what a client typed (an unknown model name is not a label value).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startServer } from '../../src/host/server.js';
import { buildApp } from '../../src/http/app.js';
import { SampleCapture } from '../../src/learning/capture/index.js';
import { DriftWatch } from '../../src/monitoring/drift-watch.js';
import { ServingMetrics } from '../../src/monitoring/metrics.js';
import { ShadowTraffic } from '../../src/monitoring/shadow/index.js';
import { JOB_METRIC_NAMES, METRIC_NAMES } from '../deploy/metric-names.js';
import { serviceFor } from '../helpers/serving.js';
import { testStorage } from '../helpers/storage.js';
import { semanticScene, tinySoftmaxModel, tinyYoloSegModel, yoloScene } from '../helpers/tiny-models.js';
import { listenOnLoopback, png, type TinyRepository, tinyRepository } from '../http/helpers.js';

let repo: TinyRepository;
let base: string;
let close: () => Promise<void>;
let capture: SampleCapture;

beforeAll(async () => {
  repo = await tinyRepository({ softmax: tinySoftmaxModel(), yolo: tinyYoloSegModel() });
  const service = serviceFor(repo.repository);
  const metrics = new ServingMetrics(service);
  new DriftWatch(service, { registry: metrics.registry, log: () => {} });
  // No request here goes through an endpoint with shadows: its metrics are only declared.
  const shadows = new ShadowTraffic(service, { registry: metrics.registry });
  // No model here samples, so the capture never opens a store: its metrics are only declared.
  const nowhere = () => Promise.reject(new Error('no store in this test'));
  capture = await SampleCapture.start(service, {
    stores: { blobs: nowhere, database: nowhere },
    spoolDir: join(tmpdir(), 'segserve-metrics-no-spool'),
    spoolMaxBytes: 0,
    registry: metrics.registry,
    log: () => {},
  });
  const app = await buildApp({ service, metrics, logger: false });
  base = await listenOnLoopback(app);
  close = () =>
    app
      .close()
      .then(() => capture.close())
      .then(() => shadows.close());
  const post = (path: string, body: Uint8Array | string, type = 'application/octet-stream') =>
    fetch(`${base}${path}`, { method: 'POST', body, headers: { 'content-type': type } }).then((r) =>
      r.text(),
    );
  await post('/v1/models/softmax/segment', new Uint8Array(await png(semanticScene())));
  await post('/v1/models/softmax/segment', new Uint8Array(await png(semanticScene())));
  await post('/v1/models/yolo/segment', new Uint8Array(await png(yoloScene())));
  await post('/v1/models/no-such-model-xyz/segment', 'x');
  const tensor = {
    inputs: [{ name: 'image', datatype: 'FP32', shape: [1, 3, 16, 16], data: new Array(768).fill(0) }],
  };
  await post('/v2/models/softmax/infer', JSON.stringify(tensor), 'application/json');
});

afterAll(async () => {
  await close?.();
  await repo?.close();
});

async function scrape(): Promise<string> {
  const response = await fetch(`${base}/metrics`);
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  return response.text();
}

/** The value of one sample line `name{labels} value`, labels given in any order. */
function sample(text: string, name: string, labels: Record<string, string>): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    const inside = /\{(.*)\}/.exec(line)?.[1] ?? '';
    const found = Object.fromEntries([...inside.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
    if (Object.entries(labels).every(([k, v]) => found[k] === v)) return Number(line.split(' ').at(-1));
  }
  return undefined;
}

describe('GET /metrics', () => {
  it('counts requests by route pattern, serving model and outcome code', async () => {
    const text = await scrape();
    const segment = '/v1/models/:model/segment';
    expect(sample(text, 'segserve_requests_total', { route: segment, model: 'softmax', code: 'OK' })).toBe(2);
    expect(
      sample(text, 'segserve_requests_total', {
        route: segment,
        model: 'yolo',
        version: '1',
        variant: 'default',
      }),
    ).toBe(1);
    expect(
      sample(text, 'segserve_requests_total', { route: segment, model: '', code: 'MODEL_NOT_FOUND' }),
    ).toBe(1);
    expect(
      sample(text, 'segserve_requests_total', { route: '/v2/models/:model/infer', model: 'softmax' }),
    ).toBe(1);
    expect(
      sample(text, 'segserve_request_duration_seconds_count', { route: segment, model: 'softmax' }),
    ).toBe(2);
    expect(text).not.toContain('no-such-model-xyz');
  });

  it('measures every prediction from prediction.completed: stages, entropy, scores, classes', async () => {
    await vi.waitFor(async () => {
      const text = await scrape();
      expect(
        sample(text, 'segserve_stage_duration_seconds_count', { model: 'softmax', stage: 'infer' }),
      ).toBe(3);
    });
    const text = await scrape();
    expect(sample(text, 'segserve_stage_duration_seconds_count', { model: 'softmax', stage: 'decode' })).toBe(
      2,
    );
    expect(sample(text, 'segserve_predictions_total', { model: 'softmax', source: 'v1' })).toBe(2);
    expect(sample(text, 'segserve_predictions_total', { model: 'softmax', source: 'v2' })).toBe(1);
    expect(sample(text, 'segserve_prediction_entropy_count', { model: 'softmax', version: '1' })).toBe(2);
    expect(sample(text, 'segserve_instance_score_count', { model: 'yolo', version: '1' })).toBe(3);
    expect(sample(text, 'segserve_class_predictions_total', { model: 'softmax', class: 'red' })).toBe(2);
    expect(sample(text, 'segserve_class_area_ratio_count', { model: 'softmax', class: 'red' })).toBe(2);
    // Without `batching` every request runs alone: three batches of one.
    expect(sample(text, 'segserve_batch_size_count', { model: 'softmax', version: '1' })).toBe(3);
    expect(sample(text, 'segserve_batch_size_sum', { model: 'softmax', version: '1' })).toBe(3);
  });

  it('reads queue, capacity, readiness and load time of every version at scrape time, and process metrics', async () => {
    const text = await scrape();
    expect(sample(text, 'segserve_queue_depth', { model: 'softmax', version: '1' })).toBe(0);
    expect(sample(text, 'segserve_queue_capacity', { model: 'softmax', version: '1' })).toBeGreaterThan(1);
    expect(sample(text, 'segserve_model_ready', { model: 'yolo', version: '1' })).toBe(1);
    expect(sample(text, 'segserve_model_load_seconds', { model: 'yolo', version: '1' })).toBeGreaterThan(0);
    expect(sample(text, 'segserve_inflight_requests', {})).toBe(0);
    expect(sample(text, 'segserve_event_subscriber_failures_total', {})).toBe(0);
    for (const name of [
      'process_resident_memory_bytes',
      'process_cpu_seconds_total',
      'nodejs_eventloop_lag_seconds',
    ]) {
      expect(text).toContain(`\n${name} `);
    }
  });
});

describe('GET /v2/models/{m}[/versions/{v}]/stats (the statistics extension)', () => {
  it('reports the same predictions per version, in cumulative nanoseconds', async () => {
    await vi.waitFor(async () => {
      const stats = (await (await fetch(`${base}/v2/models/softmax/versions/1/stats`)).json()) as {
        model_stats: Array<{ inference_count: number }>;
      };
      expect(stats.model_stats[0].inference_count).toBe(3);
    });
    const { model_stats } = (await (await fetch(`${base}/v2/models/softmax/stats`)).json()) as {
      model_stats: Array<
        Record<string, unknown> & { inference_stats: Record<string, { count: number; ns: number }> }
      >;
    };
    expect(model_stats).toHaveLength(1);
    expect(model_stats[0]).toMatchObject({
      name: 'softmax',
      version: '1',
      inference_count: 3,
      execution_count: 3,
    });
    expect(model_stats[0].last_inference).toBeGreaterThan(Date.now() - 60_000);
    const { success, fail, compute_infer } = model_stats[0].inference_stats;
    expect(success.count).toBe(3);
    expect(fail.count).toBe(0);
    expect(compute_infer.ns).toBeGreaterThan(0);
    const all = (await (await fetch(`${base}/v2/models/stats`)).json()) as {
      model_stats: Array<{ name: string }>;
    };
    expect(all.model_stats.map((s) => s.name).sort()).toEqual(['softmax', 'yolo']);
    const unknown = await fetch(`${base}/v2/models/nope/stats`);
    expect(unknown.status).toBe(404);
    const server = (await (await fetch(`${base}/v2`)).json()) as { extensions: string[] };
    expect(server.extensions).toContain('statistics');
  });
});

/** Names of the samples in a /metrics text, and of the metrics it declares (TYPE lines). */
function namesIn(text: string): { exported: Set<string>; declared: Set<string> } {
  const lines = text.split('\n');
  return {
    exported: new Set(
      lines.filter((line) => line !== '' && !line.startsWith('#')).map((line) => line.split(/[{ ]/)[0]),
    ),
    declared: new Set(lines.filter((line) => line.startsWith('# TYPE ')).map((line) => line.split(' ')[2])),
  };
}

/** The names of `wanted` that the text neither has samples of nor declares. */
function missingFrom(text: string, wanted: readonly string[]): string[] {
  const { exported, declared } = namesIn(text);
  return wanted.filter((name) => {
    if (exported.has(name)) return false;
    // A metric with labels has no sample until its first observation; its TYPE line is still there.
    const base = name.replace(/_(bucket|sum|count)$/, '');
    return !declared.has(name) && !declared.has(base);
  });
}

describe('the names the shipped rules and dashboard query', () => {
  it('are all exported by /metrics (up aside, which Prometheus makes itself)', async () => {
    // This app is built without jobs: their names are checked against a server below.
    const jobNames = new Set<string>(JOB_METRIC_NAMES);
    const wanted = METRIC_NAMES.filter((name) => name !== 'up' && !jobNames.has(name));
    expect(missingFrom(await scrape(), wanted)).toEqual([]);
  });

  it('of the jobs are exported by a server, which always runs jobs', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'segserve-job-metrics-'));
    try {
      const server = await startServer({
        modelsDir: dir,
        storage: testStorage(dir),
        port: 0,
        host: '127.0.0.1',
        logger: false,
      });
      try {
        const text = await (await fetch(`${server.url}/metrics`)).text();
        expect(missingFrom(text, JOB_METRIC_NAMES)).toEqual([]);
        // Read from the queues at scrape time: a sample per queue and state, with nothing queued yet.
        expect(sample(text, 'segserve_queue_messages', { queue: 'segserve-jobs', state: 'waiting' })).toBe(0);
      } finally {
        await server.close();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('--monitoring off', () => {
  it('serves without /metrics, and with it when on', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'segserve-monitoring-off-'));
    try {
      for (const monitoring of [false, true]) {
        const server = await startServer({
          modelsDir: dir,
          storage: testStorage(dir),
          port: 0,
          host: '127.0.0.1',
          logger: false,
          monitoring,
        });
        try {
          expect((await fetch(`${server.url}/metrics`)).status).toBe(monitoring ? 200 : 404);
          expect((await fetch(`${server.url}/v2/health/live`)).status).toBe(200);
        } finally {
          await server.close();
        }
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
