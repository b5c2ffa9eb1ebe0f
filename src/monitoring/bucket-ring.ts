/**
 * A ring of fixed time buckets over typed-array columns: bucket `b` lives in slot `b % length`, and a slot is
 * emptied when a newer bucket takes it over. Memory is fixed when the columns are made, whatever the traffic,
 * and writing costs an index computation (plus, once per bucket, emptying the slot).
 */
export type Column = Float64Array | Float32Array | Uint32Array;

export class BucketRing {
  readonly length: number;
  /** The bucket number each slot holds; -1 for none yet. */
  readonly #held: Float64Array;
  readonly #columns: Array<{ data: Column; stride: number; empty: number }> = [];

  constructor(length: number) {
    if (!Number.isInteger(length) || length < 1) throw new RangeError(`ring length ${length}`);
    this.length = length;
    this.#held = new Float64Array(length).fill(-1);
  }

  /**
   * A column of `stride` values per slot, filled with `empty` (0 for counts, NaN for "no sample"). A column
   * made after buckets were written starts empty everywhere, which is what those buckets held for it.
   */
  column<T extends Column>(make: (size: number) => T, stride = 1, empty = 0): T {
    const data = make(this.length * stride);
    if (empty !== 0) data.fill(empty);
    this.#columns.push({ data, stride, empty });
    return data;
  }

  /**
   * The slot to write bucket `b` into, emptied first if it still held an older bucket; -1 when it holds a newer
   * one (a late write for a bucket the ring has moved past: dropped, never mixed into the newer bucket).
   */
  write(bucket: number): number {
    const slot = bucket % this.length;
    const held = this.#held[slot];
    if (held === bucket) return slot;
    if (held > bucket) return -1;
    for (const { data, stride, empty } of this.#columns) data.fill(empty, slot * stride, (slot + 1) * stride);
    this.#held[slot] = bucket;
    return slot;
  }

  /** The slot holding bucket `b`, or -1 when nothing was written for it (it is empty). */
  read(bucket: number): number {
    const slot = bucket % this.length;
    return this.#held[slot] === bucket ? slot : -1;
  }

  /** The newest bucket written, -1 if none. */
  newest(): number {
    let newest = -1;
    for (const held of this.#held) if (held > newest) newest = held;
    return newest;
  }
}
