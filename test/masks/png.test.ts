import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { SegserveError } from '../../src/errors.js';
import { classPalette } from '../../src/masks/palette.js';
import { encodeBinaryMaskPng, encodeClassMapPng, encodeGreyPng } from '../../src/masks/png.js';
import { ellipseMask, firstDifference, seededRandom } from './helpers.js';

/** Pixels as sharp decodes them (grey comes back as RGB), plus the channel count stored in the file. */
async function decode(
  png: Buffer,
): Promise<{ data: Buffer; width: number; height: number; channels: number; fileChannels: number }> {
  const { data, info } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
  const metadata = await sharp(png).metadata();
  return {
    data,
    width: info.width,
    height: info.height,
    channels: info.channels,
    fileChannels: metadata.channels,
  };
}

/** Repeats each grey value over `channels` channels, optionally followed by an alpha value. */
function spread(values: Uint8Array, channels: number, alpha?: Uint8Array): Uint8Array {
  const out = new Uint8Array(values.length * (channels + (alpha ? 1 : 0)));
  let o = 0;
  for (let i = 0; i < values.length; i++) {
    for (let k = 0; k < channels; k++) out[o++] = values[i];
    if (alpha) out[o++] = alpha[i];
  }
  return out;
}

/** IHDR's colour type byte: signature (8) + length (4) + "IHDR" (4) + width (4) + height (4) + bit depth (1). */
function colourType(png: Buffer): number {
  return png[25];
}

describe('PNG encoders', () => {
  it('encodeClassMapPng decodes to the palette colour of every pixel', async () => {
    const random = seededRandom(4);
    const [width, height] = [257, 131];
    const palette = classPalette(7, { background: [0, 0, 0] });
    const classMap = new Uint8Array(width * height).map(() => Math.floor(random() * 7));
    const png = encodeClassMapPng(classMap, width, height, palette);
    expect(colourType(png)).toBe(3);
    const image = await decode(png);
    expect([image.width, image.height, image.channels]).toEqual([width, height, 3]);
    const expected = new Uint8Array(width * height * 3);
    for (let i = 0; i < classMap.length; i++) expected.set(palette[classMap[i]], i * 3);
    expect(firstDifference(image.data, expected)).toBe(-1);
  });

  it('encodeClassMapPng makes the transparent index fully transparent and the rest opaque', async () => {
    const palette = classPalette(3, { background: [0, 0, 0] });
    const classMap = Uint8Array.from([0, 1, 2, 0, 2, 1]);
    const image = await decode(encodeClassMapPng(classMap, 3, 2, palette, { transparentIndex: 0 }));
    expect(image.channels).toBe(4);
    const alphas = Array.from({ length: 6 }, (_, i) => image.data[i * 4 + 3]);
    expect(alphas).toEqual([0, 255, 255, 0, 255, 255]);
    expect(Array.from(image.data.subarray(4, 7))).toEqual(palette[1]);
  });

  it('encodeClassMapPng gives palette entries the opacity `alphas` lists, the rest opaque', async () => {
    const palette = classPalette(4);
    const classMap = Uint8Array.from([0, 1, 2, 3]);
    const image = await decode(encodeClassMapPng(classMap, 4, 1, palette, { alphas: [0, 140, 255] }));
    expect(Array.from({ length: 4 }, (_, i) => image.data[i * 4 + 3])).toEqual([0, 140, 255, 255]);
    expect(Array.from(image.data.subarray(4, 7))).toEqual(palette[1]);
    expect(() => encodeClassMapPng(classMap, 4, 1, palette, { alphas: [0, 0, 0, 0, 0] })).toThrow(/alphas/);
  });

  it('encodeGreyPng keeps every value, on odd sizes and a 1x1 image', async () => {
    const random = seededRandom(8);
    for (const [width, height] of [
      [1, 1],
      [3, 5],
      [199, 61],
    ]) {
      const values = new Uint8Array(width * height).map(() => Math.floor(random() * 256));
      const png = encodeGreyPng(values, width, height);
      expect(colourType(png)).toBe(0);
      const image = await decode(png);
      expect([image.width, image.height, image.fileChannels]).toEqual([width, height, 1]);
      expect(firstDifference(image.data, spread(values, image.channels))).toBe(-1);
    }
  });

  it('encodeBinaryMaskPng writes 0/255 grey, or white with 0/255 alpha', async () => {
    const mask = ellipseMask(90, 70, 40, 30, 25, 20);
    const grey = await decode(encodeBinaryMaskPng(mask, 'grey'));
    expect(grey.fileChannels).toBe(1);
    const white = mask.data.map((v) => v * 255);
    expect(firstDifference(grey.data, spread(white, grey.channels))).toBe(-1);

    const png = encodeBinaryMaskPng(mask, 'alpha');
    expect(colourType(png)).toBe(4);
    const alpha = await decode(png);
    expect(alpha.fileChannels).toBe(2);
    const expected = spread(new Uint8Array(mask.data.length).fill(255), alpha.channels - 1, white);
    expect(firstDifference(alpha.data, expected)).toBe(-1);
  });

  it('ends with the standard IEND chunk (checks the CRC table)', () => {
    const png = encodeGreyPng(new Uint8Array(4), 2, 2);
    expect(png.subarray(png.length - 12).toString('hex')).toBe('0000000049454e44ae426082');
    expect(png.subarray(0, 8).toString('hex')).toBe('89504e470d0a1a0a');
  });

  it('rejects wrong sizes, empty images, too small palettes and bad transparent indices', () => {
    expect(() => encodeGreyPng(new Uint8Array(5), 2, 2)).toThrow(SegserveError);
    expect(() => encodeGreyPng(new Uint8Array(0), 0, 0)).toThrow(/positive size/);
    expect(() => encodeClassMapPng(Uint8Array.from([0, 3]), 2, 1, classPalette(3))).toThrow(/index 3/);
    expect(() => encodeClassMapPng(Uint8Array.from([0, 1]), 2, 1, [])).toThrow(/1 to 256/);
    expect(() =>
      encodeClassMapPng(Uint8Array.from([0, 1]), 2, 1, classPalette(2), { transparentIndex: 2 }),
    ).toThrow(/transparentIndex/);
  });
});
