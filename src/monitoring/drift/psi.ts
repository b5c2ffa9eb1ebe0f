/**
 * Population Stability Index over fixed bins: PSI = sum_i (w_i - r_i) * ln(w_i / r_i), with r the reference and
 * w the window proportions. 0 for identical distributions; by the usual rule of thumb 0.1 is a moderate shift
 * and 0.25 a significant one.
 */

/**
 * Counts added to every bin before proportions are taken (additive, "half a count" smoothing). An empty bin
 * would otherwise make ln(w/r) infinite; a floor such as 1e-4 keeps it finite but lets one stray value in a bin
 * the reference never filled add ~0.05 to the score at a window of 100, and with 80 classes those add up.
 */
export const SMOOTHING_COUNT = 0.5;

/** Proportions of `counts` (total `total`), smoothed so that no bin is empty. */
export function smoothedProportions(
  counts: ArrayLike<number>,
  total: number,
  out: Float64Array<ArrayBufferLike> = new Float64Array(counts.length),
): Float64Array<ArrayBufferLike> {
  const denominator = total + SMOOTHING_COUNT * counts.length;
  for (let i = 0; i < counts.length; i++) out[i] = (counts[i] + SMOOTHING_COUNT) / denominator;
  return out;
}

/** PSI of two proportion vectors of equal length, both without zeros. */
export function psi(reference: ArrayLike<number>, window: ArrayLike<number>): number {
  if (reference.length !== window.length) throw new Error('PSI needs proportions over the same bins');
  let sum = 0;
  for (let i = 0; i < reference.length; i++) {
    const r = reference[i];
    const w = window[i];
    sum += (w - r) * Math.log(w / r);
  }
  return sum;
}

/**
 * Upper edges of up to `bins` quantile bins of `values` (finite numbers), ascending and without repeats: bin j
 * holds (edges[j-1], edges[j]], the last bin everything above the last edge. Repeated values (an aspect ratio
 * of exactly 1.5 for a third of the photos) merge bins rather than leave empty ones.
 */
export function quantileEdges(values: readonly number[], bins: number): number[] {
  const sorted = values.filter(Number.isFinite).sort((a, b) => a - b);
  const edges: number[] = [];
  if (sorted.length === 0) return edges;
  for (let k = 1; k < bins; k++) {
    const edge = sorted[Math.min(sorted.length - 1, Math.floor((k * sorted.length) / bins) - 1)];
    if (edge === undefined) continue;
    if (edges.length === 0 || edge > edges[edges.length - 1]) edges.push(edge);
  }
  // A top edge equal to the maximum would leave the last bin empty in the reference.
  if (edges.length > 0 && edges[edges.length - 1] >= sorted[sorted.length - 1]) edges.pop();
  return edges;
}

/**
 * The bin of `value` for `edges` (binary search, O(log bins)); non-finite values (a signal the prediction did
 * not have, such as the mean score of zero instances) go to the extra "missing" bin at index edges.length + 1.
 */
export function binOf(value: number | undefined, edges: readonly number[]): number {
  if (value === undefined || !Number.isFinite(value)) return edges.length + 1;
  let lo = 0;
  let hi = edges.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (edges[mid] < value) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
