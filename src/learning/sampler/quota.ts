/**
 * Sliding-window quotas: at most `limit` keeps in any span of `windowMs` ending now. Each quota is a ring of
 * its last `limit` keep times; the window is full exactly when the oldest of them is still inside it, so the
 * check is one comparison and a keep one write, with no counter resets at window edges (a fixed window would let
 * a burst of 2 x limit straddle its boundary).
 */
export class SlidingQuota {
  readonly #times: Float64Array;
  readonly #windowMs: number;
  /** Where the next keep time is written: the oldest time once the ring is full. */
  #next = 0;
  #filled = 0;

  constructor(limit: number, windowMs: number) {
    this.#times = new Float64Array(limit);
    this.#windowMs = windowMs;
  }

  /** Whether another keep at `now` would exceed the limit. */
  full(now: number): boolean {
    return this.#filled === this.#times.length && this.#times[this.#next] > now - this.#windowMs;
  }

  record(now: number): void {
    this.#times[this.#next] = now;
    this.#next = (this.#next + 1) % this.#times.length;
    if (this.#filled < this.#times.length) this.#filled++;
  }
}
