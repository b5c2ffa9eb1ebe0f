import { describe, expect, it } from 'vitest';
import { SegserveError } from '../../src/errors.js';
import { classPalette, colorForIndex } from '../../src/masks/palette.js';

function distance(a: number[], b: number[]): number {
  return Math.hypot(a[0] - b[0], a[1] - b[1], a[2] - b[2]);
}

describe('palette', () => {
  it('is deterministic and gives valid 8-bit colours', () => {
    for (let i = 0; i < 300; i++) {
      const colour = colorForIndex(i);
      expect(colour).toEqual(colorForIndex(i));
      for (const channel of colour) {
        expect(Number.isInteger(channel)).toBe(true);
        expect(channel).toBeGreaterThanOrEqual(0);
        expect(channel).toBeLessThanOrEqual(255);
      }
    }
  });

  it('keeps nearby indices clearly apart', () => {
    const colours = Array.from({ length: 24 }, (_, i) => colorForIndex(i));
    for (let i = 0; i < colours.length; i++) {
      for (let j = i + 1; j < colours.length; j++) {
        expect(distance(colours[i], colours[j]), `${i} vs ${j}`).toBeGreaterThan(j - i <= 3 ? 90 : 40);
      }
    }
  });

  it('classPalette puts the background at index 0 only when asked, and class i keeps its colour', () => {
    expect(classPalette(5)).toEqual([0, 1, 2, 3, 4].map(colorForIndex));
    const withBackground = classPalette(5, { background: [0, 0, 0] });
    expect(withBackground[0]).toEqual([0, 0, 0]);
    expect(withBackground.slice(1)).toEqual([1, 2, 3, 4].map(colorForIndex));
    expect(classPalette(0, { background: [0, 0, 0] })).toEqual([]);
  });

  it('rejects negative or fractional indices', () => {
    expect(() => colorForIndex(-1)).toThrow(SegserveError);
    expect(() => colorForIndex(1.5)).toThrow(SegserveError);
    expect(() => classPalette(-2)).toThrow(SegserveError);
  });
});
