/**
 * `segserve serve`: the HTTP server in the foreground, logging JSON lines. On a first run (a repository folder
 * without models) it imports the bundled person model, so it answers real requests from the start.
 * SIGTERM or SIGINT (what Cloud Run, Kubernetes and Ctrl-C send) stops it in order: no new requests, requests
 * in flight finish, the worker pools drain and close, exit 0. A second signal, or a drain longer than the grace
 * period, exits at once with 1.
 */
import { startServer } from '../host/server.js';

export interface ServeCommandOptions {
  models: string;
  port: number;
  host: string;
  defaultModel?: string;
  batchRoot?: string;
  allowUrl: string[];
  logLevel: string;
  shutdownTimeout: number;
}

export async function serve(options: ServeCommandOptions): Promise<void> {
  const server = await startServer({
    modelsDir: options.models,
    provisionEmpty: true,
    port: options.port,
    host: options.host,
    defaultModel: options.defaultModel,
    batchRoot: options.batchRoot,
    urlFetch: { allow: options.allowUrl },
    logger: { level: options.logLevel },
  });
  const { log } = server.app;
  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) {
      log.warn({ signal }, 'second signal: exiting without waiting for requests in flight');
      process.exit(1);
    }
    stopping = true;
    log.info({ signal }, 'shutting down: refusing new requests, finishing those in flight');
    setTimeout(() => {
      log.error({ grace_ms: options.shutdownTimeout }, 'requests still in flight after the grace period');
      process.exit(1);
    }, options.shutdownTimeout).unref();
    server.close().then(
      () => {
        log.info('shut down');
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
