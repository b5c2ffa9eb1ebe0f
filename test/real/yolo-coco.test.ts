/**
 * yolov8n-seg on the 79 COCO val2017 images, through the whole product path, scored against COCO's own
 * ground truth: class precision of confident detections and mask IoU of the best-matching prediction.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { intersectionOverUnion } from '../../src/eval/iou.js';
import { expandCroppedMask } from '../../src/masks/crop.js';
import { polygonsToMask } from '../../src/masks/polygons.js';
import { ModelRepository } from '../../src/models/index.js';
import type { InstanceResult } from '../../src/tasks/types.js';
import { COCO_MINI, type CocoDataset, readCocoMini } from '../helpers/datasets.js';
import { REPOSITORY_DIR } from '../helpers/paths.js';
import { segment } from '../helpers/serving.js';
import { describeWithShared } from '../helpers/shared.js';

describeWithShared(
  'yolov8n-seg on coco-val2017-mini (real model, real data)',
  ['datasets', 'coco-val2017-mini'],
  () => {
    let repository: ModelRepository;
    let dataset: CocoDataset;
    const results = new Map<number, InstanceResult>();

    beforeAll(async () => {
      repository = await ModelRepository.open(REPOSITORY_DIR, { models: ['yolov8n-seg'] });
      const status = repository.get('yolov8n-seg');
      expect(status?.state, status?.error?.message).toBe('ready');
      dataset = await readCocoMini();
      for (const image of dataset.images) {
        const seg = await segment(
          repository,
          'yolov8n-seg',
          await readFile(join(COCO_MINI, 'images', image.file_name)),
        );
        expect(seg.result.task).toBe('instance');
        expect([seg.result.width, seg.result.height]).toEqual([image.width, image.height]);
        results.set(image.id, seg.result as InstanceResult);
      }
    });
    afterAll(() => repository?.close());

    it('at least 90% of detections with score >= 0.5 name a class present in the image', () => {
      const names = new Map(dataset.categories.map((c) => [c.id, c.name]));
      let confident = 0;
      let correct = 0;
      for (const image of dataset.images) {
        const present = new Set(
          dataset.annotations.filter((a) => a.image_id === image.id).map((a) => names.get(a.category_id)),
        );
        for (const inst of results.get(image.id)!.instances) {
          if (inst.score < 0.5) continue;
          confident++;
          if (present.has(inst.label)) correct++;
        }
      }
      console.log(
        `class precision at score >= 0.5: ${correct}/${confident} = ${(correct / confident).toFixed(3)}`,
      );
      expect(confident).toBeGreaterThan(100);
      expect(correct / confident).toBeGreaterThanOrEqual(0.9);
    });

    it('mean best-match mask IoU >= 0.40 for ground-truth instances of at least 32x32 px', () => {
      const names = new Map(dataset.categories.map((c) => [c.id, c.name]));
      const ious: number[] = [];
      for (const image of dataset.images) {
        const result = results.get(image.id)!;
        const predicted = result.instances.map((inst) => ({
          label: inst.label,
          mask: expandCroppedMask(inst.mask).data,
        }));
        for (const ann of dataset.annotations) {
          // Non-crowd annotations are polygons; crowd regions are not instances to match.
          if (ann.image_id !== image.id || ann.iscrowd || ann.area < 32 * 32) continue;
          if (!Array.isArray(ann.segmentation)) continue;
          const truth = polygonsToMask(ann.segmentation, image.width, image.height);
          let best = 0;
          for (const p of predicted) {
            if (p.label !== names.get(ann.category_id)) continue;
            best = Math.max(best, intersectionOverUnion(p.mask, truth.data));
          }
          ious.push(best);
        }
      }
      const mean = ious.reduce((a, b) => a + b, 0) / ious.length;
      console.log(
        `mean best-match mask IoU over ${ious.length} ground-truth instances >= 32x32: ${mean.toFixed(4)}`,
      );
      expect(ious.length).toBeGreaterThan(300);
      expect(mean).toBeGreaterThanOrEqual(0.4);
    });
  },
);
