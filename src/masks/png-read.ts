/**
 * Reads the pixel values of a mask PNG: greyscale (a class id or 0/255 per pixel) or indexed (the palette
 * index is the class id, as encodeClassMapPng writes it and as VOC-style label files are). An image library
 * would expand an indexed PNG to the palette's colours and lose the class ids, so the few layouts masks come in
 * are read here directly; anything else (colour, alpha, 16 bits, interlaced) is refused with what to send.
 */
import { inflateSync } from 'node:zlib';
import { SegserveError } from '../errors.js';

const SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
const COLOUR_GREY = 0;
const COLOUR_INDEXED = 3;

export interface PngHeader {
  width: number;
  height: number;
  bitDepth: number;
  colourType: number;
  interlaced: boolean;
}

export interface MaskPng {
  width: number;
  height: number;
  /** Row-major, one value per pixel: the grey level or the palette index. */
  values: Uint8Array;
}

function invalid(reason: string): never {
  throw new SegserveError('INVALID_ARGUMENT', { reason: `not a mask PNG segserve reads: ${reason}` });
}

interface Chunk {
  type: string;
  body: Uint8Array;
}

/** The chunks in file order, each checked to lie inside the bytes (CRCs are not checked: zlib checks the data). */
function* chunks(bytes: Uint8Array): Generator<Chunk> {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let offset = SIGNATURE.length;
  while (offset + 8 <= bytes.length) {
    const length = view.getUint32(offset);
    const type = String.fromCharCode(...bytes.subarray(offset + 4, offset + 8));
    const start = offset + 8;
    if (start + length + 4 > bytes.length)
      invalid(`chunk ${JSON.stringify(type)} runs past the end of the file`);
    yield { type, body: bytes.subarray(start, start + length) };
    offset = start + length + 4;
  }
}

/** Size and layout from the IHDR chunk, without decompressing anything. */
export function readPngHeader(bytes: Uint8Array): PngHeader {
  if (bytes.length < 33 || !SIGNATURE.every((b, i) => bytes[i] === b)) invalid('no PNG signature');
  const first = chunks(bytes).next();
  if (first.done || first.value.type !== 'IHDR' || first.value.body.length !== 13) {
    invalid('the first chunk is not a 13-byte IHDR');
  }
  const body = first.value.body;
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  return {
    width: view.getUint32(0),
    height: view.getUint32(4),
    bitDepth: body[8],
    colourType: body[9],
    interlaced: body[12] !== 0,
  };
}

function checkLayout(header: PngHeader): void {
  const { width, height, bitDepth, colourType, interlaced } = header;
  if (width < 1 || height < 1) invalid(`it is ${width}x${height}`);
  if (colourType !== COLOUR_GREY && colourType !== COLOUR_INDEXED) {
    invalid(
      `its colour type is ${colourType}; save the mask as 8-bit greyscale or indexed (palette) PNG, ` +
        'one class id per pixel',
    );
  }
  if (![1, 2, 4, 8].includes(bitDepth)) invalid(`bit depth ${bitDepth}; masks are read at 1, 2, 4 or 8 bits`);
  if (interlaced) invalid('it is interlaced (Adam7); save it without interlacing');
}

/** The Paeth predictor of the PNG specification (section 9.4). */
function paeth(a: number, b: number, c: number): number {
  const p = a + b - c;
  const pa = Math.abs(p - a);
  const pb = Math.abs(p - b);
  const pc = Math.abs(p - c);
  if (pa <= pb && pa <= pc) return a;
  return pb <= pc ? b : c;
}

/** Undoes the per-row filters in place; every layout read here has one byte or less per pixel. */
function unfilter(raw: Uint8Array, rowBytes: number, height: number): Uint8Array {
  const out = new Uint8Array(rowBytes * height);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (rowBytes + 1)];
    const src = y * (rowBytes + 1) + 1;
    const row = y * rowBytes;
    const up = row - rowBytes;
    for (let i = 0; i < rowBytes; i++) {
      const left = i > 0 ? out[row + i - 1] : 0;
      const above = y > 0 ? out[up + i] : 0;
      const diagonal = y > 0 && i > 0 ? out[up + i - 1] : 0;
      let predicted: number;
      switch (filter) {
        case 0:
          predicted = 0;
          break;
        case 1:
          predicted = left;
          break;
        case 2:
          predicted = above;
          break;
        case 3:
          predicted = (left + above) >> 1;
          break;
        case 4:
          predicted = paeth(left, above, diagonal);
          break;
        default:
          invalid(`row ${y} has filter type ${filter}`);
      }
      out[row + i] = (raw[src + i] + predicted) & 0xff;
    }
  }
  return out;
}

/**
 * The value of every pixel of a greyscale or indexed PNG. The size comes from the header and is checked against
 * `maxPixels` before anything is decompressed, and decompression stops at the size the header implies, so a
 * small file cannot expand into gigabytes. Throws INVALID_ARGUMENT saying what is wrong.
 */
export function decodeMaskPng(bytes: Uint8Array, maxPixels: number): MaskPng {
  const header = readPngHeader(bytes);
  checkLayout(header);
  const { width, height, bitDepth } = header;
  if (width * height > maxPixels) invalid(`it has ${width * height} pixels, over the ${maxPixels} expected`);
  const parts: Uint8Array[] = [];
  for (const chunk of chunks(bytes)) {
    if (chunk.type === 'IDAT') parts.push(chunk.body);
    if (chunk.type === 'IEND') break;
  }
  if (parts.length === 0) invalid('it has no image data (IDAT)');
  const rowBytes = Math.ceil((width * bitDepth) / 8);
  const expected = (rowBytes + 1) * height;
  let raw: Uint8Array;
  try {
    raw = inflateSync(Buffer.concat(parts), { maxOutputLength: expected });
  } catch (error) {
    invalid(`its image data does not decompress to ${width}x${height} (${(error as Error).message})`);
  }
  if (raw.length !== expected) invalid(`its image data holds ${raw.length} bytes, not ${expected}`);
  const packed = unfilter(raw, rowBytes, height);
  if (bitDepth === 8) return { width, height, values: packed };
  // Sub-byte depths: pixels are packed from the high bits down, each row starting on a byte.
  const values = new Uint8Array(width * height);
  const perByte = 8 / bitDepth;
  const mask = (1 << bitDepth) - 1;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const byte = packed[y * rowBytes + Math.floor(x / perByte)];
      const shift = 8 - bitDepth * ((x % perByte) + 1);
      values[y * width + x] = (byte >> shift) & mask;
    }
  }
  return { width, height, values };
}
