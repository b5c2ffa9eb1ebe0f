/**
 * Minimal PNG writers for masks: indexed class maps, 8-bit grey and grey+alpha. Written directly (chunks,
 * CRC32, zlib) because these three layouts are all segserve sends, and the bytes are ready without a round trip
 * through an image library.
 */
import { deflateSync } from 'node:zlib';
import { SegserveError } from '../errors.js';
import type { Rgb } from './palette.js';
import type { BinaryMask } from './types.js';

const SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
const COLOUR_GREY = 0;
const COLOUR_INDEXED = 3;
const COLOUR_GREY_ALPHA = 4;
const FILTER_NONE = 0;
const FILTER_SUB = 1;

const CRC_TABLE = (() => {
  const table = new Int32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c;
  }
  return table;
})();

function crc32(bytes: Uint8Array, crc = -1): number {
  for (let i = 0; i < bytes.length; i++) crc = CRC_TABLE[(crc ^ bytes[i]) & 0xff] ^ (crc >>> 8);
  return crc;
}

function chunk(type: string, body: Uint8Array): Buffer {
  const out = Buffer.alloc(12 + body.length);
  out.writeUInt32BE(body.length, 0);
  out.write(type, 4, 'latin1');
  out.set(body, 8);
  // The CRC covers the type and the body, not the length.
  out.writeUInt32BE((crc32(out.subarray(4, 8 + body.length)) ^ -1) >>> 0, 8 + body.length);
  return out;
}

function checkSize(width: number, height: number, length: number, bytesPerPixel: number): void {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new SegserveError('INVALID_ARGUMENT', {
      reason: `a PNG needs a positive size, got ${width}x${height}`,
    });
  }
  if (length !== width * height * bytesPerPixel) {
    throw new SegserveError('INVALID_ARGUMENT', {
      reason: `${length} bytes do not match a ${width}x${height} image with ${bytesPerPixel} byte(s) per pixel`,
    });
  }
}

/**
 * Assembles the file from interleaved 8-bit samples. Indexed images are written unfiltered (the PNG spec's
 * advice for palettes); grey ones use the Sub filter, which turns the flat stretches of masks and the smooth
 * ramps of probability maps into zeros that deflate packs tightly.
 */
function encodePng(
  pixels: Uint8Array,
  width: number,
  height: number,
  colourType: number,
  bytesPerPixel: number,
  extraChunks: Buffer[],
): Buffer {
  const rowBytes = width * bytesPerPixel;
  const filter = colourType === COLOUR_INDEXED ? FILTER_NONE : FILTER_SUB;
  const raw = Buffer.allocUnsafe((rowBytes + 1) * height);
  for (let y = 0; y < height; y++) {
    const src = y * rowBytes;
    const dst = y * (rowBytes + 1);
    raw[dst] = filter;
    if (filter === FILTER_NONE) {
      raw.set(pixels.subarray(src, src + rowBytes), dst + 1);
      continue;
    }
    for (let i = 0; i < bytesPerPixel; i++) raw[dst + 1 + i] = pixels[src + i];
    for (let i = bytesPerPixel; i < rowBytes; i++) {
      raw[dst + 1 + i] = (pixels[src + i] - pixels[src + i - bytesPerPixel]) & 0xff;
    }
  }
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header[8] = 8; // bit depth
  header[9] = colourType;
  // Bytes 10-12 (compression, filter method, interlace) stay 0: the only values PNG defines, no interlace.
  return Buffer.concat([
    SIGNATURE,
    chunk('IHDR', header),
    ...extraChunks,
    chunk('IDAT', deflateSync(raw, { level: 6 })),
    chunk('IEND', new Uint8Array(0)),
  ]);
}

/**
 * Indexed-colour PNG of a class map: pixel value = palette index; `transparentIndex` becomes fully transparent;
 * `alphas` gives the opacity (0-255) of palette entries from index 0 (entries it leaves out are opaque), for
 * masks meant to be laid over an image (a translucent fill, an opaque edge).
 */
export function encodeClassMapPng(
  classMap: Uint8Array,
  width: number,
  height: number,
  palette: Rgb[],
  options: { transparentIndex?: number; alphas?: readonly number[] } = {},
): Buffer {
  checkSize(width, height, classMap.length, 1);
  if (palette.length < 1 || palette.length > 256) {
    throw new SegserveError('INVALID_ARGUMENT', {
      reason: `a PNG palette holds 1 to 256 colours, got ${palette.length}`,
    });
  }
  let highest = 0;
  for (let i = 0; i < classMap.length; i++) if (classMap[i] > highest) highest = classMap[i];
  if (highest >= palette.length) {
    throw new SegserveError('INVALID_ARGUMENT', {
      reason: `the class map holds index ${highest} but the palette has only ${palette.length} colours`,
    });
  }
  const plte = new Uint8Array(palette.length * 3);
  palette.forEach((colour, i) => {
    for (let k = 0; k < 3; k++) plte[i * 3 + k] = clampByte(colour[k]);
  });
  const chunks = [chunk('PLTE', plte)];
  const { transparentIndex, alphas } = options;
  if (alphas !== undefined) {
    if (transparentIndex !== undefined || alphas.length > palette.length) {
      throw new SegserveError('INVALID_ARGUMENT', {
        reason: `alphas (${alphas.length}) must not outnumber the ${palette.length} colours nor come with transparentIndex`,
      });
    }
    chunks.push(chunk('tRNS', Uint8Array.from(alphas, clampByte)));
  }
  if (transparentIndex !== undefined) {
    if (!Number.isInteger(transparentIndex) || transparentIndex < 0 || transparentIndex >= palette.length) {
      throw new SegserveError('INVALID_ARGUMENT', {
        reason: `transparentIndex ${transparentIndex} is not an index of the ${palette.length}-colour palette`,
      });
    }
    // tRNS lists alphas from index 0; entries it leaves out are opaque.
    const alphas = new Uint8Array(transparentIndex + 1).fill(255);
    alphas[transparentIndex] = 0;
    chunks.push(chunk('tRNS', alphas));
  }
  return encodePng(classMap, width, height, COLOUR_INDEXED, 1, chunks);
}

/** 8-bit greyscale PNG, one byte per pixel (probability maps, 0/255 masks). */
export function encodeGreyPng(values: Uint8Array, width: number, height: number): Buffer {
  checkSize(width, height, values.length, 1);
  return encodePng(values, width, height, COLOUR_GREY, 1, []);
}

/**
 * A binary mask as PNG: 'grey' is black/white (0/255); 'alpha' is white whose alpha is 0 outside and 255 inside
 * the mask, ready to lay over an image.
 */
export function encodeBinaryMaskPng(mask: BinaryMask, mode: 'grey' | 'alpha'): Buffer {
  const { width, height, data } = mask;
  checkSize(width, height, data.length, 1);
  if (mode === 'grey') {
    const grey = new Uint8Array(data.length);
    for (let i = 0; i < data.length; i++) grey[i] = data[i] === 0 ? 0 : 255;
    return encodePng(grey, width, height, COLOUR_GREY, 1, []);
  }
  const pixels = new Uint8Array(data.length * 2).fill(255);
  for (let i = 0; i < data.length; i++) if (data[i] === 0) pixels[2 * i + 1] = 0;
  return encodePng(pixels, width, height, COLOUR_GREY_ALPHA, 2, []);
}

function clampByte(value: number): number {
  return value <= 0 ? 0 : value >= 255 ? 255 : Math.round(value);
}
