/**
 * From a model-resolution score map to a class per original-image pixel.
 *
 * Every original pixel is mapped into the map (undoing letterbox or stretch, see sampling.ts), each channel is
 * interpolated bilinearly there, and a rule (argmax, threshold, ...) picks the class from the interpolated
 * vector. Interpolating the scores rather than the argmax gives smooth class borders instead of blocks the size
 * of a map cell, and it is exact for every rule. The cost is linear in the channel count, and the work is split
 * in two separable passes: per output row, the two map rows it samples are blended once over the content
 * columns; per output pixel, only a horizontal blend of C values remains, with column indices and weights read
 * from tables built once. Values are interpolated in the domain the model emits (probabilities or logits); the
 * two can put a border a fraction of a map cell apart, finer than the model resolves anyway.
 */
import type { InputTransform } from '../image/types.js';
import { axisTable, contentCells, xAxis, yAxis } from './sampling.js';
import type { ScoreMap } from './score-map.js';
import type { ClassArea } from './types.js';

/**
 * How a pixel's class follows from its interpolated channel values: the best channel c with value v gives
 * class c + shift when v > threshold, else 0. Softmax is { threshold: -Infinity, shift: 0 } (plain argmax);
 * a one-channel binary map and multilabel sigmoids are { threshold, shift: 1 } (0 = background). Data, not a
 * callback, so the inner loop stays one tight loop whatever the decoder.
 */
export interface ClassRule {
  threshold: number;
  shift: 0 | 1;
}

/** The class map is one byte per pixel. */
const MAX_CLASS_VALUES = 256;

/** The map cells that hold image content (letterbox padding excluded), inclusive ranges. */
export interface ContentWindow {
  rows: [number, number];
  cols: [number, number];
}

export function contentWindow(map: ScoreMap, transform: InputTransform): ContentWindow {
  return {
    rows: contentCells(yAxis(transform), map.height),
    cols: contentCells(xAxis(transform), map.width),
  };
}

/** The class per original-image pixel, and how many pixels took each class value (indexed 0..255). */
export interface ResampledClasses {
  classMap: Uint8Array;
  counts: Uint32Array;
}

export function resampleClassMap(
  map: ScoreMap,
  transform: InputTransform,
  window: ContentWindow,
  rule: ClassRule,
): ResampledClasses {
  const width = transform.sourceWidth;
  const height = transform.sourceHeight;
  const [colLo, colHi] = window.cols;
  const [rowLo, rowHi] = window.rows;
  const cols = axisTable(0, width, xAxis(transform), map.width, colLo, colHi);
  const rows = axisTable(0, height, yAxis(transform), map.height, rowLo, rowHi);
  const channels = map.channels;
  const span = colHi - colLo + 1;
  // Offsets into `blended` of the two columns each output pixel reads.
  const left = new Int32Array(width);
  const right = new Int32Array(width);
  for (let x = 0; x < width; x++) {
    left[x] = (cols.i0[x] - colLo) * channels;
    right[x] = (cols.i1[x] - colLo) * channels;
  }
  const { data, offset, channelStride, rowStride, colStride } = map;
  const blended = new Float64Array(span * channels);
  const { threshold, shift } = rule;
  const weights = cols.w1;
  const classMap = new Uint8Array(width * height);
  // Areas are counted here rather than in a second pass over the image-size map, and by runs: neighbours mostly
  // share a class, and one counter bumped per pixel is a chain of dependent loads and stores to one address.
  const counts = new Uint32Array(MAX_CLASS_VALUES);
  let runClass = 0;
  let run = 0;
  for (let y = 0; y < height; y++) {
    const wy = rows.w1[y];
    // Channel by channel, so that an NCHW map is read along its rows; every blended value is the same
    // expression as in any other order.
    for (let c = 0; c < channels; c++) {
      const top = offset + rows.i0[y] * rowStride + c * channelStride + colLo * colStride;
      const bottom = offset + rows.i1[y] * rowStride + c * channelStride + colLo * colStride;
      for (let s = 0, at = 0, into = c; s < span; s++, at += colStride, into += channels) {
        const upper = data[top + at];
        blended[into] = upper + (data[bottom + at] - upper) * wy;
      }
    }
    const rowStart = y * width;
    for (let x = 0; x < width; x++) {
      const l = left[x];
      const r = right[x];
      const wx = weights[x];
      // Argmax of the interpolated channels; ties keep the first channel.
      let best = blended[l] + (blended[r] - blended[l]) * wx;
      let bestChannel = 0;
      for (let c = 1; c < channels; c++) {
        const a = blended[l + c];
        const value = a + (blended[r + c] - a) * wx;
        if (value > best) {
          best = value;
          bestChannel = c;
        }
      }
      const classValue = best > threshold ? bestChannel + shift : 0;
      classMap[rowStart + x] = classValue;
      if (classValue !== runClass) {
        counts[runClass] += run;
        runClass = classValue;
        run = 0;
      }
      run++;
    }
  }
  counts[runClass] += run;
  return { classMap, counts };
}

/** Every class with a non-zero pixel count, by class index. */
export function classAreas(counts: Uint32Array, labels: readonly string[]): ClassArea[] {
  const areas: ClassArea[] = [];
  for (let classId = 0; classId < counts.length; classId++) {
    if (counts[classId] > 0)
      areas.push({ classId, label: labels[classId] ?? String(classId), area: counts[classId] });
  }
  return areas;
}
