import { describe, expect, it } from 'vitest';
import { iou, type NmsCandidate, nms } from '../../src/tasks/nms.js';

function box(x1: number, y1: number, x2: number, y2: number, score: number, classId = 0): NmsCandidate {
  return { x1, y1, x2, y2, score, classId };
}

describe('iou', () => {
  it('is intersection over union, 0 for disjoint, touching or empty boxes', () => {
    expect(iou(box(0, 0, 10, 10, 1), box(5, 0, 15, 10, 1))).toBeCloseTo(50 / 150, 12);
    expect(iou(box(0, 0, 10, 10, 1), box(0, 0, 10, 10, 1))).toBe(1);
    expect(iou(box(0, 0, 10, 10, 1), box(10, 0, 20, 10, 1))).toBe(0);
    expect(iou(box(0, 0, 10, 10, 1), box(20, 20, 30, 30, 1))).toBe(0);
    expect(iou(box(5, 5, 5, 5, 1), box(5, 5, 5, 5, 1))).toBe(0);
  });
});

describe('nms', () => {
  it('keeps the best of overlapping boxes of one class, best score first', () => {
    const candidates = [
      box(0, 0, 10, 10, 0.6),
      box(1, 1, 11, 11, 0.9), // IoU with the first: 81 / 119 = 0.68
      box(50, 50, 60, 60, 0.7),
    ];
    expect(nms(candidates, 0.5)).toEqual([1, 2]);
    // At a threshold above 0.68 both overlapping boxes stay.
    expect(nms(candidates, 0.7)).toEqual([1, 2, 0]);
  });

  it('suppresses only above the threshold (IoU equal to it stays)', () => {
    const a = box(0, 0, 10, 10, 0.9);
    const b = box(0, 0, 10, 5, 0.8); // inside a: IoU 50 / 100 = 0.5
    expect(nms([a, b], 0.5)).toEqual([0, 1]);
    expect(nms([a, b], 0.49)).toEqual([0]);
  });

  it('never suppresses across classes', () => {
    const candidates = [box(0, 0, 10, 10, 0.9, 0), box(0, 0, 10, 10, 0.8, 1), box(0, 0, 10, 10, 0.7, 0)];
    expect(nms(candidates, 0.45)).toEqual([0, 1]);
  });

  it('stops at maxKeep and keeps input order among equal scores', () => {
    const candidates = [
      box(0, 0, 1, 1, 0.5),
      box(2, 2, 3, 3, 0.5),
      box(4, 4, 5, 5, 0.9),
      box(6, 6, 7, 7, 0.5),
    ];
    expect(nms(candidates, 0.45)).toEqual([2, 0, 1, 3]);
    expect(nms(candidates, 0.45, 2)).toEqual([2, 0]);
    expect(nms([], 0.45)).toEqual([]);
  });

  it('is greedy: a box suppressed by a kept box cannot suppress others', () => {
    // b overlaps a and c strongly; a and c barely overlap. a wins, b goes, so c survives.
    const a = box(0, 0, 10, 10, 0.9);
    const b = box(4, 0, 14, 10, 0.8);
    const c = box(8, 0, 18, 10, 0.7);
    expect(nms([a, b, c], 0.4)).toEqual([0, 2]);
  });
});
