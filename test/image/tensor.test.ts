import { describe, expect, it } from 'vitest';
import { rawToTensor, tensorDims } from '../../src/image/tensor.js';
import type { RawImage } from '../../src/image/types.js';
import { inputConfig, noiseImage, solidRaw } from './fixtures.js';

const IMAGENET = {
  mean: [0.485, 0.456, 0.406] as [number, number, number],
  std: [0.229, 0.224, 0.225] as [number, number, number],
};

function normalised(value: number, scale: number, mean: number, std: number): number {
  return Math.fround((value * scale - mean) / std);
}

describe('rawToTensor', () => {
  it('applies scale, mean and std per channel (NCHW, RGB)', () => {
    const input = inputConfig({ width: 4, height: 3, ...IMAGENET });
    const data = rawToTensor(solidRaw(4, 3, [10, 100, 200]), input);
    expect(data.length).toBe(3 * 4 * 3);
    [10, 100, 200].forEach((value, c) => {
      const plane = Array.from(data.subarray(c * 12, (c + 1) * 12));
      expect(new Set(plane)).toEqual(
        new Set([normalised(value, 1 / 255, IMAGENET.mean[c], IMAGENET.std[c])]),
      );
    });
  });

  it('keeps raw 0..255 values with scale 1 and no mean/std', () => {
    const input = inputConfig({ width: 2, height: 1, scale: 1 });
    const raw: RawImage = { width: 2, height: 1, channels: 3, data: Uint8Array.from([0, 128, 255, 1, 2, 3]) };
    expect(Array.from(rawToTensor(raw, input))).toEqual([0, 1, 128, 2, 255, 3]);
  });

  it('holds the same values in NHWC as in NCHW, transposed', () => {
    const raw = noiseImage(7, 5, 11);
    const nchw = rawToTensor(raw, inputConfig({ width: 7, height: 5, layout: 'NCHW', ...IMAGENET }));
    const nhwc = rawToTensor(raw, inputConfig({ width: 7, height: 5, layout: 'NHWC', ...IMAGENET }));
    for (let y = 0; y < 5; y++) {
      for (let x = 0; x < 7; x++) {
        for (let c = 0; c < 3; c++) expect(nhwc[(y * 7 + x) * 3 + c]).toBe(nchw[c * 35 + y * 7 + x]);
      }
    }
  });

  it('reverses the channels for BGR, mean and std being given in BGR order', () => {
    // SINet's settings: values 0..255, mean/std per B, G, R.
    const sinet = {
      scale: 1,
      mean: [102.89, 111.25, 126.91] as [number, number, number],
      std: [62.93, 62.82, 66.36] as [number, number, number],
    };
    const data = rawToTensor(
      solidRaw(2, 2, [200, 100, 50]),
      inputConfig({ width: 2, height: 2, color: 'BGR', ...sinet }),
    );
    expect(data[0]).toBe(normalised(50, 1, 102.89, 62.93));
    expect(data[4]).toBe(normalised(100, 1, 111.25, 62.82));
    expect(data[8]).toBe(normalised(200, 1, 126.91, 66.36));
  });

  it('replicates a grey image into all three channels', () => {
    const grey: RawImage = { width: 2, height: 1, channels: 1, data: Uint8Array.from([0, 255]) };
    expect(Array.from(rawToTensor(grey, inputConfig({ width: 2, height: 1, scale: 1 })))).toEqual([
      0, 255, 0, 255, 0, 255,
    ]);
  });

  it('ignores the alpha channel of RGBA', () => {
    const rgba: RawImage = {
      width: 2,
      height: 1,
      channels: 4,
      data: Uint8Array.from([255, 0, 51, 0, 0, 255, 0, 255]),
    };
    const data = rawToTensor(rgba, inputConfig({ width: 2, height: 1, layout: 'NHWC' }));
    expect(Array.from(data)).toEqual([255, 0, 51, 0, 255, 0].map((v) => normalised(v, 1 / 255, 0, 1)));
  });

  it('refuses an image of another size than the model input', () => {
    expect(() => rawToTensor(solidRaw(4, 4, [0, 0, 0]), inputConfig({ width: 4, height: 5 }))).toThrow(
      RangeError,
    );
  });

  it('refuses pixel data shorter than its declared size', () => {
    const short: RawImage = { width: 4, height: 4, channels: 3, data: new Uint8Array(10) };
    expect(() => rawToTensor(short, inputConfig({ width: 4, height: 4 }))).toThrow(RangeError);
  });
});

describe('tensorDims', () => {
  it('gives [1,3,H,W] for NCHW and [1,H,W,3] for NHWC', () => {
    expect(tensorDims(inputConfig({ width: 320, height: 256 }))).toEqual([1, 3, 256, 320]);
    expect(tensorDims(inputConfig({ width: 320, height: 256, layout: 'NHWC' }))).toEqual([1, 256, 320, 3]);
  });
});
