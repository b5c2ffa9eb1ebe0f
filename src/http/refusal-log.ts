/**
 * Logging of expected refusals (bad input, full queues, closing): one line per error code per interval at
 * most, with the number of refusals folded into it, and never a stack trace. Under overload every refused
 * request once wrote its own line with a stack (39 MB of log in 20 minutes); the log must stay readable and
 * cheap exactly when the server is busiest.
 */
import type { FastifyBaseLogger, FastifyRequest } from 'fastify';
import type { SegserveError } from '../errors.js';
import { LogThrottle } from '../monitoring/log-throttle.js';

/** Requests answered as refusals: their lines are the rate-limited ones, not one per request. */
const refused = new WeakSet<FastifyRequest>();

/** Whether `request` was answered as a refusal (so the per-request completion line is left out). */
export function wasRefused(request: FastifyRequest): boolean {
  return refused.has(request);
}

export class RefusalLog {
  readonly #throttle: LogThrottle;

  constructor(intervalMs = 1_000) {
    this.#throttle = new LogThrottle(intervalMs);
  }

  /** Logs the refusal unless its code was logged less than an interval ago; then only counts it. */
  note(request: FastifyRequest, error: SegserveError): void {
    refused.add(request);
    const log: FastifyBaseLogger = request.log;
    const admitted = this.#throttle.admit(error.code);
    if (!admitted) return;
    const { suppressed } = admitted;
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
