/**
 * Label Studio's brush RLE: how its BrushLabels results carry a mask (`value.rle`, a list of byte values). It is
 * NOT COCO RLE. It is the bit-packed run-length format of @thi.ng/rle-pack, which Label Studio's editor decodes
 * (and label-studio-converter's brush.py writes), applied to the mask as an RGBA image: width x height x 4 values,
 * row-major, the 4 channels of a pixel side by side. The editor reads the alpha channel; label-studio-converter
 * writes every channel of a painted pixel as 255 and of an empty one as 0, and so do we.
 *
 * The bit stream, most significant bit of each byte first:
 * - header: 32 bits, the number of values; 5 bits, the word size - 1 (7: 8-bit values); 4 x 4 bits, the four
 *   run-length field widths - 1 (the widths are 3, 4, 8 and 16 bits, so a chunk spans at most 8, 16, 256 or
 *   65536 values);
 * - then chunks until the count is reached: 1 bit, 1 = a repeated value, 0 = literal values; 2 bits, which width
 *   w the length field has; w bits, the chunk's length - 1; then the value once (repeated) or `length` values
 *   (literal), 8 bits each;
 * - zero bits up to a byte boundary.
 */
import { SegserveError } from '../errors.js';
import type { BinaryMask } from './types.js';

const WORD_BITS = 8;
/** Bits of the length field of each chunk class (rle-pack's defaults, which Label Studio uses). */
const LENGTH_BITS = [3, 4, 8, 16] as const;
const MAX_CHUNK = 2 ** LENGTH_BITS[3];
const CHANNELS = 4;
const PAINTED = 255;

class BitWriter {
  private readonly bytes: number[] = [];
  private current = 0;
  private used = 0;

  /** Appends the `bits` low bits of `value`, most significant first. */
  write(value: number, bits: number): void {
    for (let i = bits - 1; i >= 0; i--) {
      this.current = (this.current << 1) | (Math.floor(value / 2 ** i) & 1);
      if (++this.used === 8) {
        this.bytes.push(this.current);
        this.current = 0;
        this.used = 0;
      }
    }
  }

  /** The bytes, the last one padded with zero bits. */
  finish(): number[] {
    if (this.used > 0) this.bytes.push(this.current << (8 - this.used));
    return this.bytes;
  }
}

class BitReader {
  private position = 0;

  constructor(private readonly bytes: readonly number[]) {}

  read(bits: number): number {
    let value = 0;
    for (let i = 0; i < bits; i++) {
      const byte = this.position >> 3;
      if (byte >= this.bytes.length) invalid('it ends before its last value');
      value = value * 2 + ((this.bytes[byte] >> (7 - (this.position & 7))) & 1);
      this.position++;
    }
    return value;
  }
}

function invalid(reason: string): never {
  throw new SegserveError('INVALID_ARGUMENT', { reason: `Label Studio brush RLE: ${reason}` });
}

/** The smallest chunk class whose length field holds `length` (1..65536). */
function lengthClass(length: number): number {
  return LENGTH_BITS.findIndex((bits) => length <= 2 ** bits);
}

/**
 * Packs 8-bit values. Runs of two or more equal values become repeat chunks (split every 65536 values); values
 * that differ from both neighbours are gathered into literal chunks. Any split decodes to the same values.
 */
export function encodeBrushRle(values: Uint8Array): number[] {
  const out = new BitWriter();
  out.write(values.length, 32);
  out.write(WORD_BITS - 1, 5);
  for (const bits of LENGTH_BITS) out.write(bits - 1, 4);
  const chunkHeader = (repeated: boolean, length: number) => {
    const kind = lengthClass(length);
    out.write(repeated ? 1 : 0, 1);
    out.write(kind, 2);
    out.write(length - 1, LENGTH_BITS[kind]);
  };
  let literalStart = -1;
  const flushLiterals = (end: number) => {
    for (let start = literalStart; literalStart >= 0 && start < end; start += MAX_CHUNK) {
      const length = Math.min(MAX_CHUNK, end - start);
      chunkHeader(false, length);
      for (let k = start; k < start + length; k++) out.write(values[k], WORD_BITS);
    }
    literalStart = -1;
  };
  let i = 0;
  while (i < values.length) {
    let j = i + 1;
    while (j < values.length && values[j] === values[i]) j++;
    if (j - i === 1) {
      if (literalStart < 0) literalStart = i;
    } else {
      flushLiterals(i);
      for (let start = i; start < j; start += MAX_CHUNK) {
        chunkHeader(true, Math.min(MAX_CHUNK, j - start));
        out.write(values[i], WORD_BITS);
      }
    }
    i = j;
  }
  flushLiterals(values.length);
  return out.finish();
}

/** Unpacks what encodeBrushRle (or Label Studio) wrote; throws INVALID_ARGUMENT on a malformed stream. */
export function decodeBrushRle(rle: readonly number[]): Uint8Array {
  if (!rle.every((b) => Number.isInteger(b) && b >= 0 && b <= 255))
    invalid('its items must be bytes (0..255)');
  const input = new BitReader(rle);
  const count = input.read(32);
  const wordBits = input.read(5) + 1;
  if (wordBits > 8) invalid(`it holds ${wordBits}-bit values; a brush mask holds 8-bit values`);
  const lengthBits = [0, 0, 0, 0].map(() => input.read(4) + 1);
  const out = new Uint8Array(count);
  let i = 0;
  while (i < count) {
    const repeated = input.read(1) === 1;
    const end = i + 1 + input.read(lengthBits[input.read(2)]);
    if (end > count) invalid(`a chunk reaches value ${end} of ${count}`);
    if (repeated) {
      out.fill(input.read(wordBits), i, end);
      i = end;
    } else {
      for (; i < end; i++) out[i] = input.read(wordBits);
    }
  }
  return out;
}

/** A mask as Label Studio's `value.rle`: RGBA, every channel 255 where painted and 0 elsewhere. */
export function maskToBrushRle(mask: BinaryMask): number[] {
  const rgba = new Uint8Array(mask.data.length * CHANNELS);
  for (let i = 0; i < mask.data.length; i++) {
    if (mask.data[i]) rgba.fill(PAINTED, i * CHANNELS, i * CHANNELS + CHANNELS);
  }
  return encodeBrushRle(rgba);
}

/** The mask of a brush result of a width x height image: painted where the alpha channel is not 0. */
export function brushRleToMask(rle: readonly number[], width: number, height: number): BinaryMask {
  const rgba = decodeBrushRle(rle);
  if (rgba.length !== width * height * CHANNELS) {
    invalid(`it holds ${rgba.length} values, not ${width}x${height}x${CHANNELS}`);
  }
  const data = new Uint8Array(width * height);
  for (let i = 0; i < data.length; i++) data[i] = rgba[i * CHANNELS + CHANNELS - 1] === 0 ? 0 : 1;
  return { width, height, data };
}
