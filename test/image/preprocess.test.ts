import { readFileSync } from 'node:fs';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { isSegserveError } from '../../src/errors.js';
import { preprocess, preprocessForModel, preprocessRaw } from '../../src/image/preprocess.js';
import type { RawImage } from '../../src/image/types.js';
import type { InputConfig } from '../../src/models/config.js';
import { describeWithShared, sharedPath } from '../helpers/shared.js';
import {
  encode,
  fromRaw,
  inputConfig,
  markedRaw,
  nchwPixel,
  noiseImage,
  pngDeclaring,
  type Rgb,
  solidRaw,
} from './fixtures.js';

const LIMIT = { maxPixels: 40_000_000 };
const yolo = inputConfig({ width: 320, height: 320, resize: 'letterbox', pad_value: 114 });
const IMAGENET = {
  mean: [0.485, 0.456, 0.406] as [number, number, number],
  std: [0.229, 0.224, 0.225] as [number, number, number],
};

/**
 * OpenCV's cv2.resize(INTER_LINEAR) in floating point: sample at (d + 0.5) * src / dst - 0.5 from the 2x2
 * neighbourhood, coordinates clamped to the image (edge pixels replicated).
 */
function cv2Linear(src: RawImage, width: number, height: number): Uint8Array {
  const axis = (dst: number, size: number) =>
    Array.from({ length: dst }, (_, d) => {
      const at = (d + 0.5) * (size / dst) - 0.5;
      let i = Math.floor(at);
      let f = at - i;
      if (i < 0) [i, f] = [0, 0];
      if (i >= size - 1) [i, f] = [size - 1, 0];
      return { i0: i, i1: Math.min(i + 1, size - 1), f };
    });
  const xs = axis(width, src.width);
  const ys = axis(height, src.height);
  const out = new Uint8Array(width * height * 3);
  const at = (x: number, y: number, c: number) => src.data[(y * src.width + x) * src.channels + c];
  ys.forEach(({ i0: y0, i1: y1, f: fy }, y) => {
    xs.forEach(({ i0: x0, i1: x1, f: fx }, x) => {
      for (let c = 0; c < 3; c++) {
        const top = at(x0, y0, c) * (1 - fx) + at(x1, y0, c) * fx;
        const bottom = at(x0, y1, c) * (1 - fx) + at(x1, y1, c) * fx;
        out[(y * width + x) * 3 + c] = Math.round(top * (1 - fy) + bottom * fy);
      }
    });
  });
  return out;
}

/** Indices where two tensors differ (deep equality of 300k floats is slow in vitest). */
function differences(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let count = 0;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) count++;
  return count;
}

/** Largest difference, in 8-bit levels, between a scale-1 NHWC tensor's content window and `expected`. */
function maxLevelDifference(
  data: Float32Array,
  input: InputConfig,
  left: number,
  top: number,
  expected: RawImage,
): number {
  let max = 0;
  for (let y = 0; y < expected.height; y++) {
    for (let x = 0; x < expected.width; x++) {
      for (let c = 0; c < 3; c++) {
        const actual = data[((y + top) * input.width + x + left) * 3 + c];
        max = Math.max(max, Math.abs(actual - expected.data[(y * expected.width + x) * 3 + c]));
      }
    }
  }
  return max;
}

describe('preprocess geometry', () => {
  it('letterboxes 640x480 into 320x320: content 320x240 from row 40, pad rows exactly the normalised grey', async () => {
    const jpeg = await encode(solidRaw(640, 480, [30, 160, 220]), 'jpeg');
    const result = await preprocess(jpeg, yolo, LIMIT);
    expect(result.dims).toEqual([1, 3, 320, 320]);
    expect(result.data.length).toBe(3 * 320 * 320);
    expect(result.transform).toMatchObject({
      scaleX: 0.5,
      scaleY: 0.5,
      padLeft: 0,
      padTop: 40,
      contentWidth: 320,
      contentHeight: 240,
    });
    const pad = Math.fround(114 / 255);
    for (const y of [0, 39, 280, 319]) {
      for (const x of [0, 160, 319]) expect(nchwPixel(result.data, 320, 320, x, y)).toEqual([pad, pad, pad]);
    }
    for (const y of [40, 160, 279]) {
      for (const x of [0, 160, 319]) {
        const levels = nchwPixel(result.data, 320, 320, x, y).map((v) => v * 255);
        // JPEG may move a flat colour by a level or two.
        const error = Math.max(...[30, 160, 220].map((expected, c) => Math.abs(levels[c] - expected)));
        expect(error).toBeLessThan(3);
      }
    }
  });

  it('writes a fractional pad value exactly', async () => {
    const png = await encode(solidRaw(40, 20, [0, 0, 0]), 'png');
    const input = inputConfig({
      width: 40,
      height: 40,
      resize: 'letterbox',
      pad_value: 114.5,
      scale: 1,
      layout: 'NHWC',
    });
    const { data } = await preprocess(png, input, LIMIT);
    expect(Array.from(data.subarray(0, 3))).toEqual([114.5, 114.5, 114.5]);
    expect(data[(20 * 40 + 20) * 3]).toBe(0);
  });

  it('stretches to exactly the input size without padding', async () => {
    const png = await encode(solidRaw(640, 480, [10, 100, 200]), 'png');
    const result = await preprocess(
      png,
      inputConfig({ width: 256, height: 128, resize: 'stretch', scale: 1 }),
      LIMIT,
    );
    expect(result.dims).toEqual([1, 3, 128, 256]);
    expect(result.transform).toMatchObject({ scaleX: 0.4, scaleY: 128 / 480, padLeft: 0, padTop: 0 });
    for (const [x, y] of [
      [0, 0],
      [255, 127],
      [100, 60],
    ]) {
      expect(nchwPixel(result.data, 256, 128, x, y)).toEqual([10, 100, 200]);
    }
  });

  it('applies ImageNet mean and std exactly on a flat colour', async () => {
    const png = await encode(solidRaw(64, 48, [10, 100, 200]), 'png');
    const { data } = await preprocess(png, inputConfig({ width: 32, height: 24, ...IMAGENET }), LIMIT);
    [10, 100, 200].forEach((value, c) => {
      const expected = Math.fround((value / 255 - IMAGENET.mean[c]) / IMAGENET.std[c]);
      expect(new Set(data.subarray(c * 768, (c + 1) * 768))).toEqual(new Set([expected]));
    });
  });

  it('fills NCHW and NHWC with the same values, transposed, and BGR with the channels swapped', async () => {
    const png = await encode(noiseImage(50, 30, 4), 'png');
    const base = { width: 24, height: 24, resize: 'letterbox' as const, ...IMAGENET };
    const nchw = (await preprocess(png, inputConfig(base), LIMIT)).data;
    const nhwc = (await preprocess(png, inputConfig({ ...base, layout: 'NHWC' }), LIMIT)).data;
    const bgrMeans = {
      mean: [...IMAGENET.mean].reverse(),
      std: [...IMAGENET.std].reverse(),
    } as typeof IMAGENET;
    const bgr = (await preprocess(png, inputConfig({ ...base, ...bgrMeans, color: 'BGR' }), LIMIT)).data;
    const plane = 24 * 24;
    for (let i = 0; i < plane; i++) {
      for (let c = 0; c < 3; c++) {
        expect(nhwc[i * 3 + c]).toBe(nchw[c * plane + i]);
        expect(bgr[(2 - c) * plane + i]).toBe(nchw[c * plane + i]);
      }
    }
  });
});

describe('preprocess resize kernel (OpenCV INTER_LINEAR)', () => {
  const scale1 = (fields: Partial<InputConfig>) =>
    inputConfig({ width: 40, height: 40, scale: 1, layout: 'NHWC', resize: 'letterbox', ...fields });

  it.each([
    ['shrinking', 97, 61, scale1({})],
    ['enlarging', 13, 9, scale1({})],
    [
      'shrinking one axis and enlarging the other',
      50,
      7,
      scale1({ width: 20, height: 20, resize: 'stretch' }),
    ],
    ['an exact factor of two', 80, 40, scale1({})],
  ])('matches cv2.resize within one level when %s', async (_name, w, h, input) => {
    const raw = noiseImage(w, h, w * h);
    const { data, transform } = await preprocessRaw(raw, input);
    const expected = {
      width: transform.contentWidth,
      height: transform.contentHeight,
      channels: 3 as const,
      data: cv2Linear(raw, transform.contentWidth, transform.contentHeight),
    };
    expect(
      maxLevelDifference(data, input, transform.padLeft, transform.padTop, expected),
    ).toBeLessThanOrEqual(1);
  });

  it('copies pixels unchanged when no resize is needed', async () => {
    const raw = noiseImage(16, 8, 2);
    const input = scale1({ width: 16, height: 8 });
    const { data } = await preprocessRaw(raw, input);
    expect(maxLevelDifference(data, input, 0, 0, raw)).toBe(0);
  });
});

describe('preprocess orientation and channels', () => {
  const red: Rgb = [255, 0, 0];
  const black: Rgb = [0, 0, 0];
  const stored = markedRaw(40, 16, 8, black, red);

  it.each([
    [6, [12, 4], [4, 36]], // rotate 90 degrees clockwise: the stored top-left marker is seen top-right
    [8, [4, 36], [12, 4]], // rotate 90 degrees anticlockwise: the marker is seen bottom-left
  ])('works in the oriented image for EXIF orientation %i', async (orientation, marker, opposite) => {
    const jpeg = await fromRaw(stored).jpeg({ quality: 95 }).withMetadata({ orientation }).toBuffer();
    const seen = await preprocess(jpeg, inputConfig({ width: 16, height: 40, scale: 1 }), LIMIT);
    expect(seen.info).toMatchObject({ orientation, orientedWidth: 16, orientedHeight: 40 });
    expect(seen.transform).toMatchObject({ sourceWidth: 16, sourceHeight: 40, scaleX: 1, scaleY: 1 });
    const [r, g, b] = nchwPixel(seen.data, 16, 40, marker[0], marker[1]);
    expect(r).toBeGreaterThan(200);
    expect(Math.max(g, b)).toBeLessThan(60);
    expect(Math.max(...nchwPixel(seen.data, 16, 40, opposite[0], opposite[1]))).toBeLessThan(60);

    const boxed = await preprocess(jpeg, inputConfig({ width: 32, height: 32, resize: 'letterbox' }), LIMIT);
    // 16x40 seen -> r = 0.8, content 13x32 (12.8 rounded), centred with 9 columns on the left.
    expect(boxed.transform).toMatchObject({
      sourceWidth: 16,
      sourceHeight: 40,
      contentWidth: 13,
      contentHeight: 32,
      padLeft: 9,
      padTop: 0,
    });
  });

  it('turns a greyscale JPEG into three equal planes', async () => {
    const grey = await fromRaw(noiseImage(48, 32, 6))
      .toColourspace('b-w')
      .jpeg()
      .toBuffer();
    const { data, info } = await preprocess(grey, inputConfig({ width: 24, height: 16 }), LIMIT);
    expect(info.channels).toBe(1);
    const plane = 24 * 16;
    expect(Array.from(data.subarray(plane, 2 * plane))).toEqual(Array.from(data.subarray(0, plane)));
    expect(Array.from(data.subarray(2 * plane))).toEqual(Array.from(data.subarray(0, plane)));
  });

  it.each([
    ['shrinking', 4],
    ['enlarging', 16],
  ])(
    'drops alpha from RGBA PNG when %s, keeping the colour under transparent pixels',
    async (_name, size) => {
      // Left half fully transparent (colour kept as stored, as OpenCV and PIL read it), right half opaque.
      const rgba = Buffer.alloc(8 * 8 * 4);
      for (let p = 0; p < 64; p++) rgba.set(p % 8 < 4 ? [200, 10, 30, 0] : [20, 110, 230, 255], p * 4);
      const png = await sharp(rgba, { raw: { width: 8, height: 8, channels: 4 } })
        .png()
        .toBuffer();
      const { data, info } = await preprocess(
        png,
        inputConfig({ width: size, height: size, scale: 1 }),
        LIMIT,
      );
      expect(info).toMatchObject({ channels: 4, hasAlpha: true });
      expect(nchwPixel(data, size, size, 0, 0)).toEqual([200, 10, 30]);
      expect(nchwPixel(data, size, size, size - 1, size - 1)).toEqual([20, 110, 230]);
    },
  );
});

describe('decoding once for tensor and overlay', () => {
  it('returns the oriented full image and the same tensor as preprocess', async () => {
    const jpeg = await fromRaw(noiseImage(120, 90, 8))
      .jpeg()
      .withMetadata({ orientation: 6 })
      .toBuffer();
    const plain = await preprocess(jpeg, yolo, LIMIT);
    const both = await preprocessForModel(jpeg, yolo, { ...LIMIT, keepImage: true });
    expect([both.rgb?.width, both.rgb?.height, both.rgb?.channels]).toEqual([90, 120, 3]);
    expect(both.transform).toEqual(plain.transform);
    expect(both.info).toEqual(plain.info);
    expect(differences(both.data, plain.data)).toBe(0);
  });

  it('leaves the image out unless asked', async () => {
    const png = await encode(solidRaw(10, 10, [1, 2, 3]), 'png');
    const result = await preprocessForModel(png, yolo, { ...LIMIT, keepImage: false });
    expect(result.rgb).toBeUndefined();
    expect(result.dims).toEqual([1, 3, 320, 320]);
  });

  it('gives preprocessRaw of decoded pixels the same tensor as preprocess of the lossless file', async () => {
    const raw = noiseImage(70, 45, 12);
    const fromBytes = await preprocess(await encode(raw, 'png'), yolo, LIMIT);
    const fromPixels = await preprocessRaw(raw, yolo);
    expect(fromPixels.transform).toEqual(fromBytes.transform);
    expect(fromPixels.dims).toEqual(fromBytes.dims);
    expect(differences(fromPixels.data, fromBytes.data)).toBe(0);
  });

  it('takes grey and RGBA pixels in preprocessRaw, alpha ignored', async () => {
    const input = inputConfig({ width: 2, height: 1, scale: 1, layout: 'NHWC' });
    const grey: RawImage = { width: 4, height: 2, channels: 1, data: new Uint8Array(8).fill(77) };
    expect(Array.from((await preprocessRaw(grey, input)).data)).toEqual([77, 77, 77, 77, 77, 77]);
    const rgba: RawImage = { width: 4, height: 2, channels: 4, data: new Uint8Array(32) };
    for (let i = 0; i < 32; i += 4) rgba.data.set([9, 99, 199, 0], i);
    expect(Array.from((await preprocessRaw(rgba, input)).data)).toEqual([9, 99, 199, 9, 99, 199]);
  });

  it('reports both stage timings', async () => {
    const { timings } = await preprocess(await encode(solidRaw(64, 64, [5, 5, 5]), 'jpeg'), yolo, LIMIT);
    expect(Number.isFinite(timings.decode) && timings.decode >= 0).toBe(true);
    expect(Number.isFinite(timings.preprocess) && timings.preprocess >= 0).toBe(true);
  });
});

describe('preprocess refusals', () => {
  it.each([
    ['IMAGE_EMPTY', new Uint8Array(0)],
    ['IMAGE_UNSUPPORTED_FORMAT', Buffer.from('{"image": "not really"}')],
    ['IMAGE_TOO_LARGE', pngDeclaring(100_000, 100_000)],
  ])('answers %s', async (code, bytes) => {
    for (const run of [
      () => preprocess(bytes, yolo, LIMIT),
      () => preprocessForModel(bytes, yolo, { ...LIMIT, keepImage: true }),
    ]) {
      const error = await run().then(
        () => undefined,
        (reason: unknown) => reason,
      );
      expect(isSegserveError(error) && error.code).toBe(code);
    }
  });

  it('answers IMAGE_CORRUPT for a truncated JPEG, on the shrinking and the enlarging path', async () => {
    for (const [w, h] of [
      [640, 480],
      [100, 80],
    ]) {
      const jpeg = await encode(noiseImage(w, h, 3), 'jpeg');
      const error = await preprocess(jpeg.subarray(0, jpeg.length >> 1), yolo, LIMIT).then(
        () => undefined,
        (reason: unknown) => reason,
      );
      expect(isSegserveError(error) && error.code).toBe('IMAGE_CORRUPT');
    }
  });
});

describeWithShared('preprocess real images', ['datasets'], () => {
  it('prepares COCO 000000397133.jpg for yolov8n-seg (320 letterbox, pad 114, RGB, /255, NCHW)', async () => {
    const bytes = readFileSync(sharedPath('datasets', 'coco-val2017-mini', 'images', '000000397133.jpg'));
    const { data, dims, transform, info } = await preprocess(bytes, yolo, LIMIT);
    expect(info).toMatchObject({
      format: 'jpeg',
      width: 640,
      height: 427,
      orientedWidth: 640,
      orientedHeight: 427,
    });
    expect(dims).toEqual([1, 3, 320, 320]);
    // Ultralytics: round(427 * 0.5) = 214 (half to even), top = round(53 - 0.1) = 53.
    expect(transform).toMatchObject({
      scaleX: 0.5,
      contentWidth: 320,
      contentHeight: 214,
      padLeft: 0,
      padTop: 53,
    });
    let min = Number.POSITIVE_INFINITY;
    let max = Number.NEGATIVE_INFINITY;
    for (const value of data) {
      min = Math.min(min, value);
      max = Math.max(max, value);
    }
    expect(min).toBeGreaterThanOrEqual(0);
    expect(max).toBeLessThanOrEqual(1);
    expect(max - min).toBeGreaterThan(0.8);
    const pad = Math.fround(114 / 255);
    expect(nchwPixel(data, 320, 320, 100, 52)).toEqual([pad, pad, pad]);
    expect(nchwPixel(data, 320, 320, 100, 267)).toEqual([pad, pad, pad]);
  });

  it('expands a greyscale JPEG of the human-segmentation set to three equal planes', async () => {
    const bytes = readFileSync(sharedPath('datasets', 'human-segmentation', 'images', '56.jpg'));
    const input = inputConfig({ width: 256, height: 256, layout: 'NHWC' });
    const { data, info } = await preprocess(bytes, input, LIMIT);
    expect(info).toMatchObject({ channels: 1, width: 300, height: 300 });
    let coloured = 0;
    for (let i = 0; i < data.length; i += 3) {
      if (data[i] !== data[i + 1] || data[i] !== data[i + 2]) coloured++;
    }
    expect(coloured).toBe(0);
    expect(new Set(data).size).toBeGreaterThan(50);
  });
});
