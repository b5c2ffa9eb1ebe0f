/**
 * The server process: open the serving core (open-service.ts), build the HTTP app, listen; and the orderly way
 * down (stop accepting, answer every request in flight, drain and close the runtimes).
 */
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Registry } from 'prom-client';
import { buildApp } from '../http/app.js';
import type { AppOptions, LoggerOptions } from '../http/options.js';
import { defaultServerLimits } from '../http/settings.js';
import { checkEventRule } from '../jobs/event-jobs.js';
import type { JobLog } from '../jobs/processor.js';
import { SampleCapture } from '../learning/capture/index.js';
import { configuredGateEvaluator } from '../lifecycle/evaluation/index.js';
import { RepositoryWatch } from '../lifecycle/repository-watch.js';
import { DriftWatch } from '../monitoring/drift-watch.js';
import { ServingMetrics } from '../monitoring/metrics.js';
import { MonitorHistory } from '../monitoring/monitor-history.js';
import { logPredictions, type PredictionLogLevel } from '../monitoring/prediction-log.js';
import { ShadowTraffic } from '../monitoring/shadow/index.js';
import type { InferenceService } from '../serving/service.js';
import type { StorageSettings } from '../storage/index.js';
import type { QueueSettings } from '../storage/settings.js';
import { openJobs, type RunningJobs } from './jobs.js';
import { readAliases, readTrafficPolicies, startLifecycle } from './lifecycle.js';
import { type ModelsSyncOptions, startModelsSync } from './models-sync.js';
import { openService, type ServiceSetup, startupLogger } from './open-service.js';
import { startRetraining } from './retraining.js';
import { LazyStorage } from './storage.js';

export interface ServeOptions
  // What the server builds itself is not an option: a value given for it would be ignored.
  extends Omit<
      AppOptions,
      | 'service'
      | 'metrics'
      | 'monitor'
      | 'logger'
      | 'stores'
      | 'retraining'
      | 'shadows'
      | 'lifecycle'
      | 'jobs'
    >,
    Omit<ServiceSetup, 'decodedPixelBudget' | 'keepVersions'> {
  port: number;
  host: string;
  logger?: false | LoggerOptions;
  /** The level of the one-line-per-prediction log, or off (default info). */
  predictionLog?: PredictionLogLevel;
  /** Prometheus metrics, drift monitoring and the monitor page's data (default true). */
  monitoring?: boolean;
  /** Where stored data goes (src/storage/settings.ts); nothing is opened until a feature first uses it. */
  storage: StorageSettings;
  /** Most bytes of samples spooled while the store is down (`--max-sample-spool-bytes`; default the table's). */
  sampleSpoolBytes?: number;
  /** How often retraining triggers count new labels (default 30 s); for tests and embedding, not a flag. */
  retrainingPollMs?: number;
  /** How often aliases and traffic policies are read again to follow other replicas (default 5 s); for tests, not a flag. */
  aliasRefreshMs?: number;
  /**
   * Watch the model folder and apply its changes (`--watch`, on by default for `segserve serve`); off when
   * absent. `settleMs` (how soon a hinted look comes) is for tests, not a flag.
   */
  watch?: { intervalMs?: number; settleMs?: number };
  /**
   * Mirror a bucket prefix into the model folder (`--models-sync`). Turns the watch on, which applies what each
   * pass changed.
   */
  modelsSync?: ModelsSyncOptions;
  /** Batch jobs: the queue (default in this process) and how many inputs this process runs at once. */
  jobs?: ServeJobOptions;
}

export interface ServeJobOptions {
  queue: QueueSettings;
  /** Inputs run at once by this process (default: 2 with an in-process queue, 0 with Redis, where workers run them). */
  concurrency?: number;
  /** Signs webhooks of jobs that name no secret (`SEGSERVE_WEBHOOK_SECRET`). */
  webhookSecret?: string;
  /** Default: the limits table's (`--job-attempts`, `--job-lock`). */
  attempts?: number;
  lockMs?: number;
  /** For tests: a Redis key prefix, and a faster reconcile pass. */
  queuePrefix?: string;
  reconcile?: { intervalMs?: number; staleMs?: number };
}

export interface RunningServer {
  app: FastifyInstance;
  service: InferenceService;
  /** The blob store and database, each opened on its first use (see storage.ts). */
  storage: LazyStorage;
  /** Where it listens, e.g. http://0.0.0.0:8080 */
  url: string;
  /** Stops accepting, waits for requests in flight, then closes every model's runtime. */
  close(): Promise<void>;
}

export async function startServer(options: ServeOptions): Promise<RunningServer> {
  const {
    modelsDir,
    provisionEmpty,
    defaultModel,
    port,
    host,
    predictionLog,
    monitoring,
    storage,
    sampleSpoolBytes,
    retrainingPollMs,
    aliasRefreshMs,
    watch: watchOptions,
    modelsSync,
    unloadTimeoutMs,
    jobs: jobOptions,
    ...appOptions
  } = options;
  const log = startupLogger(options.logger === false ? false : (options.logger?.stream ?? process.stdout));
  // The pixel budget is one of the server's limits (settings.ts) but the serving core enforces it.
  const decodedPixelBudget = options.limits?.decodedPixelBudget;
  let watch: RepositoryWatch | undefined;
  // A mirrored repository: its first pass runs before the models load, so the server starts with the bucket's.
  const sync = modelsSync && (await startModelsSync(modelsDir, modelsSync, log, () => watch));
  // Opens nothing yet: the stores open on their first use (see storage.ts), at start when a model samples, or to
  // read the aliases when a database exists.
  const stores = new LazyStorage(storage);
  let app: FastifyInstance;
  const aliases = await readAliases(
    stores,
    {
      unread: (error) => log({ type: 'aliases-unread', error, note: 'not ready until they are read' }),
      // The first refresh comes seconds after start, when the app exists.
      warn: (fields, message) => app.log.warn(fields, message),
    },
    aliasRefreshMs,
  );
  const policies = await readTrafficPolicies(
    stores,
    {
      unread: (error) => log({ type: 'traffic-unread', error, note: 'not ready until they are read' }),
      warn: (fields, message) => app.log.warn(fields, message),
    },
    aliasRefreshMs,
  );
  const service = await openService(
    {
      modelsDir,
      // A mirrored repository holds what the bucket holds, nothing imported beside it.
      provisionEmpty: provisionEmpty && !sync,
      defaultModel,
      decodedPixelBudget,
      // The versions aliases point at, and those traffic policies name, stay loaded whatever the version policy says.
      keepVersions: (model) => [...aliases.versionsOf(model), ...policies.versionsOf(model)],
      unloadTimeoutMs,
    },
    log,
  ).catch(async (error: unknown) => {
    aliases.stop();
    policies.stop();
    await sync?.close();
    await stores.close();
    throw error;
  });
  // The model's config.yaml `evaluation:` block names the gate's dataset; a model without one is not gated.
  const gate = configuredGateEvaluator({ service, storage: stores });
  const lifecycle = startLifecycle(service, stores, aliases, gate, modelsDir, policies);
  let monitor: MonitorHistory | undefined;
  let capture: SampleCapture | undefined;
  let shadows: ShadowTraffic | undefined;
  let jobs: RunningJobs | undefined;
  // Logs through the app built below; it logs nothing before its first poll or drift event.
  const retraining = startRetraining(
    service,
    stores,
    (level, fields, message) => app.log[level](fields, message),
    retrainingPollMs,
  );
  try {
    const metrics = (monitoring ?? true) ? new ServingMetrics(service) : undefined;
    // DriftWatch logs through the app, which needs the monitor history, which reads the drift states: the
    // history asks through a closure that answers none until the watch exists (a few lines below).
    let drift: DriftWatch | undefined;
    monitor = metrics && new MonitorHistory(service, { driftStates: () => drift?.states() ?? [] });
    // Copies of requests to the shadow variants of endpoint policies, compared with the served answers. Like
    // sampling, it runs with monitoring off too (only without metrics): it is how a version is tried out.
    shadows = new ShadowTraffic(service, {
      registry: metrics?.registry,
      log: (level, fields, message) => app.log[level](fields, message),
    });
    jobs = await openServerJobs(
      service,
      stores,
      storage,
      jobOptions,
      options,
      metrics?.registry,
      (level, fields, message) => app.log[level](fields, message),
    );
    // A rule that names a prefix or output this server cannot reach is refused now, not at the first event.
    if (appOptions.events) checkEventRule(appOptions.events.rule, jobs.jobs.stores);
    app = await buildApp({
      ...appOptions,
      service,
      metrics,
      monitor,
      stores,
      retraining,
      lifecycle,
      shadows,
      jobs: jobs.jobs,
    });
    if (metrics) {
      drift = new DriftWatch(service, {
        registry: metrics.registry,
        log: (level, fields, message) => app.log[level](fields, message),
      });
    }
    // Sampling is active learning, not monitoring: it runs with monitoring off too, only without metrics.
    capture = await SampleCapture.start(service, {
      stores,
      spoolDir: join(storage.dataDir, 'spool'),
      spoolMaxBytes: sampleSpoolBytes ?? defaultServerLimits().sampleSpoolBytes,
      registry: metrics?.registry,
      log: (level, fields, message) => app.log[level](fields, message),
    });
    const level = predictionLog ?? 'info';
    logPredictions(
      service,
      level === 'off' ? undefined : (fields, message) => app.log[level](fields, message),
    );
    // Versions that aliases point at but the version policy left out load now, before the first request.
    // (A rescan that finds nothing else changed reads each config and stats each model file: milliseconds.)
    await service.repository.rescan();
    if (watchOptions || sync) {
      watch = RepositoryWatch.start(service.repository, { ...watchOptions, log });
    }
    await app.listen({ port, host });
    jobs.start();
  } catch (error) {
    await jobs?.close();
    await watch?.close();
    await sync?.close();
    lifecycle.close();
    monitor?.close();
    await shadows?.close();
    await service.close();
    await capture?.close();
    await retraining?.close();
    await stores.close();
    throw error;
  }
  const sampling = capture;
  const shadowing = shadows;
  const running = jobs;
  let closing: Promise<void> | undefined;
  return {
    app,
    service,
    storage: stores,
    url: app.listeningOrigin,
    close() {
      lifecycle.close();
      monitor?.close();
      // Storage last: requests in flight and the runtimes' last events may still write to it. The capture
      // stops taking predictions once no more can come, and writes what it holds (to the store, or the spool).
      closing ??= Promise.all([watch?.close(), sync?.close()])
        .then(() => app.close())
        // Inputs running finish (they hold model workers and write to storage); queued ones stay queued.
        .finally(() => running.close())
        // Shadow runs in flight finish before the runtimes close; queued copies are dropped.
        .finally(() => shadowing.close())
        .finally(() => service.close())
        .finally(() => sampling.close())
        .finally(() => retraining?.close())
        .finally(() => stores.close());
      return closing;
    },
  };
}

/** The jobs of a server: the API's, and the work too unless Redis hands it to workers. */
function openServerJobs(
  service: InferenceService,
  stores: LazyStorage,
  storage: StorageSettings,
  options: ServeJobOptions | undefined,
  serve: ServeOptions,
  registry: Registry | undefined,
  log: JobLog,
): Promise<RunningJobs> {
  const limits = { ...defaultServerLimits(), ...serve.limits };
  const queue = options?.queue ?? { kind: 'in-process' };
  return openJobs({
    service,
    stores,
    storage,
    queue,
    log,
    role: 'server',
    concurrency: options?.concurrency ?? (queue.kind === 'in-process' ? 2 : 0),
    attempts: options?.attempts ?? limits.jobAttempts,
    lockMs: options?.lockMs ?? limits.jobLockMs,
    maxInputs: limits.maxJobInputs,
    webhookSecret: options?.webhookSecret,
    urlFetch: {
      allow: serve.urlFetch?.allow ?? [],
      connectTimeoutMs: serve.urlFetch?.connectTimeoutMs ?? limits.urlConnectTimeoutMs,
      totalTimeoutMs: serve.urlFetch?.totalTimeoutMs ?? limits.urlTimeoutMs,
      maxRedirects: serve.urlFetch?.maxRedirects ?? limits.urlMaxRedirects,
      maxBytes: limits.imageBodyBytes,
    },
    registry,
    queuePrefix: options?.queuePrefix,
    reconcile: options?.reconcile,
  });
}
