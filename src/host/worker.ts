/**
 * The worker process (`segserve worker`): its own model pools over the same repository as the API (a folder
 * shared with it, or its own copy mirrored from the API's bucket prefix with `--models-sync`), consuming the job
 * queue on Redis that the API fills. It serves only what an orchestrator needs: `/healthz` (alive),
 * `/readyz` (models loaded, queue reachable) and `/metrics` (the serving core's metrics and the jobs').
 *
 * A worker needs what every process of a deployment shares: the queue on Redis (an in-process queue would be a
 * queue of its own that nobody fills) and a database server (the embedded one belongs to one process). Both are
 * refused at start with the setting to give, rather than a worker that waits forever on nothing.
 */
import Fastify, { type FastifyInstance } from 'fastify';
import { SegserveError } from '../errors.js';
import type { LoggerOptions } from '../http/options.js';
import { defaultServerLimits, type ServerLimits } from '../http/settings.js';
import { RepositoryWatch } from '../lifecycle/repository-watch.js';
import { ServingMetrics } from '../monitoring/metrics.js';
import type { InferenceService } from '../serving/service.js';
import type { StorageSettings } from '../storage/index.js';
import type { QueueSettings } from '../storage/settings.js';
import { openJobs, type RunningJobs } from './jobs.js';
import { readAliases, readTrafficPolicies } from './lifecycle.js';
import { type ModelsSyncOptions, startModelsSync } from './models-sync.js';
import { openService, startupLogger } from './open-service.js';
import { LazyStorage } from './storage.js';

export interface WorkerOptions {
  modelsDir: string;
  storage: StorageSettings;
  queue: QueueSettings;
  /** Inputs run at once (default: the instances of the models, at least 1: more only wait on the pools). */
  concurrency: number;
  port: number;
  host: string;
  limits?: Partial<ServerLimits>;
  allowUrl?: string[];
  logger?: false | LoggerOptions;
  /**
   * Mirror a bucket prefix into the model folder (`--models-sync`, as `serve` does), with the repository watch
   * applying what each pass changed (every `limits.watchIntervalMs`).
   */
  modelsSync?: ModelsSyncOptions;
  /** Tests: a Redis key prefix shared with the API under test. */
  queuePrefix?: string;
}

export interface RunningWorker {
  app: FastifyInstance;
  service: InferenceService;
  jobs: RunningJobs;
  url: string;
  /** Takes no new input, lets those running finish, then closes the pools and the stores. */
  close(): Promise<void>;
}

export function checkWorkerSettings(storage: StorageSettings, queue: QueueSettings): void {
  if (queue.kind !== 'redis') {
    throw new SegserveError('INVALID_ARGUMENT', {
      reason:
        "a worker consumes the queue the API fills: give --redis-url (or SEGSERVE_REDIS_URL), the same as the server's",
    });
  }
  if (storage.database.kind !== 'postgres') {
    throw new SegserveError('INVALID_ARGUMENT', {
      reason:
        'a worker records job progress where the API reads it: give --database-url (or SEGSERVE_DATABASE_URL), ' +
        "the same PostgreSQL as the server's; the embedded database belongs to one process",
    });
  }
}

export async function startWorker(options: WorkerOptions): Promise<RunningWorker> {
  checkWorkerSettings(options.storage, options.queue);
  const limits = { ...defaultServerLimits(), ...options.limits };
  const log = startupLogger(options.logger === false ? false : (options.logger?.stream ?? process.stdout));
  let watch: RepositoryWatch | undefined;
  // Before anything else opens: the models load from what the first pass brought.
  const sync =
    options.modelsSync && (await startModelsSync(options.modelsDir, options.modelsSync, log, () => watch));
  const stores = new LazyStorage(options.storage);
  let app: FastifyInstance | undefined;
  const warn = (fields: Record<string, unknown>, message: string) => app?.log.warn(fields, message);
  // Endpoints and aliases resolve as on the API: the same tables, refreshed the same way.
  const aliases = await readAliases(stores, {
    unread: (error) =>
      log({ type: 'aliases-unread', error, note: 'jobs naming an alias wait until they are read' }),
    warn,
  });
  const policies = await readTrafficPolicies(stores, {
    unread: (error) =>
      log({ type: 'traffic-unread', error, note: 'jobs naming an endpoint wait until they are read' }),
    warn,
  });
  let service: InferenceService | undefined;
  let jobs: RunningJobs | undefined;
  try {
    service = await openService(
      {
        modelsDir: options.modelsDir,
        keepVersions: (model) => [...aliases.versionsOf(model), ...policies.versionsOf(model)],
        decodedPixelBudget: limits.decodedPixelBudget,
        unloadTimeoutMs: limits.unloadTimeoutMs,
      },
      log,
    );
    service.useAliases(aliases);
    service.useTraffic(policies);
    if (sync) watch = RepositoryWatch.start(service.repository, { intervalMs: limits.watchIntervalMs, log });
    const metrics = new ServingMetrics(service);
    const logger =
      options.logger === false
        ? false
        : {
            level: options.logger?.level ?? 'info',
            ...(options.logger?.stream ? { stream: options.logger.stream } : {}),
          };
    const server = Fastify({ logger });
    app = server;
    jobs = await openJobs({
      service,
      stores,
      storage: options.storage,
      queue: options.queue,
      log: (level, fields, message) => server.log[level](fields, message),
      role: 'worker',
      concurrency: options.concurrency,
      attempts: limits.jobAttempts,
      lockMs: limits.jobLockMs,
      maxInputs: limits.maxJobInputs,
      urlFetch: {
        allow: options.allowUrl ?? [],
        connectTimeoutMs: limits.urlConnectTimeoutMs,
        totalTimeoutMs: limits.urlTimeoutMs,
        maxRedirects: limits.urlMaxRedirects,
        maxBytes: limits.imageBodyBytes,
      },
      registry: metrics.registry,
      queuePrefix: options.queuePrefix,
    });
    const running = jobs;
    const served = service;
    server.get('/healthz', async () => ({ status: 'alive' }));
    server.get('/readyz', async (_request, reply) => {
      const notReady = served.notReady();
      const queue = await running.queues.work.counts().then(
        () => undefined,
        (error: unknown) => (error instanceof Error ? error.message : String(error)),
      );
      const reason = notReady ?? queue;
      return reply
        .code(reason ? 503 : 200)
        .send(reason ? { status: 'not ready', reason } : { status: 'ready' });
    });
    server.get('/metrics', async (_request, reply) =>
      reply.type(metrics.contentType).send(await metrics.metrics()),
    );
    await server.listen({ port: options.port, host: options.host });
    running.start();
    server.log.info(
      { queue: 'redis', concurrency: options.concurrency, worker: process.pid },
      'worker consuming the job queue',
    );
  } catch (error) {
    await watch?.close();
    await sync?.close();
    await jobs?.close();
    await app?.close();
    await service?.close();
    aliases.stop();
    policies.stop();
    await stores.close();
    throw error;
  }
  const running = jobs;
  const served = service;
  const server = app;
  let closing: Promise<void> | undefined;
  return {
    app: server,
    service: served,
    jobs: running,
    url: server.listeningOrigin,
    close() {
      // The drain starts at once; a sync pass in progress finishes beside it (it renames whole files into place).
      closing ??= Promise.all([running.close(), watch?.close(), sync?.close()])
        .finally(() => server.close())
        .finally(() => served.close())
        .finally(() => {
          aliases.stop();
          policies.stop();
        })
        .finally(() => stores.close())
        .then(() => undefined);
      return closing;
    },
  };
}
