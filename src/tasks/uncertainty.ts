/**
 * How unsure a model was, summarised per request: normalised per-pixel entropy for dense models, score and
 * margin statistics for instance models. Active learning sorts images by these numbers.
 */
import type { OutputConfig } from '../models/config.js';
import type { ContentWindow } from './class-map.js';
import type { ScoreMap } from './score-map.js';
import type { Instance, InstanceUncertainty, PixelUncertainty } from './types.js';

/** A pixel counts as doubtful when the probability of what it was labelled is below this. */
const DOUBTFUL_BELOW = 0.75;
/** An instance counts as near the threshold when its score is less than this above it. */
const NEAR_THRESHOLD = 0.15;

/**
 * How a pixel's probabilities are read:
 * - `softmax`: the C channels are one distribution; entropy / ln C; winning probability = the largest.
 * - `binary`: one channel, the foreground probability p; entropy of (p, 1 - p) / ln 2; winning = max(p, 1 - p).
 * - `multilabel`: C independent Bernoulli variables (one sigmoid per class). Their entropies, each / ln 2, are
 *   averaged over the classes, so a pixel where every class is a sure "no" scores 0 like a sure "yes". The
 *   decision that labels the pixel is "the top class, or background", so winning = max(p_top, 1 - p_top).
 */
export type PixelDistribution = 'softmax' | 'binary' | 'multilabel';

/** Running totals of normalised entropy and doubtful pixels. */
class EntropyTotals {
  sum = 0;
  max = 0;
  doubtful = 0;
  count = 0;

  add(entropy: number, winning: number): void {
    const e = clampUnit(entropy);
    this.sum += e;
    if (e > this.max) this.max = e;
    if (winning < DOUBTFUL_BELOW) this.doubtful++;
    this.count++;
  }

  result(): PixelUncertainty {
    const { sum, max, doubtful, count } = this;
    return {
      kind: 'pixel-entropy',
      meanEntropy: count > 0 ? sum / count : 0,
      maxEntropy: max,
      uncertainShare: count > 0 ? doubtful / count : 0,
    };
  }
}

function clampUnit(p: number): number {
  return Math.min(Math.max(p, 0), 1);
}

/**
 * -p ln p, the entropy term of one probability, tabulated on [0, 1] in TABLE_STEPS steps and interpolated
 * linearly. A Math.log costs about as much as the rest of a pixel's work, and these statistics only summarise
 * doubt: the table's error is below 1e-6 nats for p >= 0.01 and below h / e = 2.2e-5 nats anywhere (h = the
 * step), far under what anyone could read into a mean entropy.
 */
const TABLE_STEPS = 16_384;
const PLOGP = (() => {
  const table = new Float64Array(TABLE_STEPS + 2);
  for (let k = 1; k <= TABLE_STEPS; k++) {
    const p = k / TABLE_STEPS;
    table[k] = -p * Math.log(p);
  }
  return table;
})();

function plogp(p: number): number {
  const x = p * TABLE_STEPS;
  const k = x | 0;
  return PLOGP[k] + (PLOGP[k + 1] - PLOGP[k]) * (x - k);
}

/** Probability of a sigmoid output as stored: applied (clamped into [0, 1]) or a logit. */
function probabilityOf(value: number, logits: boolean): number {
  return logits ? 1 / (1 + Math.exp(-value)) : clampUnit(value);
}

function softmaxTotals(map: ScoreMap, window: ContentWindow, logits: boolean, totals: EntropyTotals): void {
  const { data, offset, channels, channelStride, rowStride, colStride } = map;
  const norm = Math.log(channels);
  for (let y = window.rows[0]; y <= window.rows[1]; y++) {
    for (let x = window.cols[0]; x <= window.cols[1]; x++) {
      const base = offset + y * rowStride + x * colStride;
      if (logits) {
        let max = data[base];
        for (let c = 1; c < channels; c++) max = Math.max(max, data[base + c * channelStride]);
        let sum = 0;
        let weighted = 0;
        for (let c = 0; c < channels; c++) {
          const shifted = data[base + c * channelStride] - max;
          const e = Math.exp(shifted);
          sum += e;
          weighted += e * shifted;
        }
        // p_c = e_c / sum and log p_c = shifted_c - log(sum), so H = log(sum) - sum_c p_c shifted_c.
        totals.add((Math.log(sum) - weighted / sum) / norm, 1 / sum);
      } else {
        let h = 0;
        let best = 0;
        for (let c = 0; c < channels; c++) {
          const p = clampUnit(data[base + c * channelStride]);
          h += plogp(p);
          if (p > best) best = p;
        }
        totals.add(h / norm, best);
      }
    }
  }
}

function sigmoidTotals(map: ScoreMap, window: ContentWindow, logits: boolean, totals: EntropyTotals): void {
  const { data, offset, channels, channelStride, rowStride, colStride } = map;
  const norm = Math.LN2 * channels;
  for (let y = window.rows[0]; y <= window.rows[1]; y++) {
    for (let x = window.cols[0]; x <= window.cols[1]; x++) {
      const base = offset + y * rowStride + x * colStride;
      let h = 0;
      let top = 0;
      for (let c = 0; c < channels; c++) {
        const p = probabilityOf(data[base + c * channelStride], logits);
        h += plogp(p) + plogp(1 - p);
        if (p > top) top = p;
      }
      totals.add(h / norm, top > 0.5 ? top : 1 - top);
    }
  }
}

/**
 * Entropy statistics over the window's cells of the map, i.e. at model resolution over the content area only:
 * letterbox padding is not part of the image and would dilute the mean. A binary map is the one-channel case
 * of `multilabel` (one Bernoulli variable), so both share a loop.
 */
export function pixelUncertainty(
  map: ScoreMap,
  distribution: PixelDistribution,
  activation: OutputConfig['activation'],
  window: ContentWindow,
): PixelUncertainty {
  const totals = new EntropyTotals();
  const logits = activation === 'logits';
  if (distribution === 'softmax') softmaxTotals(map, window, logits, totals);
  else sigmoidTotals(map, window, logits, totals);
  return totals.result();
}

/**
 * Score and margin statistics of the kept instances. With no instances there is nothing to doubt: scores and the
 * near-threshold share are 0 and margins 1 (types.ts defines minMargin as 1 then; meanMargin follows it).
 */
export function instanceUncertainty(
  instances: readonly Instance[],
  scoreThreshold: number,
): InstanceUncertainty {
  if (instances.length === 0) {
    return {
      kind: 'instance-scores',
      count: 0,
      meanScore: 0,
      minScore: 0,
      maxScore: 0,
      minMargin: 1,
      meanMargin: 1,
      nearThresholdShare: 0,
    };
  }
  let scoreSum = 0;
  let minScore = Number.POSITIVE_INFINITY;
  let maxScore = Number.NEGATIVE_INFINITY;
  let marginSum = 0;
  let minMargin = Number.POSITIVE_INFINITY;
  let near = 0;
  for (const instance of instances) {
    scoreSum += instance.score;
    minScore = Math.min(minScore, instance.score);
    maxScore = Math.max(maxScore, instance.score);
    marginSum += instance.margin;
    minMargin = Math.min(minMargin, instance.margin);
    if (instance.score - scoreThreshold < NEAR_THRESHOLD) near++;
  }
  const count = instances.length;
  return {
    kind: 'instance-scores',
    count,
    meanScore: scoreSum / count,
    minScore,
    maxScore,
    minMargin,
    meanMargin: marginSum / count,
    nearThresholdShare: near / count,
  };
}
