/**
 * The encoder pool: answers encoded in its worker are the very bytes the inline encoders give, a crashed worker
 * fails only its job and is replaced, close drains and refuses, and a large overlay encoded through the service
 * leaves the main thread free (a 5 ms interval keeps ticking).
 */
import { rm } from 'node:fs/promises';
import { Worker } from 'node:worker_threads';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { ModelRepository } from '../../src/models/index.js';
import { EncoderPool } from '../../src/serving/encoder-pool.js';
import type { PredictionCompleted } from '../../src/serving/events.js';
import type { Segmentation } from '../../src/serving/pipeline.js';
import { type EncodeJob, InferenceService } from '../../src/serving/service.js';
import type { SegmentationJson } from '../../src/serving/types.js';
import { InProcessRuntime } from '../helpers/in-process-runtime.js';
import { semanticScene, tinySoftmaxModel, tinyYoloSegModel, yoloScene } from '../helpers/tiny-models.js';
import { png, writeRepository } from '../http/helpers.js';

let dir: string;
let repository: ModelRepository;
/** Encodes every answer inline. */
let inline: InferenceService;
/** Encodes every answer in its worker. */
let pooled: InferenceService;

beforeAll(async () => {
  dir = await writeRepository({ softmax: tinySoftmaxModel(), yolo: tinyYoloSegModel() });
  repository = await ModelRepository.open(dir, { createRuntime: InProcessRuntime.factory() });
  inline = new InferenceService(repository, { encodeInlineMaxPixels: Number.MAX_SAFE_INTEGER });
  pooled = new InferenceService(repository, { encodeInlineMaxPixels: 0 });
});

afterAll(async () => {
  await pooled?.close();
  await inline?.close();
  await rm(dir, { recursive: true, force: true });
});

async function segment(service: InferenceService, model: string, bytes: Uint8Array): Promise<Segmentation> {
  const ticket = service.admit({ model }, { source: 'cli' });
  try {
    return await service.segment(ticket, bytes, { keepImage: true });
  } finally {
    ticket.release();
  }
}

/** The answer without its timings, which differ from run to run. */
function withoutTimings(json: SegmentationJson): Omit<SegmentationJson, 'timings'> {
  const { timings: _, ...rest } = json;
  return rest;
}

const JOBS: EncodeJob[] = [
  { kind: 'json' },
  { kind: 'json', options: { maskFormat: 'polygon' } },
  { kind: 'json', options: { maskFormat: 'png' } },
  { kind: 'mask' },
  { kind: 'overlay' },
  { kind: 'coco', imageId: 7, fileName: 'a.png', categoryId: (_label, classId) => 100 + classId },
];

it('publishes the result with its masks whole after an answer encoded in the worker', async () => {
  // The worker lends the result's arrays and gives back new ones: the event must carry those, not the detached.
  const published: PredictionCompleted[] = [];
  const off = pooled.events.on('prediction.completed', 'test', (event) => {
    published.push(event);
  });
  try {
    const ticket = pooled.admit({ model: 'softmax' }, { source: 'cli' });
    const seg = await pooled.segment(ticket, await png(semanticScene()));
    await pooled.encode(seg, { kind: 'json' });
    ticket.release();
    await vi.waitFor(() => expect(published).toHaveLength(1));
    const result = published[0].result;
    if (result?.task !== 'semantic') throw new Error('expected a semantic result');
    expect(result.classMap.length).toBe(result.width * result.height);
    expect(result).toBe(seg.result);
  } finally {
    off();
  }
});

describe.each([
  ['semantic (tiny softmax)', 'softmax', () => png(semanticScene())],
  ['instance (tiny yolo-seg)', 'yolo', () => png(yoloScene())],
])('encoding in the worker, %s', (_name, model, image) => {
  it('gives the bytes of inline encoding for json, mask, overlay and coco', async () => {
    const bytes = await image();
    const a = await segment(inline, model, bytes);
    const b = await segment(pooled, model, bytes);
    for (const job of JOBS) {
      const expected = await inline.encode(a, job);
      const encodeBefore = b.timings.encode;
      const got = await pooled.encode(b, job);
      if (job.kind === 'json') {
        expect(withoutTimings(got as SegmentationJson), JSON.stringify(job)).toEqual(
          withoutTimings(expected as SegmentationJson),
        );
        expect((got as SegmentationJson).timings.encode).toBeGreaterThan(0);
      } else if (Buffer.isBuffer(expected)) {
        expect(Buffer.isBuffer(got), job.kind).toBe(true);
        expect(Buffer.compare(got as Buffer, expected), job.kind).toBe(0);
      } else {
        expect(got, job.kind).toEqual(expected);
      }
      // The worker's encode time is added, and the lent arrays came back: the next job reads them.
      expect(b.timings.encode).toBeGreaterThan(encodeBefore);
    }
    expect(b.result).toEqual(a.result);
    expect(b.rgb).toEqual(a.rgb);
  });
});

/** A semantic segmentation of side x side pixels with a few classes and an image: a slow overlay. */
function bigSegmentation(side: number): Segmentation {
  const classMap = new Uint8Array(side * side);
  for (let i = 0; i < classMap.length; i++) classMap[i] = (i % side) * 4 < side ? 1 : 0;
  return {
    model: 'm',
    version: 1,
    result: {
      task: 'semantic',
      width: side,
      height: side,
      classMap,
      labels: ['background', 'a'],
      areas: [{ classId: 1, label: 'a', area: classMap.length / 4 }],
      uncertainty: { kind: 'pixel-entropy', meanEntropy: 0, maxEntropy: 0, uncertainShare: 0 },
    },
    image: {
      format: 'png',
      width: side,
      height: side,
      channels: 3,
      hasAlpha: false,
      orientation: 1,
      orientedWidth: side,
      orientedHeight: side,
    },
    timings: { decode: 0, preprocess: 0, queue: 0, infer: 0, postprocess: 0, encode: 0, total: 0 },
    rgb: { width: side, height: side, channels: 3, data: new Uint8Array(side * side * 3) },
  };
}

describe('EncoderPool', () => {
  it('starts no worker before the first job, and one (its default size) for several', async () => {
    const pool = new EncoderPool();
    try {
      expect(pool.stats().workers).toBe(0);
      const jobs = [1, 2, 3].map(() => pool.encode(bigSegmentation(64), { kind: 'mask' }));
      expect(pool.stats()).toMatchObject({ workers: 1, busy: 1, queued: 2 });
      await Promise.all(jobs);
      expect(pool.stats()).toMatchObject({ workers: 1, busy: 0, queued: 0, completed: 3 });
    } finally {
      await pool.close();
    }
  });

  it('fails only the job of a worker that crashes (ENCODE_FAILED) and replaces the worker', async () => {
    const posted = vi.spyOn(Worker.prototype, 'postMessage');
    const pool = new EncoderPool();
    try {
      const doomed = pool.encode(bigSegmentation(2000), { kind: 'overlay' });
      const next = pool.encode(bigSegmentation(64), { kind: 'mask' });
      // The worker that received the first job; ending it from outside is what a crash looks like to the pool.
      const crashing = posted.mock.contexts[0] as Worker;
      posted.mockRestore();
      await crashing.terminate();
      await expect(doomed).rejects.toMatchObject({ code: 'ENCODE_FAILED', status: 500 });
      const { output } = await next;
      expect(Buffer.isBuffer(output)).toBe(true);
      expect(pool.stats()).toMatchObject({ workers: 1, failed: 1, completed: 1 });
    } finally {
      posted.mockRestore();
      await pool.close();
    }
  });

  it('close lets the running job finish, ends the worker, then refuses (RUNTIME_CLOSED)', async () => {
    const pool = new EncoderPool();
    const running = pool.encode(bigSegmentation(256), { kind: 'overlay' });
    await pool.close();
    await expect(running).resolves.toMatchObject({ encodeMs: expect.any(Number) });
    expect(pool.stats().workers).toBe(0);
    await expect(pool.encode(bigSegmentation(8), { kind: 'mask' })).rejects.toMatchObject({
      code: 'RUNTIME_CLOSED',
    });
  });

  it('passes an encoder error through with its own code', async () => {
    const pool = new EncoderPool();
    try {
      const seg = bigSegmentation(16);
      await expect(
        pool.encode(seg, { kind: 'json', options: { maskFormat: 'polygon', polygonTolerance: 1000 } }),
      ).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
      // The arrays came back with the failure.
      expect(seg.result.task === 'semantic' && seg.result.classMap.length).toBe(256);
    } finally {
      await pool.close();
    }
  });
});

describe('the main thread during a large overlay', () => {
  it('keeps ticking while a 4000x4000 overlay is encoded through the service', {
    timeout: 120_000,
  }, async () => {
    const side = 4000;
    const photo = await sharp({
      create: { width: side, height: side, channels: 3, background: { r: 0, g: 0, b: 0 } },
    })
      .composite([
        {
          input: { create: { width: 1500, height: 1500, channels: 3, background: { r: 255, g: 0, b: 0 } } },
          left: 500,
          top: 500,
        },
        {
          input: { create: { width: 1000, height: 1000, channels: 3, background: { r: 0, g: 0, b: 255 } } },
          left: 2500,
          top: 2000,
        },
      ])
      .png()
      .toBuffer();
    const service = new InferenceService(repository);
    try {
      const seg = await segment(service, 'softmax', photo);
      let ticks = 0;
      let last = performance.now();
      let longestGap = 0;
      const timer = setInterval(() => {
        const now = performance.now();
        longestGap = Math.max(longestGap, now - last);
        last = now;
        ticks++;
      }, 5);
      const started = performance.now();
      const overlay = await service.encode(seg, { kind: 'overlay' });
      const wall = performance.now() - started;
      clearInterval(timer);
      const message = `${ticks} ticks, longest gap ${longestGap.toFixed(0)} ms, during a ${wall.toFixed(0)} ms overlay (encode ${seg.timings.encode.toFixed(0)} ms)`;
      console.log(`main thread: ${message}`);
      // Inline, the blend loops alone hold the thread for about 350 ms at this size (bench/encode.ts).
      expect(ticks, message).toBeGreaterThan(0);
      expect(longestGap, message).toBeLessThan(150);
      const meta = await sharp(overlay).metadata();
      expect([meta.format, meta.width, meta.height]).toEqual(['png', side, side]);
    } finally {
      await service.close();
    }
  });
});
