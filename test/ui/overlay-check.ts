/**
 * What the UI's overlay canvas must hold, derived independently from the API's answer with the server's own
 * RLE decoder and palette: each mask pixel blended with its region's colour at the chosen opacity (instances
 * least confident first, so the most confident wins where masks overlap), every other pixel untouched.
 */
import { colorForIndex, type Rgb } from '../../src/masks/palette.js';
import { decodeRle } from '../../src/masks/rle.js';
import type { SegmentationJson } from '../../src/serving/types.js';
import type { Pixels } from './browser.js';

export interface ExpectedRegion {
  label: string;
  color: Rgb;
  mask: Uint8Array;
}

/** The answer's instances (with their colour by position) or classes (colour by class id), in paint order. */
export function regionsOf(answer: SegmentationJson): ExpectedRegion[] {
  if (answer.task === 'instance') {
    const instances = (answer.instances ?? []).map((inst, i) => ({
      label: inst.label,
      score: inst.score,
      color: colorForIndex(i),
      mask: decodeRle(inst.mask!).data,
    }));
    return instances.sort((a, b) => a.score - b.score);
  }
  return (answer.classes ?? []).map((cls) => ({
    label: cls.label,
    color: colorForIndex(cls.class_id),
    mask: decodeRle(cls.mask!).data,
  }));
}

export interface Comparison {
  /** Pixels inside a visible mask, blended as expected. */
  tinted: number;
  /** Pixels outside every visible mask, equal to the original. */
  untouched: number;
  mismatches: number;
  firstMismatches: string[];
}

/** Compares the overlay canvas with the original canvas under the visible regions; 2 levels of rounding slack. */
export function compareOverlay(
  original: Pixels,
  overlay: Pixels,
  visible: ExpectedRegion[],
  opacity: number,
): Comparison {
  const { width, height } = original;
  const owner = new Int32Array(width * height).fill(-1);
  visible.forEach((region, r) => {
    for (let i = 0; i < owner.length; i++) if (region.mask[i]) owner[i] = r;
  });
  const result: Comparison = { tinted: 0, untouched: 0, mismatches: 0, firstMismatches: [] };
  for (let i = 0; i < owner.length; i++) {
    const o = i * 4;
    const color = owner[i] >= 0 ? visible[owner[i]].color : null;
    let ok = true;
    for (let c = 0; c < 3; c++) {
      const base = original.data[o + c];
      const expected = color ? base * (1 - opacity) + color[c] * opacity : base;
      if (Math.abs(overlay.data[o + c] - expected) > (color ? 2 : 0)) ok = false;
    }
    if (ok) {
      if (color) result.tinted++;
      else result.untouched++;
      continue;
    }
    result.mismatches++;
    if (result.firstMismatches.length < 5) {
      const seen = [...overlay.data.subarray(o, o + 3)].join(',');
      const base = [...original.data.subarray(o, o + 3)].join(',');
      result.firstMismatches.push(
        `(${i % width}, ${Math.floor(i / width)}): ${seen}, original ${base}, region ${color ? visible[owner[i]].label : 'none'}`,
      );
    }
  }
  return result;
}
