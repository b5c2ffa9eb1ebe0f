/**
 * The size headers declare, read by segserve itself: it agrees with libvips on real files of every format it
 * reads, and it names huge declared sizes IMAGE_TOO_LARGE where libvips refuses the header outright (libpng
 * rejects widths over 1,000,000, which once surfaced as IMAGE_CORRUPT).
 */
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { isSegserveError } from '../../src/errors.js';
import { decodeImage, probeImage } from '../../src/image/decode.js';
import { declaredSize } from '../../src/image/header-size.js';
import { sniffImageFormat } from '../../src/image/sniff.js';
import { encode, noiseImage, pngDeclaring } from './fixtures.js';

const LIMIT = 40_000_000;

async function codeOf(promise: Promise<unknown>): Promise<{ code: string; details: unknown }> {
  const error = await promise.then(
    () => undefined,
    (reason: unknown) => reason,
  );
  if (!isSegserveError(error)) throw new Error(`expected a SegserveError, got ${String(error)}`);
  return { code: error.code, details: error.details };
}

describe('declaredSize', () => {
  it('reads the size libvips reports from PNG, JPEG, WebP (lossy, lossless), GIF and TIFF', async () => {
    const raw = noiseImage(37, 23, 3);
    const files = [
      await encode(raw, 'png'),
      await encode(raw, 'jpeg'),
      await sharp(raw.data, { raw: { width: 37, height: 23, channels: 3 } })
        .withMetadata({ orientation: 6 })
        .jpeg()
        .toBuffer(),
      await encode(raw, 'webp'),
      await sharp(raw.data, { raw: { width: 37, height: 23, channels: 3 } })
        .webp({ lossless: true })
        .toBuffer(),
      await sharp(raw.data, { raw: { width: 37, height: 23, channels: 3 } })
        .ensureAlpha()
        .webp()
        .toBuffer(),
      await encode(raw, 'gif'),
      await encode(raw, 'tiff'),
      await sharp(raw.data, { raw: { width: 37, height: 23, channels: 3 } })
        .tiff({ bigtiff: false })
        .toBuffer(),
    ];
    for (const file of files) {
      const format = sniffImageFormat(file)!;
      const { width, height } = await sharp(file).metadata();
      expect(declaredSize(file, format), format).toEqual({ width, height });
    }
  });

  it('leaves truncated headers to libvips', () => {
    const png = pngDeclaring(10, 10);
    expect(declaredSize(png.subarray(0, 20), 'png')).toBeUndefined();
    expect(declaredSize(Buffer.from([0xff, 0xd8, 0xff]), 'jpeg')).toBeUndefined();
  });
});

describe('huge declared sizes are IMAGE_TOO_LARGE, never IMAGE_CORRUPT', () => {
  it('a PNG declaring 2^31-1 x 1', async () => {
    const png = pngDeclaring(2 ** 31 - 1, 1);
    for (const attempt of [probeImage, decodeImage]) {
      expect(await codeOf(attempt(png, LIMIT))).toEqual({
        code: 'IMAGE_TOO_LARGE',
        details: { width: 2 ** 31 - 1, height: 1, pixels: 2 ** 31 - 1, limit: LIMIT },
      });
    }
  });

  it('a PNG declaring 2^31-1 x 2^31-1', async () => {
    expect((await codeOf(probeImage(pngDeclaring(2 ** 31 - 1, 2 ** 31 - 1), LIMIT))).code).toBe(
      'IMAGE_TOO_LARGE',
    );
  });

  it('a JPEG and a GIF whose headers are patched to 65535 x 65535', async () => {
    const raw = noiseImage(16, 16, 4);
    const jpeg = Buffer.from(await encode(raw, 'jpeg'));
    const sof = jpeg.indexOf(Buffer.from([0xff, 0xc0]));
    jpeg.writeUInt16BE(65535, sof + 5);
    jpeg.writeUInt16BE(65535, sof + 7);
    const gif = Buffer.from(await encode(raw, 'gif'));
    gif.writeUInt16LE(65535, 6);
    gif.writeUInt16LE(65535, 8);
    for (const bytes of [jpeg, gif]) {
      const { code, details } = await codeOf(probeImage(bytes, LIMIT));
      expect(code).toBe('IMAGE_TOO_LARGE');
      expect(details).toMatchObject({ width: 65535, height: 65535 });
    }
  });
});
