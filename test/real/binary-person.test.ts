/**
 * Real person-segmentation models on the real human-segmentation set: mean person IoU against the dataset's
 * masks, through the whole product path (repository -> sharp -> worker pool -> decoder).
 */
import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { intersectionOverUnion, selectClasses } from '../../src/eval/iou.js';
import { ModelRepository } from '../../src/models/index.js';
import type { SemanticResult } from '../../src/tasks/types.js';
import { type HumanSample, readHumanManifest, readPersonMask } from '../helpers/datasets.js';
import { REPOSITORY_DIR } from '../helpers/paths.js';
import { segment } from '../helpers/serving.js';
import { describeWithShared } from '../helpers/shared.js';

async function meanPersonIoU(
  repository: ModelRepository,
  model: string,
  samples: HumanSample[],
  isPerson: (classId: number) => boolean,
): Promise<number> {
  let sum = 0;
  // Two requests in flight keep the worker busy while sharp decodes the next image.
  let next = 0;
  const work = async () => {
    while (next < samples.length) {
      const sample = samples[next++];
      const seg = await segment(repository, model, await readFile(sample.image));
      const result = seg.result as SemanticResult;
      const predicted = selectClasses(result.classMap, isPerson);
      const truth = await readPersonMask(sample.mask, result.width, result.height);
      sum += intersectionOverUnion(predicted, truth);
    }
  };
  await Promise.all([work(), work()]);
  return sum / samples.length;
}

describeWithShared(
  'person segmentation on human-segmentation (real models)',
  ['datasets', 'human-segmentation'],
  () => {
    let repository: ModelRepository;
    let samples: HumanSample[];

    beforeAll(async () => {
      repository = await ModelRepository.open(REPOSITORY_DIR, {
        models: ['mediapipe-selfie', 'sinet-portrait', 'pan-skin-clothes-hair'],
      });
      for (const m of repository.list())
        expect(m.state, `${m.name}: ${m.error?.message ?? ''}`).toBe('ready');
      samples = await readHumanManifest();
      expect(samples.length).toBeGreaterThanOrEqual(200);
    });
    afterAll(() => repository?.close());

    it('MediaPipe selfie: mean person IoU >= 0.85', async () => {
      const iou = await meanPersonIoU(repository, 'mediapipe-selfie', samples, (c) => c === 1);
      console.log(`mediapipe-selfie mean person IoU over ${samples.length} images: ${iou.toFixed(4)}`);
      expect(iou).toBeGreaterThanOrEqual(0.85);
    });

    it('SINet portrait: mean person IoU >= 0.60', async () => {
      const iou = await meanPersonIoU(repository, 'sinet-portrait', samples, (c) => c === 1);
      console.log(`sinet-portrait mean person IoU over ${samples.length} images: ${iou.toFixed(4)}`);
      expect(iou).toBeGreaterThanOrEqual(0.6);
    });

    it('PAN skin/clothes/hair: union of the three classes vs person mean IoU >= 0.70', async () => {
      const iou = await meanPersonIoU(repository, 'pan-skin-clothes-hair', samples, (c) => c !== 0);
      console.log(`pan-skin-clothes-hair mean union IoU over ${samples.length} images: ${iou.toFixed(4)}`);
      expect(iou).toBeGreaterThanOrEqual(0.7);
    });
  },
);
