import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { type ErrorCode, isSegserveError, type SegserveError } from '../../src/errors.js';
import { decodeImage, openSource, probeImage, readRgb } from '../../src/image/decode.js';
import {
  type Encoding,
  encode,
  fromRaw,
  heicContainer,
  markedRaw,
  noiseImage,
  pngDeclaring,
  type Rgb,
  solidRaw,
} from './fixtures.js';

const LIMIT = 40_000_000;

async function failure(promise: Promise<unknown>): Promise<SegserveError> {
  const error = await promise.then(
    () => undefined,
    (reason: unknown) => reason,
  );
  if (!isSegserveError(error)) throw new Error(`expected a SegserveError, got ${String(error)}`);
  return error;
}

async function expectCode(promise: Promise<unknown>, code: ErrorCode): Promise<SegserveError> {
  const error = await failure(promise);
  expect(error.code).toBe(code);
  return error;
}

function pixel(image: { width: number; data: Uint8Array }, x: number, y: number): number[] {
  const i = (y * image.width + x) * 3;
  return [image.data[i], image.data[i + 1], image.data[i + 2]];
}

describe('probeImage refusals, in order', () => {
  it('refuses zero bytes as IMAGE_EMPTY', async () => {
    await expectCode(probeImage(new Uint8Array(0), LIMIT), 'IMAGE_EMPTY');
    await expectCode(decodeImage(new Uint8Array(0), LIMIT), 'IMAGE_EMPTY');
  });

  it('refuses bytes without a known magic as IMAGE_UNSUPPORTED_FORMAT, whatever they are', async () => {
    const svg = Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>');
    for (const bytes of [Buffer.from('not an image'), svg, Buffer.from('BM\0\0\0\0')]) {
      await expectCode(probeImage(bytes, LIMIT), 'IMAGE_UNSUPPORTED_FORMAT');
    }
  });

  it('refuses a known magic followed by garbage as IMAGE_CORRUPT with the decoder reason', async () => {
    const garbage = noiseImage(64, 64, 5).data;
    const pngMagic = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), garbage]);
    const jpegMagic = Buffer.concat([Buffer.from([0xff, 0xd8, 0xff]), garbage]);
    const gifMagic = Buffer.concat([Buffer.from('GIF89a', 'latin1'), garbage]);
    for (const bytes of [pngMagic, jpegMagic, gifMagic]) {
      const error = await expectCode(decodeImage(bytes, LIMIT), 'IMAGE_CORRUPT');
      expect(String(error.details.reason).length).toBeGreaterThan(0);
      expect(error.message).toContain(String(error.details.reason));
    }
  });

  it('refuses HEVC-coded HEIF (iPhone photos) as unsupported, not as corrupt', async () => {
    const error = await expectCode(probeImage(heicContainer(4032, 3024), LIMIT), 'IMAGE_UNSUPPORTED_FORMAT');
    expect(error.details).toMatchObject({ format: 'heic' });
  });

  it('refuses a header that declares 100000x100000 as IMAGE_TOO_LARGE, from the header alone', async () => {
    const bomb = pngDeclaring(100_000, 100_000);
    expect(bomb.length).toBeLessThan(100);
    for (const attempt of [probeImage, decodeImage]) {
      const error = await expectCode(attempt(bomb, LIMIT), 'IMAGE_TOO_LARGE');
      expect(error.details).toEqual({
        width: 100_000,
        height: 100_000,
        pixels: 10_000_000_000,
        limit: LIMIT,
      });
      expect(error.status).toBe(413);
    }
  });

  it('accepts exactly maxPixels and refuses one pixel less of allowance', async () => {
    const png = await encode(solidRaw(40, 25, [10, 20, 30]), 'png');
    const atLimit = await decodeImage(png, 1000);
    expect([atLimit.width, atLimit.height]).toEqual([40, 25]);
    const error = await expectCode(probeImage(png, 999), 'IMAGE_TOO_LARGE');
    expect(error.details).toEqual({ width: 40, height: 25, pixels: 1000, limit: 999 });
  });

  it('rejects a limit that is not a positive integer', async () => {
    const png = await encode(solidRaw(2, 2, [0, 0, 0]), 'png');
    for (const limit of [0, -1, 1.5, Number.NaN]) {
      await expect(probeImage(png, limit)).rejects.toThrow(RangeError);
    }
  });
});

describe('decoder-side guards', () => {
  it('keeps the pixel limit inside the decoder, so an understated header cannot slip through', async () => {
    const bytes = await encode(solidRaw(40, 25, [1, 2, 3]), 'png');
    const honest = await probeImage(bytes, LIMIT);
    const source = {
      kind: 'encoded' as const,
      bytes,
      info: { ...honest, width: 10, height: 10, orientedWidth: 10, orientedHeight: 10 },
      maxPixels: 500,
    };
    const error = await expectCode(readRgb(openSource(source), source), 'IMAGE_CORRUPT');
    expect(String(error.details.reason)).toMatch(/more than 500 pixels although the header declares 10x10/);
  });

  it.each<Encoding>(['jpeg', 'png', 'webp', 'gif', 'tiff', 'avif'])(
    'refuses a truncated %s as IMAGE_CORRUPT',
    async (format) => {
      const whole = await encode(noiseImage(96, 64, 9), format);
      for (const fraction of [0.5, 0.9]) {
        await expectCode(
          decodeImage(whole.subarray(0, Math.floor(whole.length * fraction)), LIMIT),
          'IMAGE_CORRUPT',
        );
      }
    },
  );

  it('tolerates the harmless JPEG warnings phone files carry (extraneous bytes before a marker)', async () => {
    const jpeg = await encode(solidRaw(32, 16, [200, 30, 40]), 'jpeg');
    const scan = jpeg.indexOf(Buffer.from([0xff, 0xda]));
    const withJunk = Buffer.concat([jpeg.subarray(0, scan), Buffer.from([0x12, 0x34]), jpeg.subarray(scan)]);
    // sharp's default failOn ('warning') refuses this file; ours decodes it like PIL and OpenCV do.
    await expect(sharp(withJunk).raw().toBuffer()).rejects.toThrow(/extraneous bytes/);
    const decoded = await decodeImage(withJunk, LIMIT);
    expect([decoded.width, decoded.height, decoded.channels]).toEqual([32, 16, 3]);
  });
});

describe('probeImage info', () => {
  it('describes a plain JPEG', async () => {
    const info = await probeImage(await encode(solidRaw(64, 48, [9, 9, 9]), 'jpeg'), LIMIT);
    expect(info).toEqual({
      format: 'jpeg',
      width: 64,
      height: 48,
      orientation: 1,
      orientedWidth: 64,
      orientedHeight: 48,
      channels: 3,
      hasAlpha: false,
    });
  });

  it.each([
    [6, 20, 40],
    [8, 20, 40],
    [3, 40, 20],
  ])('reports EXIF orientation %i with the oriented size %ix%i', async (orientation, w, h) => {
    const jpeg = await fromRaw(solidRaw(40, 20, [1, 1, 1]))
      .jpeg()
      .withMetadata({ orientation })
      .toBuffer();
    const info = await probeImage(jpeg, LIMIT);
    expect(info).toMatchObject({ width: 40, height: 20, orientation, orientedWidth: w, orientedHeight: h });
  });
});

describe('decodeImage', () => {
  const red: Rgb = [255, 0, 0];
  const black: Rgb = [0, 0, 0];
  // Stored 40x16 with a red 8x8 square in the stored top-left corner; where a person sees it depends on EXIF.
  const stored = markedRaw(40, 16, 8, black, red);

  it.each([
    // orientation, displayed size, displayed marker centre, the opposite corner
    [1, [40, 16], [4, 4], [36, 12]],
    [6, [16, 40], [12, 4], [4, 36]], // rotate 90 degrees clockwise: top-left goes top-right
    [8, [16, 40], [4, 36], [12, 4]], // rotate 90 degrees anticlockwise: top-left goes bottom-left
    [3, [40, 16], [36, 12], [4, 4]], // rotate 180 degrees: top-left goes bottom-right
  ])('applies EXIF orientation %i to the pixels', async (orientation, size, marker, opposite) => {
    const jpeg = await fromRaw(stored).jpeg({ quality: 95 }).withMetadata({ orientation }).toBuffer();
    const image = await decodeImage(jpeg, LIMIT);
    expect([image.width, image.height]).toEqual(size);
    const [mr, mg, mb] = pixel(image, marker[0], marker[1]);
    expect(mr).toBeGreaterThan(200);
    expect(Math.max(mg, mb)).toBeLessThan(60);
    expect(Math.max(...pixel(image, opposite[0], opposite[1]))).toBeLessThan(60);
  });

  it('expands a greyscale JPEG to three equal channels', async () => {
    const grey = await fromRaw(solidRaw(16, 8, [90, 90, 90]))
      .toColourspace('b-w')
      .jpeg()
      .toBuffer();
    expect((await probeImage(grey, LIMIT)).channels).toBe(1);
    const image = await decodeImage(grey, LIMIT);
    expect(image.channels).toBe(3);
    expect(image.data.length).toBe(16 * 8 * 3);
    expect(pixel(image, 5, 5)).toEqual([90, 90, 90]);
  });

  it('drops alpha without compositing: colour under a transparent pixel is kept', async () => {
    const rgba = Buffer.from([200, 10, 30, 0, 5, 250, 60, 255, 40, 40, 40, 128, 0, 0, 0, 255]);
    const png = await sharp(rgba, { raw: { width: 2, height: 2, channels: 4 } })
      .png()
      .toBuffer();
    expect(await probeImage(png, LIMIT)).toMatchObject({ channels: 4, hasAlpha: true });
    const image = await decodeImage(png, LIMIT);
    expect(image.channels).toBe(3);
    expect(Array.from(image.data)).toEqual([200, 10, 30, 5, 250, 60, 40, 40, 40, 0, 0, 0]);
  });

  it('expands grey with alpha to RGB', async () => {
    const greyAlpha = Buffer.from([10, 0, 20, 255, 30, 128, 40, 255]);
    const png = await sharp(greyAlpha, { raw: { width: 2, height: 2, channels: 2 } })
      .toColourspace('b-w')
      .png()
      .toBuffer();
    const image = await decodeImage(png, LIMIT);
    expect(Array.from(image.data)).toEqual([10, 10, 10, 20, 20, 20, 30, 30, 30, 40, 40, 40]);
  });

  it('reduces 16-bit samples to 8 bits', async () => {
    const samples = new Uint16Array([65535, 32896, 0, 257, 514, 771]);
    const png = await sharp(samples, { raw: { width: 2, height: 1, channels: 3 } })
      .toColourspace('rgb16')
      .png()
      .toBuffer();
    const image = await decodeImage(png, LIMIT);
    expect(Array.from(image.data)).toEqual([255, 128, 0, 1, 2, 3]);
  });

  it('converts CMYK JPEG to RGB', async () => {
    const cmyk = await fromRaw(solidRaw(8, 8, [200, 30, 30]))
      .toColourspace('cmyk')
      .jpeg()
      .toBuffer();
    expect((await probeImage(cmyk, LIMIT)).channels).toBe(4);
    const image = await decodeImage(cmyk, LIMIT);
    expect(image.channels).toBe(3);
    const [r, g, b] = pixel(image, 4, 4);
    expect(r).toBeGreaterThan(150);
    expect(Math.max(g, b)).toBeLessThan(80);
  });

  it.each<Encoding>(['png', 'webp', 'gif', 'tiff', 'avif'])(
    'decodes %s to RGB of the right size',
    async (format) => {
      const image = await decodeImage(await encode(solidRaw(24, 10, [0, 128, 255]), format), LIMIT);
      expect([image.width, image.height, image.channels, image.data.length]).toEqual([
        24,
        10,
        3,
        24 * 10 * 3,
      ]);
    },
  );
});
