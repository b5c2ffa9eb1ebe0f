/**
 * The overlapped pipeline on the shared models, as shipped: requests decode on libuv's threads while others are
 * inside `session.run` on the model's sessions (two for all but the selfie model), in whatever order the threads
 * finish. A burst of photos
 * of mixed sizes and formats must get exactly the answers (JSON, masks, scores, uncertainty) that a copy of the
 * same model with one session gives them one request at a time: every session of both runs one intra-op thread,
 * so nothing but the interleaving differs.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ModelRepository } from '../../src/models/index.js';
import { toSegmentationJson } from '../../src/serving/encode.js';
import type { Segmentation } from '../../src/serving/pipeline.js';
import { writeScratchRepository } from '../helpers/batched-model.js';
import { REPOSITORY_DIR } from '../helpers/paths.js';
import { segment as segmentWith } from '../helpers/serving.js';
import { describeWithShared, SHARED_DIR, sharedPath } from '../helpers/shared.js';

const CASES = [
  { shipped: 'yolov8n-seg', images: 'datasets/coco-val2017-mini/images' },
  { shipped: 'pan-skin-clothes-hair', images: 'datasets/human-segmentation/images' },
  { shipped: 'mediapipe-selfie', images: 'datasets/human-segmentation/images' },
  { shipped: 'sinet-portrait', images: 'datasets/human-segmentation/images' },
];
const PHOTOS = 6;

describeWithShared('the overlapped pipeline on the shipped models', ['datasets'], () => {
  let dir: string;
  let shipped: ModelRepository;
  let repository: ModelRepository;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'segserve-overlap-'));
    shipped = await ModelRepository.open(REPOSITORY_DIR, { models: CASES.map((c) => c.shipped) });
    const models = CASES.flatMap((c) => {
      const loaded = shipped.resolve(c.shipped);
      return [
        { name: `${c.shipped}-overlapped`, shipped: c.shipped, onnx: loaded.modelPath },
        {
          name: `${c.shipped}-sequential`,
          shipped: c.shipped,
          onnx: loaded.modelPath,
          overrides: { instances: 1, threads: { intra_op: 1, inter_op: 1 } },
        },
      ];
    });
    await writeScratchRepository(join(dir, 'models'), SHARED_DIR, models);
    repository = await ModelRepository.open(join(dir, 'models'));
  }, 120_000);

  afterAll(async () => {
    await repository?.close();
    await shipped?.close();
    await rm(dir, { recursive: true, force: true });
  });

  const segment = (model: string, bytes: Uint8Array) => segmentWith(repository, model, bytes);

  /**
   * The answer without what differs by design (the model's name and the time each stage took), its pixel arrays
   * as digests: toEqual walks a camera-size class map element by element for tens of seconds.
   */
  function answer(seg: Segmentation): string {
    const { model, timings, ...rest } = toSegmentationJson(seg);
    return JSON.stringify({ ...rest, result: seg.result }, (_key, value: unknown) =>
      ArrayBuffer.isView(value)
        ? createHash('sha256')
            .update(new Uint8Array(value.buffer, value.byteOffset, value.byteLength))
            .digest('hex')
        : typeof value === 'bigint'
          ? value.toString()
          : value,
    );
  }

  for (const c of CASES) {
    it(`${c.shipped}: a burst on the shipped sessions answers exactly as one session one request at a time`, async () => {
      // One intra-op thread on both sides, so that only the interleaving differs.
      expect(shipped.resolve(c.shipped).config.threads.intra_op).toBe(1);
      const folder = sharedPath(c.images);
      const files = (await readdir(folder))
        .filter((f) => f.endsWith('.jpg'))
        .sort()
        .slice(0, PHOTOS);
      const photos: Buffer[] = await Promise.all(files.map((f) => readFile(join(folder, f))));
      // A camera-size photo (the selfie and SINet configs reduce it with shrink-on-load) and a PNG besides.
      photos.push(await sharp(photos[0]).resize({ width: 2400 }).jpeg({ quality: 90 }).toBuffer());
      photos.push(await sharp(photos[1]).png().toBuffer());
      const sequential = [];
      for (const bytes of photos) sequential.push(answer(await segment(`${c.shipped}-sequential`, bytes)));
      const burst = [...photos, ...photos];
      const concurrent = await Promise.all(burst.map((bytes) => segment(`${c.shipped}-overlapped`, bytes)));
      expect(concurrent.map(answer)).toEqual([...sequential, ...sequential]);
    }, 180_000);
  }
});
