/**
 * Agreement between two answers for the same image (shadow traffic), on masks whose overlaps are worked out by
 * hand: per-class IoU and the mean over foreground classes, labels matched by name, instance matching (one to
 * one, greedy by IoU, above 0.5 only, class flips kept as matched pairs), the panoptic-quality agreement and the
 * count difference.
 */
import { describe, expect, it } from 'vitest';
import {
  backgroundClass,
  type ComparedInstance,
  classMapAgreement,
  compareSegmentations,
  instanceAgreement,
} from '../../src/eval/index.js';
import type { CroppedMask } from '../../src/masks/types.js';
import { caught } from '../helpers/caught.js';

const W = 10;
const H = 10;

/** A filled rectangle [x0, x1) x [y0, y1) as a cropped mask of a W x H image. */
function rect(x0: number, y0: number, x1: number, y1: number): CroppedMask {
  return {
    width: W,
    height: H,
    left: x0,
    top: y0,
    cropWidth: x1 - x0,
    cropHeight: y1 - y0,
    data: new Uint8Array((x1 - x0) * (y1 - y0)).fill(1),
  };
}

function instance(label: string, mask: CroppedMask): ComparedInstance {
  return { classId: label.length, label, mask };
}

/** A W x H class map, background 0, rectangles painted in order. */
function classMap(...rects: Array<[number, number, number, number, number]>): Uint8Array {
  const map = new Uint8Array(W * H);
  for (const [x0, y0, x1, y1, value] of rects) {
    for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) map[y * W + x] = value;
  }
  return map;
}

describe('class maps', () => {
  it('gives the IoU of each class present in either map and their mean without the background', () => {
    // Class 1: served 4x4 = 16 px at (0,0); shadow 4x4 shifted right by 2: overlap 8, union 24 -> 1/3.
    // Class 2: the same 2x5 = 10 px on both -> 1. Class 3: only in the shadow (3 px) -> 0.
    const served = classMap([0, 0, 4, 4, 1], [5, 5, 7, 10, 2]);
    const shadow = classMap([2, 0, 6, 4, 1], [5, 5, 7, 10, 2], [9, 0, 10, 3, 3]);
    const result = classMapAgreement(served, shadow, {
      classes: 4,
      labels: ['background', 'cat', 'dog', 'bird'],
      background: 0,
    });
    const byLabel = Object.fromEntries(result.classes.map((c) => [c.label, c]));
    expect(byLabel.cat).toMatchObject({ classId: 1, servedPixels: 16, shadowPixels: 16, background: false });
    expect(byLabel.cat.iou).toBeCloseTo(8 / 24, 12);
    expect(byLabel.dog).toMatchObject({ servedPixels: 10, shadowPixels: 10, iou: 1 });
    expect(byLabel.bird).toMatchObject({ servedPixels: 0, shadowPixels: 3, iou: 0 });
    // Background: served 74 px, shadow 71 px; both 100 - 16 - 10 - 3 - 8 (shadow's cat beyond the served) = 63.
    expect(byLabel.background).toMatchObject({ servedPixels: 74, shadowPixels: 71, background: true });
    expect(byLabel.background.iou).toBeCloseTo(63 / (74 + 71 - 63), 12);
    expect(result.agreement).toBeCloseTo((1 / 3 + 1 + 0) / 3, 12);
    // Same class: 63 background + 8 cat + 10 dog.
    expect(result.pixelAgreement).toBeCloseTo(81 / 100, 12);
  });

  it('agrees fully on two maps that hold only background, and not at all when one misses the object', () => {
    const empty = classMap();
    expect(classMapAgreement(empty, empty, { classes: 2, background: 0 }).agreement).toBe(1);
    const person = classMap([2, 2, 4, 4, 1]);
    const missed = classMapAgreement(person, empty, { classes: 2, background: 0 });
    expect(missed.agreement).toBe(0);
    // The background alone would have said 96/100.
    expect(missed.classes.find((c) => c.classId === 0)?.iou).toBeCloseTo(0.96, 12);
  });

  it('counts the background when the model has none', () => {
    const a = classMap([0, 0, 10, 5, 1]);
    const b = classMap([0, 0, 10, 4, 1]);
    // Class 0: 50 vs 60 px, overlap 50 -> 5/6; class 1: 50 vs 40 px -> 4/5.
    const result = classMapAgreement(a, b, { classes: 2 });
    expect(result.agreement).toBeCloseTo((5 / 6 + 4 / 5) / 2, 12);
  });

  it('refuses maps of different sizes and class ids beyond the count', async () => {
    expect(
      await caught(async () => classMapAgreement(new Uint8Array(4), new Uint8Array(5), { classes: 2 })),
    ).toMatchObject({ code: 'EVAL_INPUT_INVALID' });
    expect(
      await caught(async () => classMapAgreement(Uint8Array.from([3]), Uint8Array.from([0]), { classes: 2 })),
    ).toMatchObject({ code: 'EVAL_INPUT_INVALID' });
  });

  it('matches the two models’ classes by name when their label lists differ', () => {
    // The shadow lists the same classes in another order, and one more: its "dog" (1) is the served "dog" (2).
    const served = classMap([0, 0, 4, 4, 2]);
    const shadow = classMap([0, 0, 4, 4, 1], [8, 8, 10, 10, 3]);
    const result = compareSegmentations(
      { task: 'semantic', width: W, height: H, classMap: served, labels: ['background', 'cat', 'dog'] },
      {
        task: 'semantic',
        width: W,
        height: H,
        classMap: shadow,
        labels: ['background', 'dog', 'cat', 'fox'],
      },
    );
    expect(result.kind).toBe('class-map');
    if (result.kind !== 'class-map') return;
    expect(result.classes.map((c) => [c.label, c.iou])).toEqual([
      ['background', 80 / 84],
      ['dog', 1],
      ['fox', 0],
    ]);
    expect(result.agreement).toBeCloseTo(0.5, 12);
  });

  it('finds the background: class 0 of a binary map, the class named so in a semantic one', () => {
    expect(backgroundClass('binary', ['background', 'person'])).toBe(0);
    expect(backgroundClass('binary', ['person'])).toBe(0);
    expect(backgroundClass('semantic', ['skin', 'Background', 'hair'])).toBe(1);
    expect(backgroundClass('semantic', ['skin', 'clothes', 'hair'])).toBeUndefined();
  });
});

describe('instances', () => {
  it('matches one to one by IoU, greedily from the highest, and gives every figure', () => {
    const served = [
      instance('cat', rect(0, 0, 4, 4)), // 16 px
      instance('dog', rect(6, 6, 10, 10)), // 16 px
      instance('cat', rect(0, 6, 2, 8)), // 4 px: the shadow has nothing there
    ];
    const shadow = [
      instance('dog', rect(6, 6, 10, 9)), // 12 px inside the served dog: IoU 12/16
      instance('fox', rect(0, 0, 4, 3)), // 12 px inside the served cat: IoU 12/16, another class
    ];
    const result = instanceAgreement(served, shadow);
    expect(result.matches).toEqual([
      { served: 0, shadow: 1, iou: 0.75, sameClass: false },
      { served: 1, shadow: 0, iou: 0.75, sameClass: true },
    ]);
    expect(result).toMatchObject({
      servedCount: 3,
      shadowCount: 2,
      countDifference: -1,
      meanMatchedIou: 0.75,
      classAgreement: 0.5,
      f1: (2 * 2) / 5,
    });
    // Only the dog pair counts: 2 x 0.75 / 5.
    expect(result.agreement).toBeCloseTo(0.3, 12);
  });

  it('takes the best pair first, so a mask is never matched twice', () => {
    // Served A (0..6 x 0..4, 24 px) overlaps both shadow masks above 0.5; B (0..5, 20 px) is nearer to it.
    const served = [instance('cat', rect(0, 0, 6, 4)), instance('cat', rect(0, 5, 6, 9))];
    const shadow = [instance('cat', rect(0, 0, 4, 4)), instance('cat', rect(0, 0, 5, 4))];
    const result = instanceAgreement(served, shadow);
    // IoU(A, s1) = 20/24; IoU(A, s0) = 16/24: s1 wins A; s0 has no other partner above 0.5.
    expect(result.matches).toEqual([{ served: 0, shadow: 1, iou: 20 / 24, sameClass: true }]);
    expect(result.f1).toBeCloseTo(2 / 4, 12);
  });

  it('needs an IoU above 0.5: exactly half is not a match', () => {
    const half = instanceAgreement([instance('cat', rect(0, 0, 4, 4))], [instance('cat', rect(0, 0, 4, 2))]);
    expect(half.matches).toEqual([]);
    expect(half).toMatchObject({ meanMatchedIou: null, classAgreement: null, f1: 0, agreement: 0 });
    const looser = instanceAgreement(
      [instance('cat', rect(0, 0, 4, 4))],
      [instance('cat', rect(0, 0, 4, 2))],
      { iouThreshold: 0.4 },
    );
    expect(looser.matches).toHaveLength(1);
  });

  it('agrees fully on identical answers and on two empty ones', () => {
    const same = [instance('cat', rect(1, 1, 5, 5)), instance('dog', rect(6, 0, 10, 3))];
    expect(instanceAgreement(same, same)).toMatchObject({
      f1: 1,
      agreement: 1,
      meanMatchedIou: 1,
      classAgreement: 1,
      countDifference: 0,
    });
    expect(instanceAgreement([], [])).toMatchObject({ f1: 1, agreement: 1, meanMatchedIou: null });
    expect(instanceAgreement(same, [])).toMatchObject({ f1: 0, agreement: 0, countDifference: -2 });
  });

  it('refuses to compare answers of different kinds or sizes', async () => {
    const instances = { task: 'instance' as const, width: W, height: H, instances: [] };
    const map = { task: 'binary' as const, width: W, height: H, classMap: classMap(), labels: ['bg', 'fg'] };
    expect(await caught(async () => compareSegmentations(instances, map))).toMatchObject({
      code: 'EVAL_INPUT_INVALID',
    });
    expect(
      await caught(async () => compareSegmentations(instances, { ...instances, width: 11 })),
    ).toMatchObject({
      code: 'EVAL_INPUT_INVALID',
    });
  });
});
