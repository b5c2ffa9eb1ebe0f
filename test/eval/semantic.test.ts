/**
 * Semantic and binary metrics: a confusion matrix worked out by hand, the means over the classes where each
 * measure is defined, the ignore index, and a dataset evaluation checked against the same figures computed
 * another way (per class masks with intersectionOverUnion, pooled by hand).
 */
import { describe, expect, it } from 'vitest';
import {
  confusionMatrix,
  confusionRows,
  diceCoefficient,
  intersectionOverUnion,
  mainMetric,
  SemanticEvaluator,
  scoresOf,
  selectClasses,
} from '../../src/eval/index.js';
import { caught } from '../helpers/caught.js';
import { seededRandom } from '../helpers/random.js';

// 3 x 3 maps, classes 0..2, 255 = void. The void pixel (index 7) counts nowhere.
const TRUTH = Uint8Array.from([0, 0, 1, 1, 1, 2, 2, 255, 0]);
const PREDICTION = Uint8Array.from([0, 1, 1, 1, 0, 2, 2, 2, 0]);

describe('confusion matrix and its figures', () => {
  it('counts truth rows against predicted columns, leaving the ignore index out', () => {
    const matrix = confusionMatrix(TRUTH, PREDICTION, 3, { ignoreIndex: 255 });
    expect(confusionRows(matrix)).toEqual([
      [2, 1, 0],
      [1, 2, 0],
      [0, 0, 2],
    ]);
  });

  it('gives per-class IoU, Dice, recall and precision and their means', () => {
    const scores = scoresOf(confusionMatrix(TRUTH, PREDICTION, 3, { ignoreIndex: 255 }), [
      'road',
      'car',
      'sky',
    ]);
    // Classes 0 and 1: tp 2, fp 1, fn 1 -> IoU 2/4, Dice 4/6; class 2: perfect.
    expect(scores.classes.map((c) => [c.label, c.iou, c.dice, c.recall, c.precision])).toEqual([
      ['road', 0.5, 4 / 6, 2 / 3, 2 / 3],
      ['car', 0.5, 4 / 6, 2 / 3, 2 / 3],
      ['sky', 1, 1, 1, 1],
    ]);
    expect(scores.miou).toBeCloseTo(2 / 3, 12);
    expect(scores.mdice).toBeCloseTo(7 / 9, 12);
    expect(scores.mean_accuracy).toBeCloseTo(7 / 9, 12);
    expect(scores.pixel_accuracy).toBe(6 / 8);
    expect(scores.pixels).toBe(8);
  });

  it('averages each measure over the classes where it is defined', () => {
    // A fourth class in neither map: its IoU is 0/0, left out of every mean.
    const absent = scoresOf(confusionMatrix(TRUTH, PREDICTION, 4, { ignoreIndex: 255 }));
    expect(absent.classes[3]).toMatchObject({ iou: null, dice: null, recall: null, precision: null });
    expect(absent.miou).toBeCloseTo(2 / 3, 12);
    // A class only predicted: IoU 0 (counted in mIoU), recall undefined (left out of mean accuracy).
    const truth = Uint8Array.from([0, 0, 0, 0]);
    const predicted = Uint8Array.from([0, 0, 1, 1]);
    const scores = scoresOf(confusionMatrix(truth, predicted, 2));
    expect(scores.classes[1]).toMatchObject({ iou: 0, dice: 0, recall: null, precision: 0 });
    expect(scores.miou).toBeCloseTo(0.25, 12);
    expect(scores.mean_accuracy).toBeCloseTo(0.5, 12);
    expect(scores.mean_precision).toBeCloseTo(0.5, 12);
  });

  it('refuses maps of different sizes and class ids beyond the classes', async () => {
    const sizes = await caught(async () => confusionMatrix(TRUTH, PREDICTION.subarray(1), 3));
    expect(sizes.code).toBe('EVAL_INPUT_INVALID');
    // Without an ignore index, 255 in the truth is a class id out of range.
    const ids = await caught(async () => confusionMatrix(TRUTH, PREDICTION, 3));
    expect(ids.message).toContain('the truth has class id 255, but there are 3 classes');
    const predicted = await caught(async () =>
      confusionMatrix(Uint8Array.from([0, 1]), Uint8Array.from([0, 2]), 2),
    );
    expect(predicted.message).toContain('the prediction has class id 2');
  });

  it('keeps the binary mask measures: two empty masks agree, Dice = 2 IoU / (1 + IoU)', () => {
    const empty = new Uint8Array(4);
    expect(intersectionOverUnion(empty, empty)).toBe(1);
    expect(diceCoefficient(empty, empty)).toBe(1);
    const a = Uint8Array.from([1, 1, 0, 0]);
    const b = Uint8Array.from([0, 1, 1, 0]);
    expect(intersectionOverUnion(a, b)).toBeCloseTo(1 / 3, 12);
    expect(diceCoefficient(a, b)).toBeCloseTo((2 * (1 / 3)) / (1 + 1 / 3), 12);
  });
});

/** Random class maps with some structure (horizontal bands), classes 0..C-1 and some void pixels. */
function randomImage(random: () => number, width: number, height: number, classes: number) {
  const truth = new Uint8Array(width * height);
  const prediction = new Uint8Array(width * height);
  for (let y = 0; y < height; y++) {
    const band = Math.floor((y / height) * classes);
    for (let x = 0; x < width; x++) {
      const i = y * width + x;
      truth[i] = random() < 0.05 ? 255 : band;
      prediction[i] = random() < 0.8 ? band : Math.floor(random() * classes);
    }
  }
  return { truth, prediction };
}

describe('SemanticEvaluator', () => {
  const labels = ['background', 'road', 'car', 'sky'];

  it('pools pixels over images: its figures equal per-class masks summed by hand', () => {
    const random = seededRandom(3);
    const evaluator = new SemanticEvaluator({ labels, ignoreIndex: 255 });
    const images = Array.from({ length: 6 }, () =>
      randomImage(random, 17 + Math.floor(random() * 20), 11, 4),
    );
    images.forEach((image, i) => {
      evaluator.add(`image-${i}`, image.truth, image.prediction);
    });
    const report = evaluator.report({ dataset: 'bands' });

    // The other way: per class, select its pixels in both maps (void truth pixels cleared from both).
    const intersections = new Array<number>(4).fill(0);
    const unions = new Array<number>(4).fill(0);
    for (const { truth, prediction } of images) {
      const counted = selectClasses(truth, (c) => c !== 255);
      for (let c = 0; c < 4; c++) {
        const t = selectClasses(truth, (v) => v === c);
        const p = selectClasses(prediction, (v) => v === c).map((v, i) => v & counted[i]);
        for (let i = 0; i < t.length; i++) {
          intersections[c] += t[i] & p[i];
          unions[c] += t[i] | p[i];
        }
      }
    }
    const ious = intersections.map((n, c) => n / unions[c]);
    report.classes.forEach((row, c) => {
      expect(row.iou).toBeCloseTo(ious[c], 12);
    });
    expect(report.summary.miou).toBeCloseTo(ious.reduce((a, b) => a + b) / 4, 12);
    const dice = intersections.map((n, c) => (2 * n) / (unions[c] + n));
    expect(report.summary.mdice).toBeCloseTo(dice.reduce((a, b) => a + b) / 4, 12);

    // Each image's mIoU, from intersectionOverUnion on the class masks of the classes it has.
    for (const row of report.per_image) {
      const { truth, prediction } = images[Number(row.image.split('-')[1])];
      const counted = selectClasses(truth, (c) => c !== 255);
      const per: number[] = [];
      for (let c = 0; c < 4; c++) {
        const t = selectClasses(truth, (v) => v === c);
        const p = selectClasses(prediction, (v) => v === c).map((v, i) => v & counted[i]);
        if (t.some((v) => v) || p.some((v) => v)) per.push(intersectionOverUnion(p, t));
      }
      expect(row.miou).toBeCloseTo(per.reduce((a, b) => a + b) / per.length, 12);
    }
    // Worst first.
    const mious = report.per_image.map((row) => row.miou!);
    expect(mious).toEqual([...mious].sort((a, b) => a - b));
    expect(report.confusion.labels).toEqual(labels);
    expect(report.confusion.matrix.flat().reduce((a, b) => a + b)).toBe(report.summary.pixels);
    expect(mainMetric(report)).toEqual({ name: 'miou', value: report.summary.miou });
  });

  it('calls a two-class evaluation binary and survives JSON', () => {
    const evaluator = new SemanticEvaluator({ labels: ['background', 'person'] });
    evaluator.add('a.png', Uint8Array.from([0, 1, 1, 0]), Uint8Array.from([0, 1, 0, 0]));
    const report = evaluator.report({ dataset: 'people', model: { name: 'selfie', version: 2 } });
    expect(report.task).toBe('binary');
    expect(report.model).toEqual({ name: 'selfie', version: 2 });
    expect(JSON.parse(JSON.stringify(report))).toEqual(report);
  });

  it('refuses to report on nothing', async () => {
    const none = new SemanticEvaluator({ labels });
    expect((await caught(async () => none.report({ dataset: 'x' }))).code).toBe('EVAL_DATASET_EMPTY');
    const allVoid = new SemanticEvaluator({ labels, ignoreIndex: 255 });
    allVoid.add('void.png', new Uint8Array(4).fill(255), new Uint8Array(4));
    expect((await caught(async () => allVoid.report({ dataset: 'x' }))).code).toBe('EVAL_DATASET_EMPTY');
  });
});
