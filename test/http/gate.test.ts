/**
 * Pipelines with a gate stage, over HTTP with tiny models the test builds: `red-or-not` scores "red" as the mean
 * red of the image (tinyRedClassifier), and `gated` (the tiny softmax segmenter) serves only images it accepts
 * with at least 0.6. Accepted images are segmented, with the gate's and the segmentation's timings; refused ones
 * answer 422 GATE_REFUSED with the classifier's answer, on /v1, the compatible routes and the command line;
 * /v2 tensors bypass the gate. Gates that cannot serve (not a classifier, a label it lacks, not there yet) keep
 * the gated model from loading, with the reason, until they can.
 */
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { predict } from '../../src/cli/predict.js';
import { decodeMaskPng } from '../../src/masks/png-read.js';
import { ServingMetrics } from '../../src/monitoring/metrics.js';
import type { GateDecided, PredictionCompleted } from '../../src/serving/events.js';
import type { SegmentationJson } from '../../src/serving/types.js';
import { serviceFor } from '../helpers/serving.js';
import {
  BLUE,
  paintRgb,
  RED,
  semanticScene,
  tinyColourClassifier,
  tinyRedClassifier,
  tinySoftmaxModel,
} from '../helpers/tiny-models.js';
import {
  errorOf,
  listen,
  openTemporaryRepository,
  png,
  type RunningApp,
  type TinyRepository,
  writeRepository,
} from './helpers.js';

const softmax = tinySoftmaxModel();
const gate = { model: 'red-or-not', accept: ['red'], min_score: 0.6 };
const gated = (extra: Record<string, unknown>) => ({
  bytes: softmax.bytes,
  config: { ...(softmax.config as object), pipeline: { gate: { ...gate, ...extra } } },
});

let repo: TinyRepository;
let server: RunningApp;
let metrics: ServingMetrics;
let batchRoot: string;
/** 16x16, all red but a 4x4 blue square: mean red 240/256 = 0.9375, accepted. */
let reddish: Buffer;
/** semanticScene(): 36 red pixels of 256, mean red 0.140625, refused. */
let scene: Buffer;
const decisions: GateDecided[] = [];
const predictions: PredictionCompleted[] = [];

beforeAll(async () => {
  // `gated` sorts before `red-or-not`: the gated model is met first, its gate after.
  const dir = await writeRepository({
    gated: gated({}),
    'gated-by-segmenter': gated({ model: 'softmax' }),
    'gated-label': gated({ accept: ['red', 'blue'] }),
    'gated-version': gated({ version: 3 }),
    'red-or-not': tinyRedClassifier(),
    colour: { ...tinyColourClassifier(), config: { ...(tinyColourClassifier().config as object), top_k: 3 } },
    softmax,
  });
  repo = await openTemporaryRepository(dir);
  const service = serviceFor(repo.repository);
  metrics = new ServingMetrics(service, { processMetrics: false });
  service.events.on('gate.decided', 'test', (event) => {
    decisions.push(event);
  });
  service.events.on('prediction.completed', 'test', (event) => {
    predictions.push(event);
  });
  batchRoot = join(dir, '..', `${basename(dir)}-batch`);
  await mkdir(batchRoot, { recursive: true });
  server = await listen({ repository: repo.repository, metrics, batchRoot });
  reddish = await png(
    paintRgb(16, 16, [
      { x0: 0, y0: 0, x1: 16, y1: 16, rgb: RED },
      { x0: 4, y0: 10, x1: 8, y1: 14, rgb: BLUE },
    ]),
  );
  scene = await png(semanticScene());
  await writeFile(join(batchRoot, 'reddish.png'), reddish);
  await writeFile(join(batchRoot, 'scene.png'), scene);
});

afterAll(async () => {
  await server?.app.close();
  await repo?.close();
  if (batchRoot) await rm(batchRoot, { recursive: true, force: true });
});

function post(
  path: string,
  body: NonNullable<RequestInit['body']>,
  headers: Record<string, string> = {},
): Promise<Response> {
  return fetch(`${server.base}${path}`, { method: 'POST', body, headers });
}

function upload(bytes: Uint8Array): FormData {
  const form = new FormData();
  form.append('file', new Blob([bytes]), 'image.png');
  return form;
}

async function until(condition: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 2_000; i++) {
    if (condition()) return;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** The refusal of `scene` by the gate, as every surface must carry it. */
function expectRefusal(details: Record<string, unknown>): void {
  expect(details).toMatchObject({
    model: 'gated',
    version: 1,
    gate: 'red-or-not',
    gate_version: 1,
    accept: 'red',
    min_score: 0.6,
    label: 'red',
    score: 0.1406,
    classes: [
      { label: 'other', class_id: 1, score: 0.8594 },
      { label: 'red', class_id: 0, score: 0.1406 },
    ],
  });
}

describe('a gated model on /v1', () => {
  it('segments an image the gate accepts, with the gate and segmentation timings', async () => {
    const response = await post('/v1/models/gated/segment', reddish);
    expect(response.status).toBe(200);
    const body = (await response.json()) as SegmentationJson;
    expect(body.task).toBe('semantic');
    expect(body.classes?.map((c) => [c.label, c.area])).toEqual([
      ['red', 240],
      ['blue', 16],
    ]);
    expect(body.gate).toEqual({ model: 'red-or-not', version: 1, label: 'red', score: 0.9375 });
    expect(body.timings.gate).toBeGreaterThan(0);
    expect(body.timings.infer).toBeGreaterThan(0);
    expect(body.timings.total).toBeGreaterThanOrEqual(body.timings.gate ?? 0);
    expect(response.headers.get('server-timing')).toMatch(/decode;dur=[\d.]+, gate;dur=[\d.]+, preprocess/);
  });

  it('refuses an image the gate does not accept: 422 GATE_REFUSED with the classifier answer', async () => {
    const response = await post('/v1/models/gated/segment', scene);
    expect(response.status).toBe(422);
    const error = await errorOf(response);
    expect(error.code).toBe('GATE_REFUSED');
    expect(error.message).toBe(
      'Model "gated" segments only images its gate "red-or-not" accepts (red with a score of at least 0.6); the gate scored red 0.1406.',
    );
    expectRefusal(error.details);
  });

  it('draws the overlay of an accepted image from the one decoded image', async () => {
    const response = await post('/v1/models/gated/segment?format=overlay', reddish);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('image/png');
    expect(response.headers.get('server-timing')).toMatch(/gate;dur=/);
    const refused = await post('/v1/models/gated/segment?format=overlay', scene);
    expect((await errorOf(refused)).code).toBe('GATE_REFUSED');
  });

  it('lists its gate in the model status', async () => {
    const model = (await (await fetch(`${server.base}/v1/models/gated`)).json()) as { gate?: unknown };
    expect(model.gate).toEqual({ model: 'red-or-not', accept: ['red'], min_score: 0.6 });
    const pinned = (await (await fetch(`${server.base}/v1/models/gated-version`)).json()) as {
      state: string;
    };
    expect(pinned.state).toBe('failed');
  });

  it('answers a model without a gate without a gate stage', async () => {
    const body = (await (await post('/v1/models/softmax/segment', reddish)).json()) as SegmentationJson;
    expect(body.gate).toBeUndefined();
    expect(body.timings.gate).toBeUndefined();
  });

  it('publishes each decision, counts them in segserve_gate_decisions_total, and times the gate stage', async () => {
    await until(() => decisions.length >= 2, 'the gate decisions');
    expect(decisions.slice(0, 2).map((d) => [d.model, d.gate, d.gateVersion, d.accepted, d.source])).toEqual([
      ['gated', 'red-or-not', 1, true, 'v1'],
      ['gated', 'red-or-not', 1, false, 'v1'],
    ]);
    await until(() => predictions.some((p) => p.model === 'gated'), 'the gated prediction');
    const accepted = predictions.find((p) => p.model === 'gated');
    expect(accepted?.timings.gate).toBeGreaterThan(0);
    // A refused image made no prediction, of the gated model or of its gate: one per accepted image.
    await until(
      () =>
        predictions.filter((p) => p.model === 'gated').length === decisions.filter((d) => d.accepted).length,
      'a prediction for each accepted image',
    );
    expect(predictions.filter((p) => p.model === 'red-or-not')).toHaveLength(0);
    expect(decisions.filter((d) => !d.accepted).length).toBeGreaterThan(0);
    const text = await metrics.metrics();
    expect(text).toMatch(
      /segserve_gate_decisions_total\{model="gated",gate="red-or-not",outcome="accepted"\} [1-9]/,
    );
    expect(text).toMatch(
      /segserve_gate_decisions_total\{model="gated",gate="red-or-not",outcome="refused"\} [1-9]/,
    );
    expect(text).toMatch(
      /segserve_stage_duration_seconds_count\{model="gated",version="1",stage="gate"\} [1-9]/,
    );
    expect(text).not.toMatch(/stage_duration_seconds_count\{model="softmax",version="1",stage="gate"\}/);
  });
});

describe('a gated model on the compatible routes, /v2 and the command line', () => {
  it('/predict and /predict/upload refuse what the gate refuses and segment the rest', async () => {
    const refused = await post('/predict?model=gated', upload(scene));
    expect(refused.status).toBe(422);
    expectRefusal((await errorOf(refused)).details);
    const mask = await post('/predict/upload?model=gated', upload(reddish));
    expect(mask.status).toBe(200);
    expect(mask.headers.get('content-type')).toBe('image/png');
    const classMap = decodeMaskPng(new Uint8Array(await mask.arrayBuffer()), 1_000);
    expect([classMap.width, classMap.height]).toEqual([16, 16]);
    // Class ids in the palette PNG: red (1) everywhere but the blue square (3).
    expect(classMap.values[0]).toBe(1);
    expect(classMap.values[12 * 16 + 5]).toBe(3);
    const upload422 = await post('/predict/upload?model=gated', upload(scene));
    expect(upload422.status).toBe(422);
  });

  it('/predict/batch reports a refused item with its code, and segments the others', async () => {
    const response = await post(
      '/predict/batch?model=gated',
      JSON.stringify({ paths: ['reddish.png', 'scene.png'] }),
      { 'content-type': 'application/json' },
    );
    expect(response.status).toBe(200);
    const body = (await response.json()) as {
      succeeded: number;
      results: Array<{ status: string; result?: SegmentationJson; error?: { code: string } }>;
    };
    expect(body.succeeded).toBe(1);
    expect(body.results[0].result?.gate?.label).toBe('red');
    expect(body.results[1]).toMatchObject({ status: 'error', error: { code: 'GATE_REFUSED' } });
  });

  it('/v2 sends tensors, not an image: the gate does not see them', async () => {
    const data = new Array(3 * 16 * 16).fill(0);
    const response = await post(
      '/v2/models/gated/infer',
      JSON.stringify({ inputs: [{ name: 'image', shape: [1, 3, 16, 16], datatype: 'FP32', data }] }),
      { 'content-type': 'application/json' },
    );
    expect(response.status).toBe(200);
    const body = (await response.json()) as { outputs: Array<{ name: string; shape: number[] }> };
    expect(body.outputs[0]).toMatchObject({ name: 'scores', shape: [1, 4, 16, 16] });
  });

  it('segserve predict segments the accepted images and reports the refused ones', async () => {
    const inputs = join(repo.dir, '..', `gate-cli-${process.pid}`);
    await mkdir(inputs, { recursive: true });
    try {
      await writeFile(join(inputs, 'reddish.png'), reddish);
      await writeFile(join(inputs, 'scene.png'), scene);
      const summary = await predict({
        inputs: [join(inputs, 'reddish.png'), join(inputs, 'scene.png')],
        service: serviceFor(repo.repository),
        model: 'gated',
        outDir: join(inputs, 'out'),
        formats: ['json'],
        recursive: false,
      });
      expect(summary.succeeded).toBe(1);
      expect(summary.failed.map((f) => [f.file.endsWith('scene.png'), f.code])).toEqual([
        [true, 'GATE_REFUSED'],
      ]);
      expect(summary.meanTimings.gate).toBeGreaterThan(0);
    } finally {
      await rm(inputs, { recursive: true, force: true });
    }
  });
});

describe('gates that cannot serve', () => {
  async function status(model: string) {
    const response = await fetch(`${server.base}/v1/models/${model}`);
    return (await response.json()) as { state: string; error?: { code: string; message: string } };
  }

  it('a gate that is not a classifier keeps the gated model from loading, with the reason', async () => {
    expect(await status('gated-by-segmenter')).toMatchObject({
      state: 'failed',
      error: {
        code: 'GATE_INVALID',
        message:
          'Model "gated-by-segmenter" cannot serve behind its gate "softmax": "softmax" is a semantic model, not a classification model (task classification, decoder softmax-classifier)',
      },
    });
    const response = await post('/v1/models/gated-by-segmenter/segment', reddish);
    expect(response.status).toBe(503);
    const error = await errorOf(response);
    expect(error.code).toBe('MODEL_NOT_READY');
    expect(error.message).toContain('"softmax" is a semantic model, not a classification model');
  });

  it('an accepted label the classifier lacks, or a version it does not serve, is refused with the reason', async () => {
    expect((await status('gated-label')).error).toEqual({
      code: 'GATE_INVALID',
      message:
        'Model "gated-label" cannot serve behind its gate "red-or-not": "red-or-not" has no label "blue" to accept (its labels: red, other)',
    });
    expect((await status('gated-version')).error?.message).toContain(
      '"red-or-not" has no ready version 3 (ready: 1)',
    );
  });

  it('a gate that arrives after the gated model lets it load; one that leaves takes it down', async () => {
    const dir = await writeRepository({ late: gated({}) });
    const late = await openTemporaryRepository(dir);
    try {
      expect(late.repository.get('late')?.error?.message).toContain(
        'no model "red-or-not" is in the repository',
      );
      const classifier = tinyRedClassifier();
      await mkdir(join(dir, 'red-or-not', '1'), { recursive: true });
      await writeFile(join(dir, 'red-or-not', '1', 'model.onnx'), classifier.bytes);
      const config: Record<string, unknown> = { ...(classifier.config as object), labels: classifier.labels };
      delete config.name;
      await writeFile(join(dir, 'red-or-not', 'config.yaml'), stringify(config));
      await late.repository.load('red-or-not');
      await until(() => late.repository.get('late')?.state === 'ready', 'the gated model to load');
      const service = serviceFor(late.repository);
      const ticket = service.admit({ model: 'late' }, { source: 'cli' });
      try {
        const seg = await service.segment(ticket, reddish);
        expect(seg.gate).toMatchObject({ model: 'red-or-not', accepted: true, label: 'red' });
      } finally {
        ticket.release();
      }
      await late.repository.unload('red-or-not');
      await until(() => late.repository.get('late')?.state === 'failed', 'the gated model to fail');
      expect(late.repository.get('late')?.error?.message).toContain('"red-or-not" is unloaded');
    } finally {
      await late.close();
    }
  });
});

describe('admission of the gate', () => {
  it('holds the gate classifier under its own limits, and counts a gated request once', async () => {
    const classifier = tinyRedClassifier();
    const dir = await writeRepository({
      gated: gated({}),
      'red-or-not': { ...classifier, config: { ...(classifier.config as object), max_queue: 1 } },
    });
    const own = await openTemporaryRepository(dir);
    const service = serviceFor(own.repository);
    const held = [];
    try {
      // red-or-not admits 2 at once (1 session + 1 queued): two gated requests hold it whole.
      for (let i = 0; i < 2; i++) held.push(service.admit({ model: 'gated' }, { source: 'v1' }));
      expect(service.health().requests).toMatchObject({ admitted: 2, in_flight: 2, refused: 0 });
      const refusal = (() => {
        try {
          service.admit({ model: 'gated' }, { source: 'v1' });
        } catch (error) {
          return error as { code: string; details: Record<string, unknown> };
        }
      })();
      expect(refusal?.code).toBe('QUEUE_FULL');
      expect(refusal?.details).toMatchObject({ model: 'red-or-not', version: 1 });
      expect(() => service.admit({ model: 'red-or-not' }, { source: 'v1' })).toThrow(/QUEUE_FULL|limit/);
      // /v2 bypasses the gate, so it does not need the classifier's room.
      held.push(service.admit({ model: 'gated' }, { source: 'v2' }));
      expect(service.health().requests).toMatchObject({ admitted: 3, in_flight: 3, refused: 2 });
    } finally {
      for (const ticket of held) ticket.release();
      await own.close();
    }
    expect(service.health().requests.in_flight).toBe(0);
  });
});

describe('a classification model served on its own', () => {
  it('answers its top_k classes, scores and uncertainty as JSON on /v1', async () => {
    const response = await post('/v1/models/colour/segment', scene);
    expect(response.status).toBe(200);
    const body = (await response.json()) as SegmentationJson;
    expect(body).toMatchObject({ model: 'colour', version: 1, task: 'classification' });
    if (body.task !== 'classification') throw new Error('not a classification');
    expect(body.classes.map((c) => [c.label, c.class_id])).toEqual([
      ['grey', 3],
      ['red', 0],
      ['blue', 2],
    ]);
    expect(body.classes[0].score).toBeGreaterThan(body.classes[1].score);
    expect(body.uncertainty).toMatchObject({ kind: 'class-scores' });
    expect(body.uncertainty.entropy).toBeGreaterThan(0.5);
    expect(body.image).toEqual({ width: 16, height: 16, format: 'png' });
    expect(Object.keys(body)).not.toContain('instances');
  });

  it('refuses answers made of masks with ANSWER_FORMAT_UNSUPPORTED, on every route', async () => {
    for (const [path, body] of [
      ['/v1/models/colour/segment?format=mask', scene],
      ['/v1/models/colour/segment?format=overlay', scene],
      ['/v1/models/colour/segment?mask_format=png', scene],
      ['/predict/upload?model=colour', upload(scene)],
      ['/api/detect?model=colour', upload(scene)],
    ] as const) {
      const response = await post(path, body);
      expect(response.status, path).toBe(400);
      const error = await errorOf(response);
      expect(error.code, path).toBe('ANSWER_FORMAT_UNSUPPORTED');
      expect(error.message).toMatch(/^Model "colour" is a classification model and gives no /);
    }
    const viaAccept = await post('/v1/models/colour/segment', scene, { accept: 'image/png' });
    expect((await errorOf(viaAccept)).code).toBe('ANSWER_FORMAT_UNSUPPORTED');
  });

  it('runs raw tensors on /v2 like any model', async () => {
    const data = new Array(3 * 16 * 16).fill(0.5);
    const response = await post(
      '/v2/models/colour/infer',
      JSON.stringify({ inputs: [{ name: 'image', shape: [1, 3, 16, 16], datatype: 'FP32', data }] }),
      { 'content-type': 'application/json' },
    );
    expect(response.status).toBe(200);
    const body = (await response.json()) as { outputs: Array<{ shape: number[]; data: number[] }> };
    expect(body.outputs[0].shape).toEqual([1, 4]);
    expect(body.outputs[0].data).toEqual([5, 5, 5, 2]);
  });

  it('counts its best class and entropy in the metrics', async () => {
    await until(() => predictions.some((p) => p.model === 'colour'), 'the classification prediction');
    const event = predictions.find((p) => p.model === 'colour');
    expect(event?.summary.task).toBe('classification');
    if (event?.summary.task !== 'classification') return;
    expect(event.summary.classes.map((c) => c.label)).toEqual(['grey', 'red', 'blue']);
    const text = await metrics.metrics();
    expect(text).toMatch(/segserve_class_predictions_total\{model="colour",version="1",class="grey"\} 1/);
    expect(text).toMatch(/segserve_prediction_entropy_count\{model="colour",version="1"\} 1/);
  });
});
