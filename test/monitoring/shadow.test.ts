/**
 * Shadow traffic with tiny models whose answers are known exactly, through the HTTP app: sampled copies of
 * served requests run on the shadow variants after the answers were sent, compared, counted, kept (the least
 * agreeing, with image and masks) and shown by the API and /metrics, while the clients' answers stay exactly
 * what they are without shadows. A shadow that fails, sleeps or finds its model busy is counted and dropped,
 * never waited for, and its queue never grows past its bound. The endpoints' traffic policies are put in force
 * through the admin API, over an embedded database (shadow-helpers.ts).
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { colorForIndex } from '../../src/masks/index.js';
import { ModelRepository } from '../../src/models/index.js';
import { ServingMetrics } from '../../src/monitoring/metrics.js';
import { EDGE_ALPHA, FILL_ALPHA, ShadowTraffic, UNMATCHED_COLOR } from '../../src/monitoring/shadow/index.js';
import type { EndpointShadowsJson, ShadowVariantJson } from '../../src/monitoring/shadow/wire-types.js';
import type { PredictionCompleted } from '../../src/serving/events.js';
import type { InferenceService } from '../../src/serving/service.js';
import { caught } from '../helpers/caught.js';
import { serviceFor } from '../helpers/serving.js';
import {
  paintRgb,
  RED,
  semanticScene,
  softmaxWeightsBlindTo,
  tinySoftmaxModel,
  tinySoftmaxVariant,
  tinyYoloSegModel,
  yoloScene,
} from '../helpers/tiny-models.js';
import { errorOf, png, writeRepository } from '../http/helpers.js';
import { Gate, gatedFactory, oneVariant, shadowApp, until } from './shadow-helpers.js';

let dir: string;
let repository: ModelRepository;
let service: InferenceService;
let shadows: ShadowTraffic;
let base: string;
let close: () => Promise<void>;
const gate = new Gate();
const published: PredictionCompleted[] = [];
const logged: Array<{ level: string; fields: Record<string, unknown>; message: string }> = [];
/** Sampling decisions to hand out, in order; 0 (always sampled) once used up. */
const randoms: number[] = [];
let scene: Uint8Array;
let sceneWithoutGreen: Uint8Array;
let yolo: Uint8Array;

beforeAll(async () => {
  const softmax = tinySoftmaxModel();
  // softmax v1 serves; v2 is blind to green. "broken" lists 3 labels for 4 output channels: every answer of it
  // fails in its decoder. "sleepy" is the softmax held at the gate while the test says so.
  dir = await writeRepository({
    softmax: { ...softmax, versions: [1, 2] },
    broken: { ...softmax, config: { ...(softmax.config as object), labels: ['background', 'red', 'green'] } },
    sleepy: softmax,
    yolo: { ...tinyYoloSegModel(), versions: [1, 2] },
  });
  await writeFile(join(dir, 'softmax', '2', 'model.onnx'), tinySoftmaxVariant(softmaxWeightsBlindTo(2)));
  repository = await ModelRepository.open(dir, { createRuntime: gatedFactory(gate, ['sleepy']) });
  service = serviceFor(repository);
  const metrics = new ServingMetrics(service, { processMetrics: false });
  service.events.on('prediction.completed', 'test', (event) => {
    published.push(event);
  });
  shadows = new ShadowTraffic(service, {
    registry: metrics.registry,
    log: (level, fields, message) => logged.push({ level, fields, message }),
    queueSize: 2,
    keep: 2,
    random: () => randoms.shift() ?? 0,
  });
  const app = await shadowApp({ repository, shadows, metrics });
  base = app.base;
  close = () => app.close();
  const softmaxShadow = (name: string, sample_rate: number) => [
    { name, model: 'softmax', version: 2, sample_rate },
  ];
  await app.putPolicy('plain', oneVariant('softmax', 1));
  await app.putPolicy('paint', oneVariant('softmax', 1, softmaxShadow('blind', 1)));
  await app.putPolicy('sampled', oneVariant('softmax', 1, softmaxShadow('half', 0.5)));
  await app.putPolicy('tensors', oneVariant('softmax', 1, softmaxShadow('blind', 1)));
  await app.putPolicy(
    'pets',
    oneVariant('yolo', 2, [{ name: 'old', model: 'yolo', version: 1, sample_rate: 1 }]),
  );
  const onSoftmax = (name: string, model: string) =>
    oneVariant('softmax', 1, [{ name, model, version: 1, sample_rate: 1 }]);
  await app.putPolicy('faulty', onSoftmax('broken', 'broken'));
  await app.putPolicy('slow', onSoftmax('sleepy', 'sleepy'));
  await app.putPolicy('crowded', onSoftmax('sleepy', 'sleepy'));
  scene = new Uint8Array(await png(semanticScene()));
  sceneWithoutGreen = new Uint8Array(await png(paintRgb(16, 16, [{ x0: 2, y0: 2, x1: 8, y1: 8, rgb: RED }])));
  yolo = new Uint8Array(await png(yoloScene()));
});

afterAll(async () => {
  gate.release();
  await close?.();
  await shadows?.close();
  await service?.close();
});

/** The answer of `endpoint` for `body`, timings left out (the only part that differs between two answers). */
async function segment(endpoint: string, body: Uint8Array): Promise<Record<string, unknown>> {
  const response = await fetch(`${base}/v1/models/${endpoint}/segment`, {
    method: 'POST',
    body,
    headers: { 'content-type': 'application/octet-stream' },
  });
  expect(response.status).toBe(200);
  const answer = (await response.json()) as Record<string, unknown>;
  // Only the timings differ from one answer of the same image to the next.
  const { timings: _timings, ...rest } = answer;
  return rest;
}

async function summary(endpoint: string): Promise<EndpointShadowsJson> {
  const response = await fetch(`${base}/v1/endpoints/${endpoint}/shadows`);
  expect(response.status).toBe(200);
  return (await response.json()) as EndpointShadowsJson;
}

function variantOf(endpoint: string, variant: string): ShadowVariantJson | undefined {
  return shadows.summary(endpoint).variants.find((v) => v.variant === variant);
}

/** Every request of the endpoint has reached the variant (compared, dropped, failed or not sampled). */
function heard(endpoint: string, variant: string): number {
  const requests = variantOf(endpoint, variant)?.requests;
  return requests ? requests.compared + requests.dropped + requests.failed + requests.not_sampled : 0;
}

async function settle(endpoint: string, variant: string, requests: number): Promise<void> {
  await until(() => heard(endpoint, variant) === requests, `${requests} requests at ${endpoint}/${variant}`);
  await shadows.settled();
}

async function rgba(bytes: ArrayBuffer): Promise<{ width: number; data: Buffer }> {
  const { data, info } = await sharp(Buffer.from(bytes))
    .ensureAlpha()
    .raw()
    .toBuffer({ resolveWithObject: true });
  return { width: info.width, data };
}

function pixel(image: { width: number; data: Buffer }, x: number, y: number): number[] {
  const i = (y * image.width + x) * 4;
  return [...image.data.subarray(i, i + 4)];
}

async function metricsText(): Promise<string> {
  return (await fetch(`${base}/metrics`)).text();
}

function sample(text: string, line: string): number | undefined {
  const found = text.split('\n').find((l) => l.startsWith(`${line} `));
  return found === undefined ? undefined : Number(found.split(' ').at(-1));
}

describe('shadow comparisons (semantic)', () => {
  const answers: Array<Record<string, unknown>> = [];
  const images = () => [scene, sceneWithoutGreen, scene, sceneWithoutGreen];

  beforeAll(async () => {
    // The same requests first through an endpoint without shadow, then through one with v2 in shadow.
    for (const image of images()) answers.push(await segment('plain', image));
    published.length = 0;
    // One at a time, each copy compared before the next request: none finds the queue full.
    for (const [i, image] of images().entries()) {
      answers.push(await segment('paint', image));
      await settle('paint', 'blind', i + 1);
    }
  });

  it('answers clients exactly as without the shadow, and publishes no prediction of the shadow', () => {
    expect(answers.slice(4)).toEqual(answers.slice(0, 4));
    expect(answers.every((a) => a.model === 'softmax' && a.version === 1 && a.variant === 'main')).toBe(true);
    // Four served predictions, none by the shadow's version (its runs are not published).
    expect(published.map((e) => [e.endpoint, e.variant, e.model, e.version, e.source])).toEqual(
      Array(4).fill(['paint', 'main', 'softmax', 1, 'v1']),
    );
    expect(published[0].shadows).toEqual([{ variant: 'blind', model: 'softmax', version: 2, sampleRate: 1 }]);
  });

  it('compares every sampled copy: agreement 2/3 where the shadow misses green, 1 where there is no green', async () => {
    const { endpoint, variants } = await summary('paint');
    expect(endpoint).toBe('paint');
    expect(variants).toHaveLength(1);
    const blind = variants[0];
    expect(blind).toMatchObject({
      variant: 'blind',
      model: 'softmax',
      version: 2,
      sample_rate: 1,
      task: 'semantic',
      requests: { compared: 4, dropped: 0, failed: 0, not_sampled: 0 },
      queue: { depth: 0, capacity: 2 },
      instances: null,
    });
    expect(blind.agreement.mean).toBeCloseTo((2 / 3 + 1 + 2 / 3 + 1) / 4, 12);
    expect(blind.agreement.min).toBeCloseTo(2 / 3, 12);
    const { edges, counts } = blind.agreement.histogram;
    expect(edges).toHaveLength(21);
    expect(counts[13]).toBe(2); // [0.65, 0.7)
    expect(counts[19]).toBe(2); // [0.95, 1]
    expect(counts.reduce((a, b) => a + b, 0)).toBe(4);
    expect(blind.latency_ms.served).toBeGreaterThan(0);
    expect(blind.latency_ms.difference).toBeCloseTo(blind.latency_ms.shadow! - blind.latency_ms.served!, 9);
  });

  it('keeps the least agreeing comparisons (2 here), with the per-class figures', async () => {
    const [blind] = (await summary('paint')).variants;
    expect(blind.disagreements).toHaveLength(2);
    for (const kept of blind.disagreements) {
      expect(kept.agreement).toBeCloseTo(2 / 3, 12);
      expect(kept.image).toEqual({ width: 16, height: 16, format: 'png' });
      expect(kept.served).toEqual({ model: 'softmax', version: 1, variant: 'main' });
      expect(kept.request_id).toMatch(/\S/);
      expect(kept.detail.kind).toBe('class-map');
      if (kept.detail.kind !== 'class-map') continue;
      expect(kept.detail.classes.map((c) => [c.label, c.served_pixels, c.shadow_pixels, c.iou])).toEqual([
        ['background', 172, 188, 172 / 188],
        ['red', 36, 36, 1],
        ['green', 16, 0, 0],
        ['blue', 32, 32, 1],
      ]);
      expect(kept.detail.pixel_agreement).toBeCloseTo(240 / 256, 12);
    }
  });

  it('serves a kept comparison’s image and both answers as masks to lay over it', async () => {
    const [kept] = (await summary('paint')).variants[0].disagreements;
    const image = await fetch(`${base}${kept.links.image}`);
    expect(image.headers.get('content-type')).toBe('image/png');
    expect(new Uint8Array(await image.arrayBuffer())).toEqual(scene);
    const served = await fetch(`${base}${kept.links.served}`);
    expect(served.headers.get('content-type')).toBe('image/png');
    const servedMask = await rgba(await served.arrayBuffer());
    const shadowMask = await rgba(await (await fetch(`${base}${kept.links.shadow}`)).arrayBuffer());
    // Background transparent on both; green (x 10..14, y 2..6) only in the served answer; red the same on both.
    // Each mask is a translucent fill inside an opaque edge.
    expect(pixel(servedMask, 0, 0)[3]).toBe(0);
    expect(pixel(servedMask, 11, 3)).toEqual([...colorForIndex(2), FILL_ALPHA]);
    expect(pixel(servedMask, 10, 2)).toEqual([...colorForIndex(2), EDGE_ALPHA]);
    expect(pixel(shadowMask, 11, 3)[3]).toBe(0);
    expect(pixel(shadowMask, 10, 2)[3]).toBe(0);
    expect(pixel(servedMask, 3, 3)).toEqual([...colorForIndex(1), FILL_ALPHA]);
    expect(pixel(shadowMask, 3, 3)).toEqual([...colorForIndex(1), FILL_ALPHA]);
    expect(pixel(shadowMask, 7, 5)).toEqual([...colorForIndex(1), EDGE_ALPHA]);
    const gone = await fetch(`${base}/v1/endpoints/paint/shadows/comparisons/no-such-id/served`);
    expect(gone.status).toBe(404);
    expect((await errorOf(gone)).code).toBe('SHADOW_COMPARISON_NOT_FOUND');
    // A comparison belongs to its endpoint.
    expect((await fetch(`${base}/v1/endpoints/other/shadows/comparisons/${kept.id}/image`)).status).toBe(404);
  });

  it('exports the comparisons to /metrics, and no shadow prediction as live traffic', async () => {
    const text = await metricsText();
    const labels = 'endpoint="paint",variant="blind"';
    expect(sample(text, `segserve_shadow_agreement_count{${labels}}`)).toBe(4);
    expect(sample(text, `segserve_shadow_agreement_sum{${labels}}`)).toBeCloseTo(4 / 3 + 2, 9);
    expect(sample(text, `segserve_shadow_agreement_bucket{le="0.7",${labels}}`)).toBe(2);
    expect(sample(text, `segserve_shadow_requests_total{${labels},outcome="compared"}`)).toBe(4);
    expect(sample(text, `segserve_shadow_requests_total{${labels},outcome="dropped"}`)).toBe(0);
    expect(sample(text, `segserve_shadow_latency_difference_seconds_count{${labels}}`)).toBe(4);
    expect(text).not.toContain('source="shadow"');
    expect(
      sample(text, 'segserve_predictions_total{model="softmax",version="2",source="v1"}'),
    ).toBeUndefined();
  });

  it('lists the endpoint among all endpoints with shadows; an endpoint without any has none', async () => {
    const all = (await (await fetch(`${base}/v1/shadows`)).json()) as { endpoints: EndpointShadowsJson[] };
    expect(all.endpoints.map((e) => e.endpoint)).toContain('paint');
    expect(await summary('nothing-here')).toEqual({ endpoint: 'nothing-here', variants: [] });
  });
});

describe('sampling', () => {
  it('copies the share of requests its rate says, and counts the others as not sampled', async () => {
    randoms.push(0.1, 0.9, 0.4, 0.6, 0.49, 0.5);
    for (let i = 0; i < 6; i++) {
      await segment('sampled', sceneWithoutGreen);
      await settle('sampled', 'half', i + 1);
    }
    expect(variantOf('sampled', 'half')?.requests).toEqual({
      compared: 3,
      dropped: 0,
      failed: 0,
      not_sampled: 3,
    });
  });
});

describe('instances', () => {
  it('matches the instances of two versions with the same weights: full agreement, same masks', async () => {
    for (let i = 0; i < 2; i++) {
      await segment('pets', yolo);
      await settle('pets', 'old', i + 1);
    }
    const old = (await summary('pets')).variants[0];
    expect(old).toMatchObject({
      task: 'instance',
      requests: { compared: 2, dropped: 0, failed: 0, not_sampled: 0 },
      agreement: { mean: 1, min: 1 },
      instances: { mean_matched_iou: 1, class_agreement: 1, mean_count_difference: 0 },
    });
    const kept = old.disagreements[0];
    expect(kept.detail).toMatchObject({
      kind: 'instances',
      served_count: 3,
      shadow_count: 3,
      count_difference: 0,
      matched: 3,
      f1: 1,
      unmatched_served: [],
      unmatched_shadow: [],
    });
    const served = await (await fetch(`${base}${kept.links.served}`)).arrayBuffer();
    const shadow = await (await fetch(`${base}${kept.links.shadow}`)).arrayBuffer();
    // Same masks, same pair colours: the two PNGs are the same bytes; no instance is red (unmatched).
    expect(new Uint8Array(shadow)).toEqual(new Uint8Array(served));
    const mask = await rgba(served);
    const colours = new Set<string>();
    for (let i = 0; i < mask.data.length; i += 4)
      if (mask.data[i + 3] > 0) colours.add(mask.data.subarray(i, i + 3).join());
    expect(colours.size).toBe(3);
    expect(colours.has(UNMATCHED_COLOR.join())).toBe(false);
  });
});

describe('a shadow that fails', () => {
  it('is counted and logged once a minute; the served answers are unchanged', async () => {
    const before = await segment('plain', scene);
    const during: Array<Record<string, unknown>> = [];
    for (let i = 0; i < 3; i++) {
      during.push(await segment('faulty', scene));
      await settle('faulty', 'broken', i + 1);
    }
    expect(during).toEqual([before, before, before]);
    expect(variantOf('faulty', 'broken')?.requests).toEqual({
      compared: 0,
      dropped: 0,
      failed: 3,
      not_sampled: 0,
    });
    const lines = logged.filter((l) => l.fields.endpoint === 'faulty');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({
      level: 'warn',
      message: 'shadow failed',
      fields: { variant: 'broken', model: 'broken', version: 1, code: 'MODEL_OUTPUT_MISMATCH' },
    });
    const text = await metricsText();
    expect(
      sample(text, 'segserve_shadow_requests_total{endpoint="faulty",variant="broken",outcome="failed"}'),
    ).toBe(3);
  });

  it('names a model gone since the request was served: failed, not dropped', async () => {
    // A policy names only models that serve, so the event is published here as the core would have, had the
    // model been unloaded between the request and its copy.
    const [served] = published;
    service.events.emit({
      ...served,
      endpoint: 'gone',
      shadows: [{ variant: 'ghost', model: 'no-such-model', version: 1, sampleRate: 1 }],
    });
    await settle('gone', 'ghost', 1);
    expect(variantOf('gone', 'ghost')?.requests.failed).toBe(1);
  });
});

describe('a shadow that sleeps', () => {
  it('drops copies once its queue is full, never blocks the served requests, and compares the rest after', async () => {
    const before = await segment('plain', scene);
    gate.hold();
    // Eight requests, answered while the first copy sleeps at the gate: two copies wait, five are dropped.
    const answers = await Promise.all(Array.from({ length: 8 }, () => segment('slow', scene)));
    // Five counted as dropped; two waiting in the queue; one at the gate.
    await until(
      () => heard('slow', 'sleepy') === 5 && variantOf('slow', 'sleepy')?.queue.depth === 2,
      'all eight copies',
    );
    expect(answers).toEqual(Array(8).fill(before));
    expect(gate.waiting).toBe(1);
    const sleepy = variantOf('slow', 'sleepy');
    expect(sleepy?.queue).toEqual({ depth: 2, capacity: 2 });
    expect(sleepy?.requests).toEqual({ compared: 0, dropped: 5, failed: 0, not_sampled: 0 });
    expect(sleepy?.dropped_by_reason).toEqual({ queue_full: 5, busy: 0, not_comparable: 0 });
    gate.release();
    await shadows.settled();
    expect(variantOf('slow', 'sleepy')?.requests).toEqual({
      compared: 3,
      dropped: 5,
      failed: 0,
      not_sampled: 0,
    });
    expect(variantOf('slow', 'sleepy')?.queue.depth).toBe(0);
  });

  it('is dropped as busy, not queued, while live traffic holds its model', async () => {
    gate.hold();
    // A live request holds sleepy's one worker.
    const live = fetch(`${base}/v1/models/sleepy/segment`, { method: 'POST', body: scene });
    await until(() => gate.waiting === 1, 'the live request at the gate');
    // One copy at a time, each settled before the next: copies sent back to back can find the shadow's short
    // queue still holding the previous one on a loaded machine (queue_full), which is not what this is about.
    for (let i = 1; i <= 3; i++) {
      await segment('crowded', scene);
      await settle('crowded', 'sleepy', i);
    }
    // Not one shadow run reached the model: only the live request waits there.
    expect(gate.waiting).toBe(1);
    expect(variantOf('crowded', 'sleepy')?.dropped_by_reason).toEqual({
      queue_full: 0,
      busy: 3,
      not_comparable: 0,
    });
    gate.release();
    expect((await live).status).toBe(200);
  });
});

describe('requests that cannot be compared', () => {
  it('counts raw tensor requests (no image, no masks) as dropped, not comparable', async () => {
    const tensor = {
      inputs: [{ name: 'image', datatype: 'FP32', shape: [1, 3, 16, 16], data: new Array(768).fill(0) }],
    };
    const response = await fetch(`${base}/v2/models/tensors/infer`, {
      method: 'POST',
      body: JSON.stringify(tensor),
      headers: { 'content-type': 'application/json' },
    });
    expect(response.status).toBe(200);
    await settle('tensors', 'blind', 1);
    expect(variantOf('tensors', 'blind')?.dropped_by_reason.not_comparable).toBe(1);
  });
});

describe('settings', () => {
  it('refuses a duty cycle outside (0, 1] and a negative queue', async () => {
    for (const dutyCycle of [0, -0.5, 1.5, Number.NaN]) {
      expect(await caught(async () => new ShadowTraffic(service, { dutyCycle }))).toMatchObject({
        code: 'INVALID_ARGUMENT',
      });
    }
    expect(await caught(async () => new ShadowTraffic(service, { queueSize: -1 }))).toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
  });
});
