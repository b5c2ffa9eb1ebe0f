/**
 * Waiting for a pool of worker threads to finish its work before it stops them: `wait()` resolves once the
 * owner's `isIdle()` holds, checked at once and again whenever the owner calls `check()` (after a job ends or
 * leaves its queue). Shared by the inference pool and the encoder pool.
 */
export class Drain {
  readonly #isIdle: () => boolean;
  #resolve?: () => void;

  constructor(isIdle: () => boolean) {
    this.#isIdle = isIdle;
  }

  wait(): Promise<void> {
    return new Promise<void>((resolve) => {
      this.#resolve = resolve;
      this.check();
    });
  }

  /** Resolves a pending `wait()` when the owner has become idle; does nothing otherwise. */
  check(): void {
    if (!this.#resolve || !this.#isIdle()) return;
    const resolve = this.#resolve;
    this.#resolve = undefined;
    resolve();
  }
}
