/**
 * Whether the sample store is worth trying now. After a failure it is left alone for a backoff, from `minMs`
 * doubling to `maxMs` with each failure in a row, jittered; the first attempt after it is the probe. The
 * transitions are logged once each (down, back), never per sample.
 */
export interface RetryPolicy {
  minMs: number;
  maxMs: number;
}

export type HealthLog = (level: 'info' | 'warn', fields: Record<string, unknown>, message: string) => void;

export class StoreHealth {
  readonly #retry: RetryPolicy;
  readonly #log: HealthLog;
  /** Epoch ms before which the store is not tried again; 0 while it is up. */
  #downUntil = 0;
  #delayMs: number;

  constructor(retry: RetryPolicy, log: HealthLog) {
    this.#retry = retry;
    this.#log = log;
    this.#delayMs = retry.minMs;
  }

  /** Ms to wait before the store may be tried; 0 when it may be tried now. */
  waitMs(): number {
    return Math.max(0, this.#downUntil - Date.now());
  }

  /** An attempt failed because the store could not be reached; `fields` go into the log line. */
  failed(fields: Record<string, unknown>): void {
    const now = Date.now();
    // Attempts started before the last failure was known fail too: they say nothing new, and must not double
    // the backoff once each.
    if (now < this.#downUntil) return;
    if (this.#downUntil === 0) {
      this.#log('warn', fields, 'sample store unavailable: spooling samples until it is back');
    }
    // Equal jitter: replicas that lost the same store do not all come back at the same instant.
    this.#downUntil = now + this.#delayMs * (0.5 + Math.random() / 2);
    this.#delayMs = Math.min(this.#delayMs * 2, this.#retry.maxMs);
  }

  /** The store answered (stored, or refused: either way it is reachable). */
  answered(fields: Record<string, unknown>): void {
    if (this.#downUntil === 0) return;
    this.#downUntil = 0;
    this.#delayMs = this.#retry.minMs;
    this.#log('info', fields, 'sample store available again');
  }
}
