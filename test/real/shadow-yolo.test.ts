/**
 * Shadow traffic on the real models (skipped with a message when ../shared is missing): yolov8n-seg version 2
 * (the float32 file) serves the 79 photos of coco-val2017-mini over HTTP while version 1 (the int8 file it was
 * made from) runs in shadow. Checked:
 * - one request at a time, half of them sampled (a seeded draw): a comparison for every sampled request and
 *   none for the others; the two files' agreement is high;
 * - clients never see the shadow: every answer is the same as without it (timings aside), one at a time and
 *   under a concurrent load where the slower int8 shadow cannot keep up;
 * - under that load the shadow drops copies instead of queueing them: every request is compared or dropped,
 *   its queue is never deeper than its bound, and no served request fails.
 * The endpoints' traffic policies are put in force through the admin API (over an embedded database).
 * Prints the figures (agreement, instance IoU, counts, latency difference) for the record.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ModelRepository } from '../../src/models/index.js';
import { ServingMetrics } from '../../src/monitoring/metrics.js';
import { ShadowTraffic } from '../../src/monitoring/shadow/index.js';
import type { ShadowVariantJson } from '../../src/monitoring/shadow/wire-types.js';
import { COCO_MINI } from '../helpers/datasets.js';
import { REPOSITORY_DIR } from '../helpers/paths.js';
import { seededRandom } from '../helpers/random.js';
import { serviceFor } from '../helpers/serving.js';
import { describeWithShared } from '../helpers/shared.js';
import { oneVariant, type ShadowApp, shadowApp, until } from '../monitoring/shadow-helpers.js';

const MODEL = 'yolov8n-seg';
const SEED = 12;
const CONCURRENCY = 4;

function describeShadowYolo(body: () => void): void {
  describeWithShared('shadow traffic on real models', ['models', 'yolov8n-seg-coco'], () => {
    describeWithShared(
      'yolov8n-seg v2 serving, v1 (int8) in shadow',
      ['datasets', 'coco-val2017-mini'],
      body,
    );
  });
}

describeShadowYolo(() => {
  let repository: ModelRepository;
  let shadows: ShadowTraffic;
  let app: ShadowApp;
  let photos: Array<{ name: string; bytes: Uint8Array }>;
  /** Answers by photo, without shadow. */
  const plain = new Map<string, unknown>();
  const sequential = new Map<string, unknown>();
  const loaded = new Map<string, unknown>();
  let sampled = 0;
  let oneByOne: ShadowVariantJson;
  let underLoad: ShadowVariantJson;
  let deepest = 0;
  let failedUnderLoad = 0;

  async function segment(endpoint: string, bytes: Uint8Array): Promise<{ status: number; answer: unknown }> {
    const response = await fetch(`${app.base}/v1/models/${endpoint}/segment`, {
      method: 'POST',
      body: bytes,
      headers: { 'content-type': 'application/octet-stream' },
    });
    const answer = (await response.json()) as Record<string, unknown>;
    const { timings: _timings, ...rest } = answer;
    return { status: response.status, answer: rest };
  }

  function variant(endpoint: string): ShadowVariantJson | undefined {
    return shadows.summary(endpoint).variants[0];
  }

  function heard(endpoint: string): number {
    const requests = variant(endpoint)?.requests;
    return requests ? requests.compared + requests.dropped + requests.failed + requests.not_sampled : 0;
  }

  beforeAll(async () => {
    repository = await ModelRepository.open(REPOSITORY_DIR, { models: [MODEL] });
    // The version policy serves the newest only; the int8 file is loaded beside it for the shadow.
    const outcome = await repository.loadVersion(MODEL, 1);
    expect(outcome.state).toBe('ready');
    const service = serviceFor(repository);
    const metrics = new ServingMetrics(service, { processMetrics: false });
    const random = seededRandom(SEED);
    shadows = new ShadowTraffic(service, { registry: metrics.registry, random });
    app = await shadowApp({ repository, shadows, metrics });
    const int8 = (sample_rate: number) => [{ name: 'int8', model: MODEL, version: 1, sample_rate }];
    await app.putPolicy('coco-plain', oneVariant(MODEL, 2));
    await app.putPolicy('coco', oneVariant(MODEL, 2, int8(0.5)));
    await app.putPolicy('coco-load', oneVariant(MODEL, 2, int8(1)));
    const names = (await readdir(join(COCO_MINI, 'images'))).filter((n) => n.endsWith('.jpg')).sort();
    photos = await Promise.all(
      names.map(async (name) => ({ name, bytes: await readFile(join(COCO_MINI, 'images', name)) })),
    );

    for (const photo of photos) {
      const { status, answer } = await segment('coco-plain', photo.bytes);
      expect(status).toBe(200);
      plain.set(photo.name, answer);
    }

    // One at a time, half sampled: each copy compared before the next request, so none is dropped.
    const draws = seededRandom(SEED);
    sampled = photos.filter(() => draws() < 0.5).length;
    for (const [i, photo] of photos.entries()) {
      const { status, answer } = await segment('coco', photo.bytes);
      expect(status).toBe(200);
      sequential.set(photo.name, answer);
      await until(() => heard('coco') === i + 1, `request ${i + 1} at the shadow`);
      await shadows.settled();
    }
    oneByOne = variant('coco') as ShadowVariantJson;

    // Every photo at once, CONCURRENCY at a time, every request copied: the int8 shadow (3x slower) drops.
    const watch = setInterval(() => {
      deepest = Math.max(deepest, variant('coco-load')?.queue.depth ?? 0);
    }, 2);
    let next = 0;
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next < photos.length) {
          const photo = photos[next++];
          const { status, answer } = await segment('coco-load', photo.bytes);
          if (status !== 200) failedUnderLoad++;
          loaded.set(photo.name, answer);
        }
      }),
    );
    await until(() => heard('coco-load') === photos.length, 'every copy compared or dropped');
    await shadows.settled();
    clearInterval(watch);
    underLoad = variant('coco-load') as ShadowVariantJson;

    const figures = (v: ShadowVariantJson) =>
      `compared ${v.requests.compared}, dropped ${v.requests.dropped} (${JSON.stringify(v.dropped_by_reason)}), ` +
      `not sampled ${v.requests.not_sampled}, failed ${v.requests.failed}; agreement mean ` +
      `${v.agreement.mean?.toFixed(4)} min ${v.agreement.min?.toFixed(4)}; matched-instance IoU ` +
      `${v.instances?.mean_matched_iou?.toFixed(4)}, class agreement ${v.instances?.class_agreement?.toFixed(4)}, ` +
      `mean count difference ${v.instances?.mean_count_difference.toFixed(3)}; latency ms served ` +
      `${v.latency_ms.served?.toFixed(1)} shadow ${v.latency_ms.shadow?.toFixed(1)} difference ` +
      `${v.latency_ms.difference?.toFixed(1)}; histogram ${v.agreement.histogram.counts.join(' ')}`;
    console.log(`shadow yolov8n-seg v1 (int8) behind v2, one at a time, rate 0.5: ${figures(oneByOne)}`);
    console.log(
      `shadow yolov8n-seg v1 (int8) behind v2, concurrency ${CONCURRENCY}, rate 1: ${figures(underLoad)}; ` +
        `deepest queue ${deepest}`,
    );
  }, 900_000);

  afterAll(async () => {
    await app?.close();
    await shadows?.close();
    await repository?.close();
  });

  it('records a comparison for every sampled request and none for the others', () => {
    expect(photos).toHaveLength(79);
    expect(sampled).toBeGreaterThan(20);
    expect(oneByOne.requests).toEqual({
      compared: sampled,
      dropped: 0,
      failed: 0,
      not_sampled: 79 - sampled,
    });
    expect(oneByOne.agreement.histogram.counts.reduce((a, b) => a + b, 0)).toBe(sampled);
    expect(oneByOne.task).toBe('instance');
  });

  it('finds the two files in high agreement', () => {
    expect(oneByOne.agreement.mean).toBeGreaterThan(0.8);
    expect(oneByOne.instances?.mean_matched_iou).toBeGreaterThan(0.9);
    expect(oneByOne.instances?.class_agreement).toBeGreaterThan(0.95);
    expect(Math.abs(oneByOne.instances?.mean_count_difference ?? 1)).toBeLessThan(0.5);
    // The least agreeing are kept for a look, least first.
    const kept = oneByOne.disagreements.map((d) => d.agreement);
    expect(kept.length).toBe(10);
    expect(kept).toEqual([...kept].sort((a, b) => a - b));
    expect(kept[0]).toBe(oneByOne.agreement.min);
  });

  it('never shows the shadow to clients: every answer is the one given without it', () => {
    expect(sequential.size).toBe(79);
    expect(loaded.size).toBe(79);
    for (const photo of photos) {
      expect(sequential.get(photo.name), photo.name).toEqual(plain.get(photo.name));
      expect(loaded.get(photo.name), photo.name).toEqual(plain.get(photo.name));
    }
    expect(failedUnderLoad).toBe(0);
  });

  it('drops rather than queues under load: every copy compared or dropped, the queue within its bound', () => {
    const { requests, dropped_by_reason: drops, queue } = underLoad;
    expect(requests.compared + requests.dropped).toBe(79);
    expect(requests.failed).toBe(0);
    expect(requests.not_sampled).toBe(0);
    expect(drops.queue_full + drops.busy).toBe(requests.dropped);
    expect(drops.not_comparable).toBe(0);
    expect(deepest).toBeLessThanOrEqual(queue.capacity);
    expect(queue.depth).toBe(0);
  });
});
