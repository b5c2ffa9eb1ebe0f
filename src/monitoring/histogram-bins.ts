/**
 * Fixed-bin histograms for the monitor history: a bin index per observation (no allocation, O(1)) and
 * quantiles read back from bin counts. Fixed bins are what make the history's memory constant and let any
 * number of buckets be merged by adding counts, which exact quantiles (a sorted list per bucket) would not.
 */

/** Bins of a histogram: where an observation falls, and the value range of each bin (for interpolation). */
export interface Bins {
  readonly count: number;
  binOf(value: number): number;
  lower(bin: number): number;
  upper(bin: number): number;
}

/**
 * Milliseconds, from 0.05 ms to 3.5 min in bins a factor sqrt(2) wide (bin 0 holds [0, 0.05)), so a quantile read
 * from them is within about 20% of the true one at any scale: a 2 ms queue wait and a 20 s timeout alike.
 */
export const LATENCY_BINS: Bins = (() => {
  const min = 0.05;
  const perOctave = 2;
  const count = 1 + 22 * perOctave;
  const edge = (k: number) => min * 2 ** (k / perOctave);
  return {
    count,
    binOf(ms) {
      if (!(ms >= min)) return 0; // NaN and negatives too
      const k = Math.floor(Math.log2(ms / min) * perOctave) + 1;
      return k < count ? k : count - 1;
    },
    lower: (bin) => (bin === 0 ? 0 : edge(bin - 1)),
    upper: (bin) => edge(bin),
  };
})();

/** Shares in [0, 1] (normalised entropy, instance scores) in 50 equal bins: 0.02 resolution. */
export const UNIT_BINS: Bins = (() => {
  const count = 50;
  return {
    count,
    binOf(value) {
      if (!(value > 0)) return 0;
      const k = Math.floor(value * count);
      return k < count ? k : count - 1;
    },
    lower: (bin) => bin / count,
    upper: (bin) => (bin + 1) / count,
  };
})();

/**
 * The `q` quantile (0..1) of the histogram whose counts are `counts[offset .. offset + bins.count)`, linearly
 * interpolated inside the bin it falls in; undefined for an empty histogram.
 */
export function quantile(
  counts: ArrayLike<number>,
  offset: number,
  bins: Bins,
  q: number,
): number | undefined {
  let total = 0;
  for (let k = 0; k < bins.count; k++) total += counts[offset + k];
  if (total === 0) return undefined;
  const rank = q * total;
  let below = 0;
  for (let k = 0; k < bins.count; k++) {
    const n = counts[offset + k];
    if (n > 0 && below + n >= rank) {
      const within = Math.min(1, Math.max(0, (rank - below) / n));
      return bins.lower(k) + within * (bins.upper(k) - bins.lower(k));
    }
    below += n;
  }
  return bins.upper(bins.count - 1);
}
