/**
 * Brightness, contrast and colourfulness of an image, from a strided sample of its pixels. The runtime computes
 * them on the pixels it already holds to fill the tensor (src/runtime/job.ts), so the drift monitor's input
 * signals cost no decode of their own: a thumbnail decoded for them halved the served rate under load.
 */
import type { RawImage } from './types.js';

export interface PixelStatistics {
  /** Mean Rec. 601 luma, 0..255. */
  brightness: number;
  /** Standard deviation of luma, 0..~128. */
  contrast: number;
  /** Hasler & Suesstrunk (2003) colourfulness: 0 for grey images, ~100 for very colourful ones. */
  colourfulness: number;
}

/**
 * About this many pixels are read, on an even grid: the statistics are means and spreads over the whole image,
 * which 4096 samples estimate to well under a bin of the drift monitor's histograms, in 10-30 us.
 */
export const STATISTICS_SAMPLES = 4096;

export function pixelStatistics(image: RawImage, samples = STATISTICS_SAMPLES): PixelStatistics {
  const { width, height, channels, data } = image;
  const step = Math.max(1, Math.floor(Math.sqrt((width * height) / samples)));
  let n = 0;
  let lumaSum = 0;
  let lumaSq = 0;
  let rgSum = 0;
  let rgSq = 0;
  let ybSum = 0;
  let ybSq = 0;
  // Starting half a step in keeps the grid centred, so a 1-pixel border does not weigh more than the middle.
  for (let y = step >> 1; y < height; y += step) {
    for (let x = step >> 1, i = (y * width + x) * channels; x < width; x += step, i += step * channels) {
      const r = data[i];
      const g = channels >= 3 ? data[i + 1] : r;
      const b = channels >= 3 ? data[i + 2] : r;
      const luma = 0.299 * r + 0.587 * g + 0.114 * b;
      lumaSum += luma;
      lumaSq += luma * luma;
      const rg = r - g;
      const yb = 0.5 * (r + g) - b;
      rgSum += rg;
      rgSq += rg * rg;
      ybSum += yb;
      ybSq += yb * yb;
      n++;
    }
  }
  const mean = (sum: number) => (n > 0 ? sum / n : 0);
  const variance = (sum: number, sq: number) => Math.max(0, mean(sq) - mean(sum) ** 2);
  return {
    brightness: mean(lumaSum),
    contrast: Math.sqrt(variance(lumaSum, lumaSq)),
    colourfulness:
      Math.sqrt(variance(rgSum, rgSq) + variance(ybSum, ybSq)) +
      0.3 * Math.sqrt(mean(rgSum) ** 2 + mean(ybSum) ** 2),
  };
}
