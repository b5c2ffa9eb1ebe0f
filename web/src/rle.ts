/**
 * COCO RLE runs in the browser: the API sends masks as pycocotools' strings, never dense arrays, and the UI draws
 * straight from the runs (rleCounts of src/masks/rle.ts turns a string into them) without expanding whole-image
 * masks. Runs go down the columns (column-major), alternating background and foreground, starting with background.
 */
import type { Box } from '../../src/tasks/types.js';

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
