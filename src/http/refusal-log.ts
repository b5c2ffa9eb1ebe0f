/**
 * Logging of expected refusals (bad input, full queues, closing): one line per error code per interval at
 * most, with the number of refusals folded into it, and never a stack trace. Under overload every refused
 * request once wrote its own line with a stack (39 MB of log in 20 minutes); the log must stay readable and
 * cheap exactly when the server is busiest.
 */
import type { FastifyBaseLogger, FastifyRequest } from 'fastify';
import type { SegserveError } from '../errors.js';

/** Requests answered as refusals: their lines are the rate-limited ones, not one per request. */
const refused = new WeakSet<FastifyRequest>();

/** Whether `request` was answered as a refusal (so the per-request completion line is left out). */
export function wasRefused(request: FastifyRequest): boolean {
  return refused.has(request);
}

interface Window {
  started: number;
  suppressed: number;
}

export class RefusalLog {
  readonly #intervalMs: number;
  readonly #windows = new Map<string, Window>();

  constructor(intervalMs = 1_000) {
    this.#intervalMs = intervalMs;
  }

  /** Logs the refusal unless its code was logged less than an interval ago; then only counts it. */
  note(request: FastifyRequest, error: SegserveError): void {
    refused.add(request);
    const log: FastifyBaseLogger = request.log;
    const now = Date.now();
    const window = this.#windows.get(error.code);
    if (window && now - window.started < this.#intervalMs) {
      window.suppressed++;
      return;
    }
    const suppressed = window?.suppressed ?? 0;
    this.#windows.set(error.code, { started: now, suppressed: 0 });
    log.info(
      {
        code: error.code,
        reason: error.message,
        ...(suppressed > 0 ? { suppressed_since_last: suppressed } : {}),
      },
      'request refused',
    );
  }
}
