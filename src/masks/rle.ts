/**
 * COCO run-length encoding, byte-compatible with pycocotools (maskApi.c): runs over the mask in column-major
 * order, alternating background and foreground, starting with background (so the first count may be 0).
 */
import { SegserveError } from '../errors.js';
import { asCroppedMask, type MaskBox } from './crop.js';
import type { BinaryMask, CompressedRle, CroppedMask, UncompressedRle } from './types.js';

/** Counts of a whole-image mask; any non-zero byte counts as foreground. */
export function encodeMask(mask: BinaryMask): number[] {
  return encodeCroppedMask(asCroppedMask(mask));
}

/**
 * Counts of a cropped mask. Columns left and right of the crop, and the rows above and below it, only lengthen
 * the background run they fall into, so the cost is the crop's pixel count plus its width.
 *
 * Walking the crop column by column (the RLE order) reads memory with a stride and costs a branch per pixel.
 * Instead the rows are compared with the row above 4 bytes at a time, which finds the few places where a
 * column changes value; the runs are then assembled column by column from those change points alone.
 */
export function encodeCroppedMask(mask: CroppedMask): number[] {
  checkCrop(mask);
  const { width, height, left, top, cropWidth, cropHeight } = mask;
  const below = height - top - cropHeight;
  const changes = columnChanges(mask);
  const out = new RunWriter(left * height);
  for (let x = 0; x < cropWidth; x++) {
    out.add(false, top);
    let on = cropHeight > 0 && changes.firstRow[x] !== 0;
    let y = 0;
    for (let k = changes.columnStart[x], end = changes.columnStart[x + 1]; k < end; k++) {
      const row = changes.rows[k];
      out.add(on, row - y);
      y = row;
      on = !on;
    }
    out.add(on, cropHeight - y);
    out.add(false, below);
  }
  out.add(false, (width - left - cropWidth) * height);
  return out.finish();
}

/** Appends spans to alternating background/foreground runs, merging spans of the same kind. */
class RunWriter {
  private readonly counts: number[] = [];
  private run: number;
  private on = false;

  constructor(initialBackground: number) {
    this.run = initialBackground;
  }

  add(on: boolean, length: number): void {
    if (length === 0) return;
    if (on !== this.on) {
      this.counts.push(this.run);
      this.run = 0;
      this.on = on;
    }
    this.run += length;
  }

  finish(): number[] {
    this.counts.push(this.run);
    return this.counts;
  }
}

interface ColumnChanges {
  /** The crop's first row, one byte per column (the value each column starts with). */
  firstRow: Uint8Array;
  /** Rows where column x changes value are rows[columnStart[x] .. columnStart[x + 1]), increasing. */
  columnStart: Int32Array;
  rows: Int32Array;
}

function columnChanges(mask: CroppedMask): ColumnChanges {
  const { cropWidth: cw, cropHeight: ch } = mask;
  // Word compares need rows that start on a 4-byte boundary; copy into a padded buffer when they do not.
  const stride = (cw + 3) & ~3;
  let bytes = mask.data;
  if (stride !== cw || bytes.byteOffset % 4 !== 0) {
    bytes = new Uint8Array(stride * ch);
    for (let y = 0; y < ch; y++) bytes.set(mask.data.subarray(y * cw, (y + 1) * cw), y * stride);
  }
  const words = new Uint32Array(bytes.buffer, bytes.byteOffset, (stride * ch) >> 2);
  const wordsPerRow = stride >> 2;
  const perColumn = new Int32Array(cw + 1);
  let xs = new Int32Array(2 * cw + 64);
  let ys = new Int32Array(xs.length);
  let n = 0;
  for (let y = 1; y < ch; y++) {
    const rowWord = y * wordsPerRow;
    for (let k = 0; k < wordsPerRow; k++) {
      if (words[rowWord + k] === words[rowWord - wordsPerRow + k]) continue;
      const end = Math.min(k * 4 + 4, cw);
      for (let x = k * 4; x < end; x++) {
        const i = y * stride + x;
        // Compare as booleans: the bytes may differ (1 vs 255) without the pixel changing.
        if ((bytes[i] !== 0) === (bytes[i - stride] !== 0)) continue;
        if (n === xs.length) {
          xs = grow(xs);
          ys = grow(ys);
        }
        xs[n] = x;
        ys[n] = y;
        n++;
        perColumn[x + 1]++;
      }
    }
  }
  // Counting sort by column; scanning rows top-down already left each column's rows in increasing order.
  for (let x = 0; x < cw; x++) perColumn[x + 1] += perColumn[x];
  const next = perColumn.slice(0, cw);
  const rows = new Int32Array(n);
  for (let k = 0; k < n; k++) rows[next[xs[k]]++] = ys[k];
  return { firstRow: bytes.subarray(0, cw), columnStart: perColumn, rows };
}

function grow(array: Int32Array<ArrayBuffer>): Int32Array<ArrayBuffer> {
  const bigger = new Int32Array(array.length * 2);
  bigger.set(array);
  return bigger;
}

function checkCrop(mask: CroppedMask): void {
  const { width, height, left, top, cropWidth, cropHeight, data } = mask;
  const ints = [width, height, left, top, cropWidth, cropHeight];
  if (
    !ints.every((v) => Number.isInteger(v) && v >= 0) ||
    left + cropWidth > width ||
    top + cropHeight > height ||
    data.length !== cropWidth * cropHeight
  ) {
    throw new SegserveError('INVALID_ARGUMENT', {
      reason: `mask data of ${data.length} bytes for a ${cropWidth}x${cropHeight} crop at (${left}, ${top}) does not fit a ${width}x${height} image`,
    });
  }
}

/**
 * pycocotools' compressed string (rleToString): from the fourth count on, each value is stored as the difference
 * to the count two places back (runs of the same kind have similar lengths), then written 5 bits per character,
 * low bits first, 0x20 = more characters follow, 0x10 in the last character = negative, offset by 48 ('0').
 */
export function countsToString(counts: number[]): string {
  const chars: number[] = [];
  for (let i = 0; i < counts.length; i++) {
    let x = i > 2 ? counts[i] - counts[i - 2] : counts[i];
    let more = true;
    while (more) {
      // Arithmetic instead of `& 31` / `>> 5` so counts above 2^31 do not wrap.
      const low = x - Math.floor(x / 32) * 32;
      x = Math.floor(x / 32);
      more = low & 0x10 ? x !== -1 : x !== 0;
      chars.push((more ? low | 0x20 : low) + 48);
    }
  }
  // Every character is ASCII ('0'..'o'), which UTF-8 decodes unchanged. TextDecoder avoids
  // String.fromCharCode(...chars) overflowing the stack, and unlike Buffer it exists in the browser UI too.
  return ASCII.decode(Uint8Array.from(chars));
}

const ASCII = new TextDecoder();

/** Inverse of `countsToString` (pycocotools' rleFrString); throws INVALID_ARGUMENT on malformed text. */
export function stringToCounts(s: string): number[] {
  const counts: number[] = [];
  let p = 0;
  while (p < s.length) {
    let x = 0;
    let scale = 1;
    let more = true;
    while (more) {
      if (p >= s.length) invalid('the RLE string ends in the middle of a value');
      const c = s.charCodeAt(p) - 48;
      if (c < 0 || c > 63)
        invalid(`character ${JSON.stringify(s[p])} at ${p} is not part of a COCO RLE string`);
      x += (c & 0x1f) * scale;
      scale *= 32;
      more = (c & 0x20) !== 0;
      p++;
      if (!more && c & 0x10) x -= scale;
    }
    if (counts.length > 2) x += counts[counts.length - 2];
    if (x < 0) invalid(`run ${counts.length} of the RLE string is negative (${x})`);
    counts.push(x);
  }
  return counts;
}

function invalid(reason: string): never {
  throw new SegserveError('INVALID_ARGUMENT', { reason });
}

export function toCompressedRle(mask: BinaryMask | CroppedMask): CompressedRle {
  const crop = asCroppedMask(mask);
  return { size: [crop.height, crop.width], counts: countsToString(encodeCroppedMask(crop)) };
}

/** The runs of either RLE form, after checking that they cover exactly height x width; throws INVALID_ARGUMENT. */
export function rleCounts(rle: CompressedRle | UncompressedRle): number[] {
  const { size } = rle;
  if (!Array.isArray(size) || size.length !== 2 || !size.every((v) => Number.isInteger(v) && v >= 0)) {
    invalid('RLE size must be [height, width] with non-negative integers');
  }
  const [height, width] = size;
  const counts = typeof rle.counts === 'string' ? stringToCounts(rle.counts) : rle.counts;
  if (!Array.isArray(counts)) invalid('RLE counts must be a string or an array of integers');
  let total = 0;
  for (const n of counts) {
    if (!Number.isInteger(n) || n < 0) invalid(`RLE counts must be non-negative integers, got ${n}`);
    total += n;
  }
  if (total !== height * width) {
    invalid(`RLE counts sum to ${total} but size ${height}x${width} has ${height * width} pixels`);
  }
  return counts;
}

/** Decodes either RLE form to a whole-image mask (see rleCounts for the checks). */
export function decodeRle(rle: CompressedRle | UncompressedRle): BinaryMask {
  const counts = rleCounts(rle);
  const [height, width] = rle.size;
  const data = new Uint8Array(width * height);
  let start = 0;
  for (let i = 0; i < counts.length; i++) {
    const n = counts[i];
    if (i % 2 === 1 && n > 0) {
      // Walk the run down its columns, wrapping to the top of the next column.
      let x = Math.floor(start / height);
      let y = start - x * height;
      for (let k = 0; k < n; k++) {
        data[y * width + x] = 1;
        if (++y === height) {
          y = 0;
          x++;
        }
      }
    }
    start += n;
  }
  return { width, height, data };
}

/** Foreground pixel count: the sum of the odd-indexed runs. */
export function rleArea(counts: number[]): number {
  let area = 0;
  for (let i = 1; i < counts.length; i += 2) area += counts[i];
  return area;
}

/**
 * Tight [x, y, w, h] box of the foreground from the runs alone, as pycocotools' toBbox: a run that wraps from one
 * column into the next touches the last and the first row, so it stretches the box to the full height.
 * No foreground gives [0, 0, 0, 0]. Zero-length foreground runs (never written by an encoder) are ignored.
 */
export function rleBbox(counts: number[], height: number, width: number): MaskBox {
  let xs = width;
  let ys = height;
  let xe = -1;
  let ye = -1;
  let pos = 0;
  for (let i = 0; i + 1 < counts.length; i += 2) {
    pos += counts[i];
    const n = counts[i + 1];
    if (n === 0) continue;
    const x0 = Math.floor(pos / height);
    const y0 = pos - x0 * height;
    const last = pos + n - 1;
    const x1 = Math.floor(last / height);
    const y1 = last - x1 * height;
    if (x0 < xs) xs = x0;
    if (x1 > xe) xe = x1;
    if (x1 > x0) {
      ys = 0;
      ye = height - 1;
    } else {
      if (y0 < ys) ys = y0;
      if (y1 > ye) ye = y1;
    }
    pos += n;
  }
  if (xe < 0) return [0, 0, 0, 0];
  return [xs, ys, xe - xs + 1, ye - ys + 1];
}

/**
 * The union of two masks of the same size, on their runs (pycocotools' `merge` without intersect): linear in
 * the number of runs, never decoding. The result is canonical: no zero-length run except a leading one.
 */
export function unionRle(a: number[], b: number[]): number[] {
  const out: number[] = [];
  let ia = 0;
  let ib = 0;
  let ra = a.length > 0 ? a[0] : 0;
  let rb = b.length > 0 ? b[0] : 0;
  let inA = false;
  let inB = false;
  let on = false;
  let run = 0;
  for (;;) {
    while (ra === 0 && ia + 1 < a.length) {
      ra = a[++ia];
      inA = !inA;
    }
    while (rb === 0 && ib + 1 < b.length) {
      rb = b[++ib];
      inB = !inB;
    }
    if (ra === 0 || rb === 0) break;
    const step = Math.min(ra, rb);
    if ((inA || inB) !== on) {
      out.push(run);
      run = 0;
      on = !on;
    }
    run += step;
    ra -= step;
    rb -= step;
  }
  if (ra !== 0 || rb !== 0) invalid('the two masks of a union differ in size');
  out.push(run);
  return out;
}
