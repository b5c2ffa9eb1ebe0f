/**
 * The `top_k` strategy: the k most uncertain predictions per window, decided one prediction at a time, since
 * the sampler must answer as each prediction completes and cannot wait for the window to end.
 *
 * Rule: keep a prediction when it is among the k highest scores seen so far in the current window (fewer than
 * k seen yet, or above the k-th highest). What that guarantees, and costs:
 * - Every one of the window's true k highest (distinct) scores is kept: when it arrives at most k - 1 seen
 *   scores are higher.
 * - Some that are later overtaken are kept too. When predictions arrive in random order, the i-th is among the
 *   k best of the first i with probability min(1, k / i), so a window of n predictions keeps on average
 *   k (1 + H(n) - H(k)) ~ k (1 + ln(n / k)): with k = 20, 144 of 10,000 (test/learning/sampler-top-k.test.ts).
 * - Nothing bounds it below n: scores that keep rising (a model drifting through a window) are all kept. The
 *   quota is the hard bound.
 * Windows are fixed and aligned to the epoch (an hourly window starts on the hour, UTC), and the ranking starts
 * afresh in each.
 */
export class TopKWindow {
  readonly #k: number;
  readonly #windowMs: number;
  /** A min-heap of the k highest scores of the window: the k-th highest is at the root. */
  readonly #heap: Float64Array;
  #size = 0;
  #windowStart = Number.NEGATIVE_INFINITY;

  constructor(k: number, windowMs: number) {
    this.#k = k;
    this.#windowMs = windowMs;
    this.#heap = new Float64Array(k);
  }

  /** Ranks `score` at time `now` among its window; true when it is among the k highest so far. O(log k). */
  observe(score: number, now: number): boolean {
    if (now >= this.#windowStart + this.#windowMs || now < this.#windowStart) {
      // A new window (or a clock set back): start the ranking afresh.
      this.#windowStart = now - (now % this.#windowMs);
      this.#size = 0;
    }
    const heap = this.#heap;
    if (this.#size < this.#k) {
      let i = this.#size++;
      while (i > 0) {
        const parent = (i - 1) >> 1;
        if (heap[parent] <= score) break;
        heap[i] = heap[parent];
        i = parent;
      }
      heap[i] = score;
      return true;
    }
    if (!(score > heap[0])) return false;
    this.#siftDownFromRoot(score);
    return true;
  }

  /** Replaces the root with `score` and restores the heap order. */
  #siftDownFromRoot(score: number): void {
    const heap = this.#heap;
    const size = this.#size;
    let i = 0;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= size) break;
      const right = left + 1;
      const child = right < size && heap[right] < heap[left] ? right : left;
      if (heap[child] >= score) break;
      heap[i] = heap[child];
      i = child;
    }
    heap[i] = score;
  }
}
