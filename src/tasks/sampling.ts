/**
 * Bilinear sampling of a model-resolution grid (score map, mask prototypes, pasted masks) at original-image
 * pixels, one axis at a time.
 *
 * Coordinates are pixel-centre aligned, the convention of align_corners=False resizing in PyTorch and OpenCV:
 * original pixel x covers [x, x + 1), so its centre x + 0.5 lands at input position (x + 0.5) * scale + pad
 * (InputTransform: x_input = x_orig * scale + pad for continuous positions). A grid of `cells` cells spread over
 * the input's `inputSize` pixels centres cell i at input position (i + 0.5) * inputSize / cells. Hence
 *
 *     g(x) = ((x + 0.5) * scale + pad) * cells / inputSize - 0.5
 *
 * and the value at x is grid[floor(g)] * (1 - frac(g)) + grid[floor(g) + 1] * frac(g), with g clamped into the
 * usable cells. Resizing the grid to the input size and then undoing the letterbox (what Ultralytics does) puts
 * every sample at this same position; doing it in one step avoids building the input-size image.
 */
import type { InputTransform } from '../image/types.js';

/** One axis of an InputTransform. */
export interface Axis {
  scale: number;
  pad: number;
  /** Model input size along the axis, in pixels. */
  inputSize: number;
  /** Extent of the resized image inside the input (the rest is letterbox padding). */
  content: number;
  /** Original image size along the axis. */
  source: number;
}

export function xAxis(t: InputTransform): Axis {
  return {
    scale: t.scaleX,
    pad: t.padLeft,
    inputSize: t.inputWidth,
    content: t.contentWidth,
    source: t.sourceWidth,
  };
}

export function yAxis(t: InputTransform): Axis {
  return {
    scale: t.scaleY,
    pad: t.padTop,
    inputSize: t.inputHeight,
    content: t.contentHeight,
    source: t.sourceHeight,
  };
}

/**
 * Where `count` consecutive original pixels starting at `first` sample a grid of `cells` cells:
 * value = grid[i0] + (grid[i1] - grid[i0]) * w1. Built once per axis so inner loops only index tables.
 */
export interface AxisTable {
  i0: Int32Array;
  i1: Int32Array;
  w1: Float32Array;
}

/** Grid coordinate of original pixel x (see the module comment). */
export function gridCoordinate(x: number, axis: Axis, cells: number): number {
  return ((x + 0.5) * axis.scale + axis.pad) * (cells / axis.inputSize) - 0.5;
}

/** Sampling table for pixels first..first+count-1, clamped into cells lo..hi (inclusive). */
export function axisTable(
  first: number,
  count: number,
  axis: Axis,
  cells: number,
  lo: number,
  hi: number,
): AxisTable {
  const table: AxisTable = {
    i0: new Int32Array(count),
    i1: new Int32Array(count),
    w1: new Float32Array(count),
  };
  for (let k = 0; k < count; k++) {
    const g = Math.min(Math.max(gridCoordinate(first + k, axis, cells), lo), hi);
    const i0 = Math.floor(g);
    table.i0[k] = i0;
    table.i1[k] = Math.min(i0 + 1, hi);
    table.w1[k] = g - i0;
  }
  return table;
}

/**
 * The cells whose centres lie inside the content area (not on letterbox padding), as [first, last] inclusive.
 * Sampling clamped to this range never blends padding scores into the image, and uncertainty is averaged over
 * it. When the content is thinner than one cell, the cell under the content's middle stands in.
 */
export function contentCells(axis: Axis, cells: number): [number, number] {
  const perPixel = cells / axis.inputSize;
  const first = Math.max(0, Math.ceil(axis.pad * perPixel - 0.5));
  const last = Math.min(cells - 1, Math.ceil((axis.pad + axis.content) * perPixel - 0.5) - 1);
  if (first <= last) return [first, last];
  const middle = Math.min(cells - 1, Math.max(0, Math.floor((axis.pad + axis.content / 2) * perPixel)));
  return [middle, middle];
}

/**
 * Samples a single-channel grid bilinearly at every pixel of a crop and writes 1 where the value is above
 * `threshold`, 0 elsewhere, into `out` (row-major over the crop). `rows`/`cols` hold one entry per crop row and
 * column, with grid indices relative to `rowBase`/`colBase` (so a window of a larger grid can be passed).
 * Returns the number of pixels set.
 */
export function thresholdSamples(
  grid: Float32Array,
  gridOffset: number,
  gridWidth: number,
  rows: AxisTable,
  cols: AxisTable,
  rowBase: number,
  colBase: number,
  threshold: number,
  out: Uint8Array,
): number {
  const width = cols.i0.length;
  const left = new Int32Array(width);
  const right = new Int32Array(width);
  for (let x = 0; x < width; x++) {
    left[x] = cols.i0[x] - colBase;
    right[x] = cols.i1[x] - colBase;
  }
  let area = 0;
  for (let y = 0; y < rows.i0.length; y++) {
    const top = gridOffset + (rows.i0[y] - rowBase) * gridWidth;
    const bottom = gridOffset + (rows.i1[y] - rowBase) * gridWidth;
    const wy = rows.w1[y];
    const rowStart = y * width;
    for (let x = 0; x < width; x++) {
      const wx = cols.w1[x];
      const a = grid[top + left[x]];
      const upper = a + (grid[top + right[x]] - a) * wx;
      const b = grid[bottom + left[x]];
      const lower = b + (grid[bottom + right[x]] - b) * wx;
      if (upper + (lower - upper) * wy > threshold) {
        out[rowStart + x] = 1;
        area++;
      }
    }
  }
  return area;
}
