/**
 * How a long-running command (`serve`, `worker`) stops on SIGTERM or SIGINT, what Kubernetes, Cloud Run and
 * Ctrl-C send: the first signal starts an orderly close (nothing new taken, work in flight finishes) and exits 0
 * when it is done; a second signal, or a close longer than the grace period, exits at once with 1.
 */
import type { FastifyBaseLogger } from 'fastify';

export interface StopWords {
  /** Logged at the first signal, e.g. `shutting down: refusing new requests, finishing those in flight`. */
  closing: string;
  /** What is left when a second signal or the grace period cuts the close short, e.g. `requests in flight`. */
  inFlight: string;
  /** Logged once closed. */
  closed: string;
}

export function stopOnSignals(
  log: FastifyBaseLogger,
  graceMs: number,
  close: () => Promise<void>,
  words: StopWords,
): void {
  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) {
      log.warn({ signal }, `second signal: exiting without waiting for the ${words.inFlight}`);
      process.exit(1);
    }
    stopping = true;
    log.info({ signal }, words.closing);
    setTimeout(() => {
      log.error({ grace_ms: graceMs }, `${words.inFlight} still unfinished after the grace period`);
      process.exit(1);
    }, graceMs).unref();
    close().then(
      () => {
        log.info(words.closed);
        process.exit(0);
      },
      (error: unknown) => {
        log.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}
