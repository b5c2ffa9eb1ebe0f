/**
 * The perceptual hashes of the last N kept inputs, for near-duplicate suppression. A ring of 32-bit halves:
 * the check compares against every entry (2 popcounts each, about 3 us for 1,000 entries), which is paid only
 * by predictions a strategy already wants to keep.
 */
import { popcount32 } from '../../image/index.js';

const LOW_32 = 0xffffffffn;

export class RecentHashes {
  readonly #halves: Uint32Array;
  readonly #capacity: number;
  #next = 0;
  #size = 0;

  constructor(capacity: number) {
    this.#capacity = capacity;
    this.#halves = new Uint32Array(2 * capacity);
  }

  /** Whether `hash` is within `maxDistance` bits of a remembered hash. */
  near(hash: bigint, maxDistance: number): boolean {
    const high = Number((hash >> 32n) & LOW_32);
    const low = Number(hash & LOW_32);
    const halves = this.#halves;
    for (let i = 0; i < this.#size; i++) {
      if (popcount32(halves[2 * i] ^ high) + popcount32(halves[2 * i + 1] ^ low) <= maxDistance) return true;
    }
    return false;
  }

  /** Remembers `hash`, forgetting the oldest once full. */
  add(hash: bigint): void {
    this.#halves[2 * this.#next] = Number((hash >> 32n) & LOW_32);
    this.#halves[2 * this.#next + 1] = Number(hash & LOW_32);
    this.#next = (this.#next + 1) % this.#capacity;
    if (this.#size < this.#capacity) this.#size++;
  }
}
