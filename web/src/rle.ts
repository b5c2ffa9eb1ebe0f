/**
 * COCO compressed RLE in the browser: the API sends masks as pycocotools' strings, never dense arrays, so the
 * UI reads the runs itself. Runs go down the columns (column-major), alternating background and foreground,
 * starting with background.
 */
import type { Box, Rle } from './types';

/**
 * pycocotools' rleFrString: 5 bits per character, low bits first, offset by '0' (48); 0x20 means more characters
 * follow, 0x10 in the last one means negative; from the fourth count on, values are differences to the count two
 * places back. Throws on text that is not such a string or whose runs do not cover height x width exactly.
 */
export function parseRle(rle: Rle): number[] {
  const [height, width] = rle.size;
  const text = rle.counts;
  const counts: number[] = [];
  let total = 0;
  let p = 0;
  while (p < text.length) {
    let value = 0;
    let scale = 1;
    let more = true;
    while (more) {
      // charCodeAt past the end is NaN, which fails the range test too.
      const c = text.charCodeAt(p) - 48;
      if (!(c >= 0 && c <= 63)) throw new Error(`mask RLE is malformed at character ${p}`);
      value += (c & 0x1f) * scale;
      scale *= 32;
      more = (c & 0x20) !== 0;
      p++;
      if (!more && c & 0x10) value -= scale;
    }
    if (counts.length > 2) value += counts[counts.length - 2];
    if (value < 0) throw new Error(`mask RLE run ${counts.length} is negative`);
    counts.push(value);
    total += value;
  }
  if (total !== height * width) throw new Error(`mask RLE covers ${total} pixels, not ${height}x${width}`);
  return counts;
}

/** Calls `visit(x, yStart, yEnd)` for every vertical stretch of foreground (yEnd exclusive), column by column. */
export function forEachSpan(
  counts: number[],
  height: number,
  visit: (x: number, yStart: number, yEnd: number) => void,
): void {
  let position = 0;
  for (let i = 0; i < counts.length; i++) {
    const run = counts[i];
    if (i % 2 === 1) {
      let remaining = run;
      let x = Math.floor(position / height);
      let y = position - x * height;
      while (remaining > 0) {
        const take = Math.min(remaining, height - y);
        visit(x, y, y + take);
        remaining -= take;
        x++;
        y = 0;
      }
    }
    position += run;
  }
}

/** The tight [x, y, w, h] box of the foreground, [0, 0, 0, 0] when there is none (as the server's maskBbox). */
export function rleBox(counts: number[], height: number): Box {
  let x0 = Number.POSITIVE_INFINITY;
  let y0 = Number.POSITIVE_INFINITY;
  let x1 = -1;
  let y1 = -1;
  forEachSpan(counts, height, (x, yStart, yEnd) => {
    x0 = Math.min(x0, x);
    x1 = Math.max(x1, x);
    y0 = Math.min(y0, yStart);
    y1 = Math.max(y1, yEnd - 1);
  });
  return x1 < 0 ? [0, 0, 0, 0] : [x0, y0, x1 - x0 + 1, y1 - y0 + 1];
}
