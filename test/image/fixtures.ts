/**
 * Images for the image-layer tests, made in memory (sharp, or byte by byte where a file must lie or break):
 * nothing is committed and nothing is read from disk.
 */
import { crc32, deflateSync } from 'node:zlib';
import sharp from 'sharp';
import type { z } from 'zod';
import type { RawImage } from '../../src/image/types.js';
import { type InputConfig, InputConfigSchema } from '../../src/models/config.js';

export type Rgb = [number, number, number];

export function inputConfig(fields: z.input<typeof InputConfigSchema>): InputConfig {
  return InputConfigSchema.parse(fields);
}

/** Deterministic pseudo-random bytes (a linear congruential generator), so failures reproduce. */
export function noiseBytes(length: number, seed = 1): Buffer {
  const out = Buffer.alloc(length);
  let state = seed >>> 0;
  for (let i = 0; i < length; i++) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    out[i] = state >>> 24;
  }
  return out;
}

export function solidRaw(width: number, height: number, rgb: Rgb): RawImage {
  const data = new Uint8Array(width * height * 3);
  for (let i = 0; i < data.length; i += 3) data.set(rgb, i);
  return { width, height, channels: 3, data };
}

/** A solid image with a `markerSize` square of `marker` colour in its stored top-left corner. */
export function markedRaw(
  width: number,
  height: number,
  markerSize: number,
  background: Rgb,
  marker: Rgb,
): RawImage {
  const image = solidRaw(width, height, background);
  for (let y = 0; y < markerSize; y++) {
    for (let x = 0; x < markerSize; x++) image.data.set(marker, (y * width + x) * 3);
  }
  return image;
}

export function fromRaw(raw: RawImage): sharp.Sharp {
  return sharp(raw.data, { raw: { width: raw.width, height: raw.height, channels: raw.channels } });
}

export function noiseImage(width: number, height: number, seed = 1): RawImage {
  return { width, height, channels: 3, data: noiseBytes(width * height * 3, seed) };
}

export type Encoding = 'jpeg' | 'png' | 'webp' | 'gif' | 'tiff' | 'avif';

export function encode(raw: RawImage, format: Encoding): Promise<Buffer> {
  return fromRaw(raw).toFormat(format).toBuffer();
}

function pngChunk(type: string, data: Buffer): Buffer {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([length, body, crc]);
}

/**
 * A well-formed PNG whose IHDR declares `width` x `height` 8-bit RGB but whose data is a few bytes: what a
 * decompression bomb looks like to a header reader, without the bomb.
 */
export function pngDeclaring(width: number, height: number): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // colour type: RGB
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    pngChunk('IHDR', ihdr),
    pngChunk('IDAT', deflateSync(Buffer.alloc(16))),
    pngChunk('IEND', Buffer.alloc(0)),
  ]);
}

function u16(value: number): Buffer {
  const out = Buffer.alloc(2);
  out.writeUInt16BE(value);
  return out;
}

function u32(value: number): Buffer {
  const out = Buffer.alloc(4);
  out.writeUInt32BE(value);
  return out;
}

function box(type: string, ...parts: Buffer[]): Buffer {
  const body = Buffer.concat(parts);
  return Buffer.concat([u32(8 + body.length), Buffer.from(type, 'latin1'), body]);
}

function fullBox(type: string, version: number, ...parts: Buffer[]): Buffer {
  return box(type, Buffer.from([version, 0, 0, 0]), ...parts);
}

/**
 * The container of an HEVC-coded HEIF image (what iPhones write), with a valid structure and a placeholder
 * bitstream: enough for a header reader to see a `width` x `height` HEVC image.
 */
export function heicContainer(width: number, height: number): Buffer {
  const hvcC = box(
    'hvcC',
    Buffer.from([1, 1]), // configurationVersion, Main profile
    u32(0x60000000), // profile compatibility flags
    Buffer.alloc(6), // constraint flags
    Buffer.from([90]), // level 3
    u16(0xf000), // min spatial segmentation
    Buffer.from([0xfc, 0xfd, 0xf8, 0xf8]), // parallelism, 4:2:0 chroma, 8-bit luma and chroma
    u16(0), // average frame rate
    Buffer.from([0x0f, 0]), // length size 4, no parameter-set arrays
  );
  const payload = Buffer.alloc(16);
  const build = (dataOffset: number): Buffer =>
    Buffer.concat([
      box('ftyp', Buffer.from('heic', 'latin1'), u32(0), Buffer.from('mif1heic', 'latin1')),
      fullBox(
        'meta',
        0,
        fullBox('hdlr', 0, u32(0), Buffer.from('pict', 'latin1'), Buffer.alloc(12), Buffer.from([0])),
        fullBox('pitm', 0, u16(1)),
        // iloc: 4-byte offsets and lengths, one item with one extent in mdat.
        fullBox(
          'iloc',
          0,
          Buffer.from([0x44, 0]),
          u16(1),
          u16(1),
          u16(0),
          u16(1),
          u32(dataOffset),
          u32(payload.length),
        ),
        fullBox(
          'iinf',
          0,
          u16(1),
          fullBox('infe', 2, u16(1), u16(0), Buffer.from('hvc1', 'latin1'), Buffer.from([0])),
        ),
        box(
          'iprp',
          box('ipco', hvcC, fullBox('ispe', 0, u32(width), u32(height))),
          fullBox('ipma', 0, u32(1), u16(1), Buffer.from([2, 0x81, 0x02])),
        ),
      ),
      box('mdat', payload),
    ]);
  const layout = build(0);
  return build(layout.length - payload.length);
}

/** The pixel at (x, y) of an NCHW tensor with 3 channels. */
export function nchwPixel(data: Float32Array, width: number, height: number, x: number, y: number): number[] {
  const plane = width * height;
  return [0, 1, 2].map((c) => data[c * plane + y * width + x]);
}
