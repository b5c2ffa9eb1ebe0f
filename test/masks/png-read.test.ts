/**
 * Reading mask PNGs (src/masks/png-read.ts): the values of greyscale and indexed PNGs as segserve and other tools
 * write them (every row filter, 1 to 8 bits), and clear refusals of what masks never are.
 */
import { deflateSync, inflateSync } from 'node:zlib';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { isSegserveError } from '../../src/errors.js';
import { decodeMaskPng, encodeClassMapPng, encodeGreyPng, readPngHeader } from '../../src/masks/index.js';
import { seededRandom } from '../helpers/random.js';

const CRC = new Int32Array(256).map((_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c;
});

function chunk(type: string, body: Uint8Array): Buffer {
  const out = Buffer.alloc(12 + body.length);
  out.writeUInt32BE(body.length, 0);
  out.write(type, 4, 'latin1');
  out.set(body, 8);
  let crc = -1;
  for (const byte of out.subarray(4, 8 + body.length)) crc = CRC[(crc ^ byte) & 0xff] ^ (crc >>> 8);
  out.writeUInt32BE((crc ^ -1) >>> 0, 8 + body.length);
  return out;
}

/** A PNG written by hand: `rows` are the filtered scanlines (filter byte first), `header` overrides IHDR fields. */
function handMade(
  width: number,
  height: number,
  rows: Uint8Array,
  header: { bitDepth?: number; colourType?: number; interlace?: number } = {},
): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = header.bitDepth ?? 8;
  ihdr[9] = header.colourType ?? 0;
  ihdr[12] = header.interlace ?? 0;
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(rows)),
    chunk('IEND', new Uint8Array(0)),
  ]);
}

/** The filter type of every row of a one-byte-per-pixel PNG with a single IDAT chunk, each type once, sorted. */
function filtersOf(png: Buffer, width: number, height: number): number[] {
  const at = png.indexOf('IDAT');
  const rows = inflateSync(png.subarray(at + 4, at + 4 + png.readUInt32BE(at - 4)));
  const types = Array.from({ length: height }, (_, y) => rows[y * (width + 1)]);
  return [...new Set(types)].sort();
}

function refusal(action: () => unknown): string {
  try {
    action();
  } catch (error) {
    if (isSegserveError(error) && error.code === 'INVALID_ARGUMENT') return error.message;
    throw error;
  }
  throw new Error('not refused');
}

describe('decodeMaskPng', () => {
  const random = seededRandom(7);
  const width = 37;
  const height = 23;
  const classes = Uint8Array.from({ length: width * height }, () => Math.floor(random() * 5));

  it("reads back the class ids of segserve's indexed and greyscale PNGs", () => {
    const palette = classes.reduce((n, v) => Math.max(n, v + 1), 0);
    const indexed = encodeClassMapPng(
      classes,
      width,
      height,
      Array.from({ length: palette }, (_, i) => [i, 0, 0]),
    );
    expect(decodeMaskPng(indexed, width * height)).toEqual({ width, height, values: classes });
    expect(decodeMaskPng(encodeGreyPng(classes, width, height), width * height).values).toEqual(classes);
    expect(readPngHeader(indexed)).toMatchObject({ width, height, bitDepth: 8, colourType: 3 });
  });

  it('undoes every row filter, as an encoder choosing per row writes them (sharp, adaptive filtering)', async () => {
    // Smooth ramps and noise make libpng pick Sub, Up, Average and Paeth rows.
    const grey = Uint8Array.from({ length: width * height }, (_, i) =>
      i % 3 === 0 ? Math.floor(random() * 256) : (i * 7) % 256,
    );
    const png = await sharp(Buffer.from(grey), { raw: { width, height, channels: 1 } })
      .toColourspace('b-w')
      .png({ adaptiveFiltering: true, compressionLevel: 9 })
      .toBuffer();
    expect(filtersOf(png, width, height).length).toBeGreaterThan(1);
    expect(decodeMaskPng(png, width * height).values).toEqual(grey);
  });

  it('undoes each of the five filters (None, Sub, Up, Average, Paeth), one per row in turn', () => {
    const grey = Uint8Array.from({ length: width * height }, () => Math.floor(random() * 256));
    const rows = new Uint8Array((width + 1) * height);
    const at = (x: number, y: number) => (x < 0 || y < 0 ? 0 : grey[y * width + x]);
    for (let y = 0; y < height; y++) {
      const filter = y % 5;
      rows[y * (width + 1)] = filter;
      for (let x = 0; x < width; x++) {
        const [a, b, c] = [at(x - 1, y), at(x, y - 1), at(x - 1, y - 1)];
        const p = a + b - c;
        const paeth =
          Math.abs(p - a) <= Math.abs(p - b) && Math.abs(p - a) <= Math.abs(p - c)
            ? a
            : Math.abs(p - b) <= Math.abs(p - c)
              ? b
              : c;
        const predicted = [0, a, b, (a + b) >> 1, paeth][filter];
        rows[y * (width + 1) + 1 + x] = (at(x, y) - predicted) & 0xff;
      }
    }
    expect(decodeMaskPng(handMade(width, height, rows), width * height).values).toEqual(grey);
  });

  it('unpacks 1, 2 and 4 bits per pixel, each row starting on a byte', () => {
    for (const bitDepth of [1, 2, 4]) {
      const values = Uint8Array.from({ length: width * height }, () => Math.floor(random() * 2 ** bitDepth));
      const rowBytes = Math.ceil((width * bitDepth) / 8);
      const rows = new Uint8Array((rowBytes + 1) * height);
      for (let y = 0; y < height; y++) {
        for (let x = 0; x < width; x++) {
          const at = y * (rowBytes + 1) + 1 + Math.floor((x * bitDepth) / 8);
          rows[at] |= values[y * width + x] << (8 - bitDepth - ((x * bitDepth) % 8));
        }
      }
      const png = handMade(width, height, rows, { bitDepth, colourType: bitDepth === 1 ? 0 : 3 });
      expect(decodeMaskPng(png, width * height).values, `${bitDepth} bits`).toEqual(values);
    }
  });

  it('refuses what a mask never is: colour, interlaced, 16 bits, not a PNG, truncated data', async () => {
    const rgb = await sharp(Buffer.alloc(12), { raw: { width: 2, height: 2, channels: 3 } })
      .png()
      .toBuffer();
    expect(refusal(() => decodeMaskPng(rgb, 4))).toMatch(
      /colour type is 2; save the mask as 8-bit greyscale/,
    );
    const rows = new Uint8Array(3 * 2);
    expect(refusal(() => decodeMaskPng(handMade(2, 2, rows, { interlace: 1 }), 4))).toMatch(/interlaced/);
    expect(refusal(() => decodeMaskPng(handMade(2, 2, rows, { bitDepth: 16 }), 4))).toMatch(/bit depth 16/);
    expect(refusal(() => decodeMaskPng(Buffer.from('GIF89a and more bytes than a header'), 4))).toMatch(
      /no PNG signature/,
    );
    expect(refusal(() => decodeMaskPng(handMade(2, 2, rows.subarray(0, 4)), 4))).toMatch(
      /holds 4 bytes, not 6/,
    );
    expect(refusal(() => decodeMaskPng(handMade(2, 2, Uint8Array.from([0, 1, 2, 9, 1, 2])), 4))).toMatch(
      /filter type 9/,
    );
  });

  it('checks the size before decompressing, and stops at the size the header states', () => {
    // 1 MB of zeros deflate to about 1 KB; the header says 2x2.
    const bomb = handMade(2, 2, new Uint8Array(1_000_000));
    expect(refusal(() => decodeMaskPng(bomb, 4))).toMatch(/does not decompress to 2x2/);
    const large = handMade(1000, 1000, new Uint8Array(1001 * 1000));
    expect(refusal(() => decodeMaskPng(large, 4))).toMatch(/1000000 pixels, over the 4 expected/);
  });
});
