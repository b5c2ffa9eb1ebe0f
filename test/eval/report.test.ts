/**
 * The evaluation report: instance reports from a COCO evaluation (per-class rows for boxes and masks, images
 * worst first), the main metric a promotion gate compares, plain JSON, and the terminal table.
 */
import { describe, expect, it } from 'vitest';
import {
  type CocoBox,
  type CocoDataset,
  type CocoResult,
  evaluateCoco,
  formatReportTable,
  instanceReport,
  mainMetric,
  SemanticEvaluator,
} from '../../src/eval/index.js';

const box = ([x, y, w, h]: CocoBox) => [x, y, x + w, y, x + w, y + h, x, y + h];

const DATASET: CocoDataset = {
  images: [
    { id: 1, width: 100, height: 100, file_name: 'good.jpg' },
    { id: 2, width: 100, height: 100, file_name: 'bad.jpg' },
    { id: 3, width: 100, height: 100, file_name: 'empty.jpg' },
  ],
  categories: [
    { id: 1, name: 'cat' },
    { id: 2, name: 'dog' },
  ],
  annotations: [
    {
      id: 1,
      image_id: 1,
      category_id: 1,
      area: 100,
      bbox: [0, 0, 10, 10],
      segmentation: [box([0, 0, 10, 10])],
    },
    {
      id: 2,
      image_id: 2,
      category_id: 2,
      area: 100,
      bbox: [0, 0, 10, 10],
      segmentation: [box([0, 0, 10, 10])],
    },
    {
      id: 3,
      image_id: 2,
      category_id: 2,
      area: 400,
      bbox: [50, 50, 20, 20],
      segmentation: [box([50, 50, 20, 20])],
    },
  ],
};

const RESULTS: CocoResult[] = [
  { image_id: 1, category_id: 1, bbox: [0, 0, 10, 10], score: 0.9 },
  { image_id: 2, category_id: 2, bbox: [0, 0, 10, 10], score: 0.8 },
  { image_id: 2, category_id: 2, bbox: [80, 0, 10, 10], score: 0.7 },
];

describe('instance reports', () => {
  it('ranks images worst first by F1 at IoU .5 and carries both summaries', async () => {
    const evaluation = await evaluateCoco(DATASET, RESULTS);
    const created = new Date('2030-01-02T03:04:05Z');
    const report = instanceReport(evaluation, {
      dataset: 'tiny.json',
      results: 'r.json',
      createdAt: created,
    });
    expect(report).toMatchObject({
      format: 'segserve-eval',
      format_version: 1,
      kind: 'instance',
      dataset: 'tiny.json',
      results: 'r.json',
      model: null,
      created_at: '2030-01-02T03:04:05.000Z',
      images: 3,
      categories: 2,
      instances: 3,
      detections: 3,
      iou_types: ['bbox', 'segm'],
      per_image_measure: 'mask F1 at IoU 0.5',
    });
    expect(report.per_image.map((r) => [r.file_name, r.tp, r.fp, r.fn, r.f1])).toEqual([
      ['bad.jpg', 1, 1, 1, 0.5],
      ['good.jpg', 1, 0, 0, 1],
      ['empty.jpg', 0, 0, 0, 1],
    ]);
    expect(report.classes.map((c) => [c.name, c.box_ap !== null, c.mask_ap !== null])).toEqual([
      ['cat', true, true],
      ['dog', true, true],
    ]);
    expect(report.summary.box?.AP).toBeCloseTo(evaluation.bbox!.summary.AP, 12);
    expect(mainMetric(report)).toEqual({ name: 'mask_ap', value: report.summary.mask!.AP });
    expect(JSON.parse(JSON.stringify(report))).toEqual(report);
  });

  it('has no main metric without a mask evaluation', async () => {
    const report = instanceReport(await evaluateCoco(DATASET, RESULTS, { iouTypes: ['bbox'] }), {
      dataset: 'd',
    });
    expect(report.summary.mask).toBeNull();
    expect(report.per_image_measure).toBe('box F1 at IoU 0.5');
    expect(mainMetric(report)).toEqual({ name: 'mask_ap', value: null });
  });

  it('prints the 12 COCO lines per type, the categories and the worst images', async () => {
    const report = instanceReport(await evaluateCoco(DATASET, RESULTS), {
      dataset: 'tiny.json',
      results: 'r.json',
    });
    const text = formatReportTable(report, { worst: 2 });
    expect(text).toContain('instance evaluation of results r.json on tiny.json');
    expect(text).toMatch(/^AP {2}\.50:\.95 {2}all {10}100 {2}\d\.\d{3} {2}\d\.\d{3}$/m);
    expect(text).toMatch(/^AR {2}\.50:\.95 {2}large {8}100 {6}- {6}-$/m);
    expect(text).toContain('worst images by mask F1 at IoU 0.5');
    expect(text).toMatch(/^bad\.jpg {2}/m);
    expect(text).not.toMatch(/^empty\.jpg/m);
  });
});

describe('semantic report table', () => {
  it('prints the means, the classes, the confusion matrix and the worst images', () => {
    const evaluator = new SemanticEvaluator({ labels: ['background', 'road', 'car'], ignoreIndex: 255 });
    evaluator.add('a.png', Uint8Array.from([0, 1, 2, 255]), Uint8Array.from([0, 1, 1, 0]));
    evaluator.add('b.png', Uint8Array.from([0, 0, 0, 0]), Uint8Array.from([0, 0, 0, 0]));
    const report = evaluator.report({ dataset: 'streets', model: { name: 'seg', version: 3 } });
    const text = formatReportTable(report);
    expect(text).toContain('semantic evaluation of model seg:3 on streets');
    expect(text).toContain('2 images, 7 pixels counted (truth 255 ignored)');
    expect(text).toMatch(/^mIoU 0\.\d{3} {3}mean Dice/m);
    expect(text).toMatch(/^2 car +0\.000 +0\.000 +0\.000 +- +1 +0$/m);
    expect(text).toContain('confusion matrix (rows: truth, columns: prediction, pixels):');
    expect(text).toMatch(/^a\.png +0\.\d{3}/m);
  });
});
