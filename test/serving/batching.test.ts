/**
 * Dynamic batching through the one serving core, on the shared models that can take a batch: yolov8n-seg
 * (float32), SINet and the MediaPipe selfie model. All three are exported with batch 1 fixed, so the batched
 * model is a copy with a symbolic batch dimension (test/helpers/batched-model.ts; PAN cannot be made batchable
 * that way). Concurrent requests to that copy with batching on must form batches (seen in `batchSize`, not
 * timed) and answer what it answers one request at a time with batching off. yolov8n-seg and the selfie model
 * answer bit for bit the same (JSON, masks, scores). SINet's batched kernels round differently: on these photos
 * 40% of its output probabilities differ, by at most 1.7e-6 (measured with raw session.run, batch 2 and 4
 * against batch 1); its masks are still identical and its uncertainty numbers agree to 1e-6.
 */
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { isSegserveError } from '../../src/errors.js';
import { ModelRepository } from '../../src/models/index.js';
import { toSegmentationJson } from '../../src/serving/encode.js';
import type { Segmentation } from '../../src/serving/pipeline.js';
import { writeBatchedCopy, writeScratchRepository } from '../helpers/batched-model.js';
import { segment as segmentWith } from '../helpers/serving.js';
import { describeWithShared, SHARED_DIR, sharedPath } from '../helpers/shared.js';

const CASES = [
  {
    shipped: 'yolov8n-seg',
    exact: true,
    onnx: 'models/yolov8n-seg-coco/yolov8n-seg_fp32_dequantized.onnx',
    images: 'datasets/coco-val2017-mini/images',
  },
  {
    shipped: 'sinet-portrait',
    exact: false,
    onnx: 'models/sinet-portrait/SINet_Softmax_simple.onnx',
    images: 'datasets/human-segmentation/images',
  },
  {
    shipped: 'mediapipe-selfie',
    exact: true,
    onnx: 'models/mediapipe-selfie-segmentation/selfie_segmentation.onnx',
    images: 'datasets/human-segmentation/images',
  },
];
const BATCH = 4;
const IMAGES = 6;

describeWithShared('batching on the shared models', ['models'], () => {
  let dir: string;
  let repository: ModelRepository;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'segserve-batching-'));
    const models = [];
    for (const c of CASES) {
      const batched = join(dir, `${c.shipped}.onnx`);
      await writeBatchedCopy(sharedPath(c.onnx), batched);
      models.push(
        // The sequential path runs the same file: the copy itself may differ from the original in the last bit
        // (the selfie model: 1 value of 65536 by 9e-8, its Reshape no longer constant-folded the same way).
        { name: `${c.shipped}-alone`, shipped: c.shipped, onnx: batched },
        {
          name: `${c.shipped}-batched`,
          shipped: c.shipped,
          onnx: batched,
          // A long delay, so that the requests of a burst are all queued before a batch leaves.
          batching: { enabled: true, max_batch_size: BATCH, max_delay_ms: 500 },
        },
      );
    }
    // The int8 file quantises dynamically: batched, its answers would depend on the batch, so it must not load.
    const int8 = join(dir, 'yolov8n-seg-int8.onnx');
    await writeBatchedCopy(sharedPath('models/yolov8n-seg-coco/yolov8n-seg_int8.onnx'), int8);
    models.push({
      name: 'yolov8n-seg-int8-batched',
      shipped: 'yolov8n-seg',
      onnx: int8,
      batching: { enabled: true, max_batch_size: BATCH, max_delay_ms: 500 },
    });
    await writeScratchRepository(join(dir, 'models'), SHARED_DIR, models);
    repository = await ModelRepository.open(join(dir, 'models'));
  }, 120_000);

  afterAll(async () => {
    await repository?.close();
    await rm(dir, { recursive: true, force: true });
  });

  const segment = (model: string, bytes: Uint8Array) => segmentWith(repository, model, bytes);

  /** The answer without what differs by design: the model's name and the time each stage took. */
  function answer(seg: Segmentation) {
    const { model, timings, ...rest } = toSegmentationJson(seg);
    return rest;
  }

  it('refuses batching on the int8 yolov8n-seg, whose dynamic quantisation mixes the items of a batch', () => {
    const status = repository.get('yolov8n-seg-int8-batched');
    expect(status?.state).toBe('failed');
    expect(status?.error?.message).toContain('(DynamicQuantizeLinear x67');
  });

  for (const c of CASES) {
    it(`${c.shipped}: concurrent requests run in batches and answer as one at a time${c.exact ? ', bit for bit' : ' (same masks, uncertainty to 1e-6)'}`, async () => {
      expect(repository.get(`${c.shipped}-batched`)?.state).toBe('ready');
      const folder = sharedPath(c.images);
      const files = (await readdir(folder))
        .filter((f) => f.endsWith('.jpg'))
        .sort()
        .slice(0, IMAGES);
      const images = await Promise.all(files.map((f) => readFile(join(folder, f))));
      const alone: Segmentation[] = [];
      for (const bytes of images) alone.push(await segment(`${c.shipped}-alone`, bytes));
      const batched = await Promise.all(images.map((bytes) => segment(`${c.shipped}-batched`, bytes)));
      expect(alone.map((s) => s.batchSize)).toEqual(images.map(() => 1));
      // Images decode in any order, so which request lands in which batch varies; the sizes do not.
      expect(batched.map((s) => s.batchSize).sort()).toEqual([2, 2, 4, 4, 4, 4]);
      batched.forEach((seg, i) => {
        if (c.exact) {
          expect(answer(seg)).toEqual(answer(alone[i]));
          expect(seg.result).toEqual(alone[i].result);
          return;
        }
        const { uncertainty, ...rest } = seg.result;
        const { uncertainty: expected, ...expectedRest } = alone[i].result;
        expect(rest).toEqual(expectedRest);
        const got: Record<string, unknown> = { ...uncertainty };
        for (const [key, value] of Object.entries(expected ?? {})) {
          if (typeof value === 'number') expect(got[key]).toBeCloseTo(value, 6);
          else expect(got[key]).toEqual(value);
        }
      });
    }, 120_000);
  }

  it('answers a burst that mixes image sizes, formats and broken files: each valid image as alone, each broken one with its own error', async () => {
    const folder = sharedPath(CASES[0].images);
    const [first, second] = (await readdir(folder)).filter((f) => f.endsWith('.jpg')).sort();
    const photo = await readFile(join(folder, first));
    const valid = [
      photo,
      await readFile(join(folder, second)),
      await sharp(photo).resize({ width: 1920 }).jpeg({ quality: 85 }).toBuffer(),
      await sharp(photo).resize({ width: 200 }).png().toBuffer(),
      await sharp(photo).greyscale().webp().toBuffer(),
    ];
    const broken = [
      { bytes: photo.subarray(0, photo.length >> 1), code: 'IMAGE_CORRUPT' },
      { bytes: new Uint8Array(0), code: 'IMAGE_EMPTY' },
      { bytes: Buffer.from('not an image at all'), code: 'IMAGE_UNSUPPORTED_FORMAT' },
    ];
    const model = `${CASES[0].shipped}-batched`;
    const alone: unknown[] = [];
    for (const bytes of valid) alone.push(answer(await segment(`${CASES[0].shipped}-alone`, bytes)));
    const burst = await Promise.allSettled(
      [...valid, ...broken.map((b) => b.bytes)].map((b) => segment(model, b)),
    );
    const answered = burst.slice(0, valid.length).map((outcome) => {
      if (outcome.status === 'rejected') throw outcome.reason;
      return outcome.value;
    });
    expect(answered.map(answer)).toEqual(alone);
    expect(Math.max(...answered.map((s) => s.batchSize ?? 1))).toBeGreaterThan(1);
    burst.slice(valid.length).forEach((outcome, i) => {
      expect(outcome.status).toBe('rejected');
      const reason = outcome.status === 'rejected' ? outcome.reason : undefined;
      expect(isSegserveError(reason) && reason.code).toBe(broken[i].code);
    });
    // The model is still serving after the broken files.
    expect(answer(await segment(model, photo))).toEqual(alone[0]);
  }, 120_000);
});
