/**
 * Waiting for a pool of workers to finish its work before it stops them: `wait()` resolves once the owner's
 * `isIdle()` holds, checked at once and again whenever the owner calls `check()` (after a job ends or leaves
 * its queue). Shared by the inference pool, the encoder pool and the sample capture's writers.
 */
export class Drain {
  readonly #isIdle: () => boolean;
  /** Every caller waiting; a second `wait()` must not strand the first. */
  #waiters: Array<() => void> = [];

  constructor(isIdle: () => boolean) {
    this.#isIdle = isIdle;
  }

  wait(): Promise<void> {
    return new Promise<void>((resolve) => {
      this.#waiters.push(resolve);
      this.check();
    });
  }

  /** Resolves the pending `wait()`s when the owner has become idle; does nothing otherwise. */
  check(): void {
    if (this.#waiters.length === 0 || !this.#isIdle()) return;
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const resolve of waiters) resolve();
  }
}
