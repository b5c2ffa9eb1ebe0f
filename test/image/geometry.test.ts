import { describe, expect, it } from 'vitest';
import { computeTransform } from '../../src/image/geometry.js';
import { inputConfig } from './fixtures.js';

const letterbox320 = inputConfig({ width: 320, height: 320, resize: 'letterbox' });

describe('computeTransform, letterbox (Ultralytics LetterBox)', () => {
  it('fits 640x480 into 320x320 with r = 0.5 and 40 rows of padding above', () => {
    expect(computeTransform(640, 480, letterbox320)).toEqual({
      sourceWidth: 640,
      sourceHeight: 480,
      inputWidth: 320,
      inputHeight: 320,
      scaleX: 0.5,
      scaleY: 0.5,
      padLeft: 0,
      padTop: 40,
      contentWidth: 320,
      contentHeight: 240,
    });
  });

  it('pads left and right for a portrait image', () => {
    expect(computeTransform(480, 640, letterbox320)).toMatchObject({
      contentWidth: 240,
      contentHeight: 320,
      padLeft: 40,
      padTop: 0,
    });
  });

  it("rounds halves to even like Python's round()", () => {
    // 427 * 0.5 = 213.5 -> 214 and 425 * 0.5 = 212.5 -> 212 (JavaScript's Math.round would give 213).
    expect(computeTransform(640, 427, letterbox320)).toMatchObject({ contentHeight: 214, padTop: 53 });
    expect(computeTransform(640, 425, letterbox320)).toMatchObject({ contentHeight: 212, padTop: 54 });
  });

  it('puts the odd padding pixel after the content (round(dw / 2 - 0.1) = floor(dw / 2))', () => {
    const t = computeTransform(3, 1, inputConfig({ width: 4, height: 4, resize: 'letterbox' }));
    expect(t).toMatchObject({ contentWidth: 4, contentHeight: 1, padLeft: 0, padTop: 1 });
  });

  it('enlarges images smaller than the input', () => {
    expect(computeTransform(100, 50, letterbox320)).toMatchObject({
      scaleX: 3.2,
      scaleY: 3.2,
      contentWidth: 320,
      contentHeight: 160,
      padTop: 80,
    });
  });

  it('uses the tighter side of a non-square input', () => {
    const t = computeTransform(640, 480, inputConfig({ width: 320, height: 256, resize: 'letterbox' }));
    expect(t).toMatchObject({ scaleX: 0.5, contentWidth: 320, contentHeight: 240, padLeft: 0, padTop: 8 });
  });

  it('keeps at least one row for an extreme aspect ratio', () => {
    expect(computeTransform(10_000, 1, letterbox320)).toMatchObject({
      contentWidth: 320,
      contentHeight: 1,
      padTop: 159,
    });
  });

  it('always splits the padding evenly, the extra pixel going after the content', () => {
    for (let w = 1; w <= 700; w += 7) {
      for (const h of [1, 33, 240, 320, 479, 1000]) {
        const t = computeTransform(w, h, letterbox320);
        const right = 320 - t.contentWidth - t.padLeft;
        const bottom = 320 - t.contentHeight - t.padTop;
        expect(right - t.padLeft).toBeGreaterThanOrEqual(0);
        expect(right - t.padLeft).toBeLessThanOrEqual(1);
        expect(bottom - t.padTop).toBeGreaterThanOrEqual(0);
        expect(bottom - t.padTop).toBeLessThanOrEqual(1);
        expect(Math.max(t.contentWidth, t.contentHeight)).toBe(320);
      }
    }
  });
});

describe('computeTransform, stretch', () => {
  it('scales each axis on its own, without padding', () => {
    expect(computeTransform(640, 480, inputConfig({ width: 256, height: 256, resize: 'stretch' }))).toEqual({
      sourceWidth: 640,
      sourceHeight: 480,
      inputWidth: 256,
      inputHeight: 256,
      scaleX: 0.4,
      scaleY: 256 / 480,
      padLeft: 0,
      padTop: 0,
      contentWidth: 256,
      contentHeight: 256,
    });
  });
});

describe('computeTransform arguments', () => {
  it('refuses sizes that are not positive integers', () => {
    for (const [w, h] of [
      [0, 10],
      [10, -1],
      [1.5, 10],
      [Number.NaN, 10],
    ]) {
      expect(() => computeTransform(w, h, letterbox320)).toThrow(RangeError);
    }
  });
});
