/**
 * GET /v1/monitor after real requests, wired as the server wires it (ServingMetrics, MonitorHistory and
 * DriftWatch over one service, the request records handed to both): the documented shape, the series of
 * what was sent, drift of a monitored model, the filters, and bad queries refused with a stable code.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { buildApp } from '../../src/http/app.js';
import { DriftWatch } from '../../src/monitoring/drift-watch.js';
import { ServingMetrics } from '../../src/monitoring/metrics.js';
import { MonitorHistory } from '../../src/monitoring/monitor-history.js';
import type { MonitorJson } from '../../src/monitoring/monitor-types.js';
import { serviceFor } from '../helpers/serving.js';
import { semanticScene, tinySoftmaxModel, tinyYoloSegModel, yoloScene } from '../helpers/tiny-models.js';
import { listenOnLoopback, png, type TinyRepository, tinyRepository } from '../http/helpers.js';

let repo: TinyRepository;
let base: string;
let close: () => Promise<void>;
let monitor: MonitorHistory;

const REFERENCE = 20;
/** The reference, then a full window: drift is scored from then on. */
const SENT = 2 * REFERENCE + 5;

beforeAll(async () => {
  const softmax = tinySoftmaxModel();
  repo = await tinyRepository({
    softmax: {
      ...softmax,
      config: {
        ...(softmax.config as object),
        monitoring: { drift: { reference_size: REFERENCE, window: REFERENCE, threshold: 0.25 } },
      },
    },
    yolo: tinyYoloSegModel(),
  });
  const service = serviceFor(repo.repository);
  const metrics = new ServingMetrics(service, { processMetrics: false });
  let drift: DriftWatch | undefined;
  monitor = new MonitorHistory(service, { driftStates: () => drift?.states() ?? [], sampleMs: 100 });
  const app = await buildApp({ service, metrics, monitor, logger: false });
  drift = new DriftWatch(service, { registry: metrics.registry, log: () => {} });
  base = await listenOnLoopback(app);
  close = () => app.close();
  const semantic = new Uint8Array(await png(semanticScene()));
  for (let i = 0; i < SENT; i++) {
    await fetch(`${base}/v1/models/softmax/segment`, { method: 'POST', body: semantic });
  }
  await fetch(`${base}/v1/models/yolo/segment`, {
    method: 'POST',
    body: new Uint8Array(await png(yoloScene())),
  });
  await fetch(`${base}/v1/models/softmax/segment`, { method: 'POST', body: 'not an image' });
});

afterAll(async () => {
  monitor?.close();
  await close?.();
  await repo?.close();
});

async function get(query = ''): Promise<{ status: number; body: unknown }> {
  const response = await fetch(`${base}/v1/monitor${query}`);
  return { status: response.status, body: await response.json() };
}

async function read(query = ''): Promise<MonitorJson> {
  const { status, body } = await get(query);
  expect(status).toBe(200);
  return body as MonitorJson;
}

const sum = (values: Array<number | null>) => values.reduce<number>((a, b) => a + (b ?? 0), 0);

describe('GET /v1/monitor', () => {
  it('answers the history of every model version with the gauges of now', async () => {
    // Predictions are published after their answers: wait for the last one, and a drift sample after it.
    await vi.waitFor(async () => {
      const json = await read();
      const softmax = json.models.find((m) => m.model === 'softmax');
      expect(softmax?.drift?.phase).toBe('monitoring');
      expect(Object.keys(softmax?.drift?.signals ?? {}).length).toBeGreaterThan(0);
      expect(json.models.find((m) => m.model === 'yolo')?.classes.labels.length).toBeGreaterThan(0);
    });
    const json = await read();
    expect(json.bucket_seconds).toBe(5);
    expect(json.window_seconds).toBe(900);
    expect(json.times).toHaveLength(180);
    expect(json.server).toMatchObject({ status: 'ok', in_flight: 0 });
    expect(json.models.map((m) => [m.model, m.version, m.state, m.ready])).toEqual([
      ['softmax', 1, 'ready', true],
      ['yolo', 1, 'ready', true],
    ]);
    const softmax = json.models[0];
    const seconds = json.bucket_seconds;
    // Rates times bucket length give the counts back (the current bucket's rate is over its age, <= 5 s).
    expect(sum(softmax.predictions) * seconds).toBeGreaterThanOrEqual(SENT - 0.01);
    expect(sum(softmax.requests.ok) * seconds).toBeGreaterThanOrEqual(SENT - 0.01);
    expect(sum(softmax.requests.client_error)).toBeGreaterThan(0);
    expect(softmax.headline.requests_per_second).toBeGreaterThan(0);
    expect(softmax.headline.p95_ms).toBeGreaterThan(0);
    expect(softmax.headline.error_ratio).toBe(0);
    expect(softmax.queue.capacity).toBeGreaterThan(0);
    for (const stage of ['decode', 'preprocess', 'queue', 'infer', 'postprocess', 'encode', 'total']) {
      expect(softmax.latency_ms.mean).toHaveProperty(stage);
      expect(softmax.latency_ms.p95).toHaveProperty(stage);
    }
    expect(softmax.latency_ms.mean.total.some((v) => v !== null && v > 0)).toBe(true);
    expect(softmax.uncertainty?.kind).toBe('entropy');
    expect(softmax.uncertainty?.p50.some((v) => v !== null)).toBe(true);
    expect(softmax.classes.labels).toEqual(['background', 'red', 'green', 'blue']);
    expect(softmax.classes.shares).toHaveLength(4);
    expect(softmax.drift).toMatchObject({
      phase: 'monitoring',
      reference: { count: REFERENCE, size: REFERENCE },
      threshold: 0.25,
      detected: false,
    });
    // The same image every time: no drift on any signal.
    expect(softmax.drift?.score).toBeLessThan(0.25);
    expect(softmax.queue_depth.some((v) => v === 0)).toBe(true);
    const yolo = json.models[1];
    expect(yolo.uncertainty?.kind).toBe('instance_score');
    // Drift is on by default: the few yolo predictions are still building its reference of 200.
    expect(yolo.drift).toMatchObject({ phase: 'reference', reference: { size: 200 }, score: null });
    // Small enough to poll every few seconds.
    expect(JSON.stringify(json).length).toBeLessThan(120_000);
  });

  it('filters by model and answers a shorter window', async () => {
    const json = await read('?model=yolo&window=1m');
    expect(json.models.map((m) => m.model)).toEqual(['yolo']);
    expect(json.window_seconds).toBe(60);
    expect(json.times).toHaveLength(12);
    expect(json.models[0].predictions).toHaveLength(12);
    expect((await read('?window=300')).times).toHaveLength(60);
    expect((await read('?window=7s')).times).toHaveLength(2);
  });

  it.each([
    ['?window=abc'],
    ['?window=0'],
    ['?window=1s'],
    ['?window=16m'],
    ['?window=1h'],
    ['?window=-5'],
    ['?window=1e3'],
    [`?window=${'9'.repeat(50)}`],
  ])('refuses %s with 400 INVALID_ARGUMENT and says what a window is', async (query) => {
    const { status, body } = await get(query);
    expect(status).toBe(400);
    const error = (body as { error: { code: string; message: string } }).error;
    expect(error.code).toBe('INVALID_ARGUMENT');
    expect(error.message).toMatch(/^window must be a duration from 5s to 15m/);
  });

  it('answers 404 MODEL_NOT_FOUND for a model it does not serve', async () => {
    const { status, body } = await get('?model=no-such-model');
    expect(status).toBe(404);
    expect((body as { error: { code: string } }).error.code).toBe('MODEL_NOT_FOUND');
  });

  it('is documented in the OpenAPI document with its answer schema and the error shape', async () => {
    const doc = (await (await fetch(`${base}/openapi.json`)).json()) as {
      paths: Record<string, Record<string, { tags: string[]; parameters: Array<{ name: string }> }>>;
    };
    const operation = doc.paths['/v1/monitor']?.get as unknown as {
      tags: string[];
      parameters: Array<{ name: string }>;
      responses: Record<string, { content: Record<string, { schema: Record<string, unknown> }> }>;
    };
    expect(operation.tags).toEqual(['monitoring']);
    expect(operation.parameters.map((p) => p.name).sort()).toEqual(['model', 'window']);
    const answer = operation.responses['200'].content['application/json'].schema;
    expect(answer.required).toEqual(['now', 'bucket_seconds', 'window_seconds', 'times', 'server', 'models']);
    expect(operation.responses['4XX'].content['application/json'].schema).toEqual({
      $ref: '#/components/schemas/Error',
    });
  });

  it('its own polls are not counted as traffic', async () => {
    const before = (await read()).server.headline.requests_per_second;
    for (let i = 0; i < 5; i++) await read();
    expect((await read()).server.headline.requests_per_second).toBeLessThanOrEqual(before);
  });
});
