/**
 * `input.shrink_on_load`: images at least twice the content size in both directions are reduced by libvips
 * (JPEG shrink-on-load, then the linear kernel) instead of the OpenCV-exact bilinear; everything else, and every
 * model without the setting, keeps the exact path.
 */
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { probeImage } from '../../src/image/decode.js';
import { decodeForModel } from '../../src/image/preprocess.js';
import type { RawImage } from '../../src/image/types.js';
import { parseModelConfig } from '../../src/models/config.js';
import { encode, fromRaw, inputConfig, noiseImage } from './fixtures.js';

const MAX_PIXELS = 40_000_000;
const yolo = inputConfig({ width: 320, height: 320, resize: 'letterbox' });
const shrinking = { ...yolo, shrink_on_load: true };

async function content(bytes: Buffer, input: typeof yolo, keepImage = false) {
  const info = await probeImage(bytes, MAX_PIXELS);
  return decodeForModel(bytes, info, input, { maxPixels: MAX_PIXELS, keepImage });
}

/** The content window of a decoded content image, packed. */
function window(image: RawImage, width: number, height: number): Buffer {
  const rows = Array.from({ length: height }, (_, y) =>
    image.data.subarray(y * image.width * 3, y * image.width * 3 + width * 3),
  );
  return Buffer.concat(rows);
}

function meanAbsoluteDifference(a: Buffer, b: Buffer): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += Math.abs(a[i] - b[i]);
  return sum / a.length;
}

/** A smooth picture (gradients and discs), which any good reduction keeps close to any other. */
async function photo(width: number, height: number): Promise<Buffer> {
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">
    <defs><linearGradient id="g"><stop offset="0" stop-color="#204080"/><stop offset="1" stop-color="#e0c040"/></linearGradient></defs>
    <rect width="100%" height="100%" fill="url(#g)"/>
    <circle cx="${width / 3}" cy="${height / 2}" r="${height / 4}" fill="#c03030"/>
    <circle cx="${(2 * width) / 3}" cy="${height / 3}" r="${height / 6}" fill="#30a060"/></svg>`;
  return sharp(Buffer.from(svg)).jpeg({ quality: 92 }).toBuffer();
}

describe('shrink_on_load', () => {
  it('is off unless a config turns it on, and takes only a boolean', () => {
    const minimal = { task: 'semantic', decoder: 'softmax', input: { width: 64, height: 48 } };
    const off = parseModelConfig(minimal);
    expect(off.ok && off.config.input.shrink_on_load).toBe(false);
    const on = parseModelConfig({ ...minimal, input: { ...minimal.input, shrink_on_load: true } });
    expect(on.ok && on.config.input.shrink_on_load).toBe(true);
    const bad = parseModelConfig({ ...minimal, input: { ...minimal.input, shrink_on_load: 'yes' } });
    expect(bad.ok ? [] : bad.issues.map((i) => i.path)).toEqual(['input.shrink_on_load']);
  });

  it("reduces a camera-size JPEG with libvips' shrink-on-load: the same picture, not OpenCV's pixels", async () => {
    const bytes = await photo(2000, 1500);
    const exact = await content(bytes, yolo);
    const reduced = await content(bytes, shrinking);
    expect(reduced.transform).toEqual(exact.transform);
    const { contentWidth: width, contentHeight: height } = reduced.transform;
    expect([width, height]).toEqual([320, 240]);
    const expected = await sharp(bytes)
      .resize(width, height, { fit: 'fill', kernel: 'linear', fastShrinkOnLoad: true })
      .raw()
      .toBuffer();
    expect(window(reduced.content, width, height).equals(expected)).toBe(true);
    const difference = meanAbsoluteDifference(
      window(reduced.content, width, height),
      window(exact.content, width, height),
    );
    expect(difference).toBeGreaterThan(0);
    expect(difference).toBeLessThan(3);
  });

  it('works in the oriented image (EXIF orientation 6)', async () => {
    const bytes = await sharp(await photo(2000, 1500))
      .withMetadata({ orientation: 6 })
      .jpeg()
      .toBuffer();
    const reduced = await content(bytes, shrinking);
    expect(reduced.transform).toMatchObject({ sourceWidth: 1500, sourceHeight: 2000, contentWidth: 240 });
    const expected = await sharp(bytes, { autoOrient: true })
      .resize(240, 320, { fit: 'fill', kernel: 'linear', fastShrinkOnLoad: true })
      .raw()
      .toBuffer();
    expect(window(reduced.content, 240, 320).equals(expected)).toBe(true);
  });

  it('keeps the exact path for images under twice the content, and for images with alpha', async () => {
    const small = await photo(600, 450);
    expect((await content(small, shrinking)).content.data).toEqual((await content(small, yolo)).content.data);
    const translucent = await fromRaw(noiseImage(1600, 1200))
      .ensureAlpha(0.5)
      .png({ compressionLevel: 1 })
      .toBuffer();
    expect((await content(translucent, shrinking)).content.data).toEqual(
      (await content(translucent, yolo)).content.data,
    );
  });

  it('reduces by the same linear kernel when the full image is kept for an overlay', async () => {
    const bytes = await encode(noiseImage(1600, 1200), 'png');
    const kept = await content(bytes, shrinking, true);
    const alone = await content(bytes, shrinking);
    // A PNG has no DCT-domain shrink: both sides are the linear reduction of the same pixels.
    expect(kept.content.data).toEqual(alone.content.data);
    expect(kept.rgb?.width).toBe(1600);
  });
});
