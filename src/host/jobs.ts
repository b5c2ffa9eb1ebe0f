/**
 * The jobs feature as a process runs it: the two queues (job work, webhooks) on the configured engine, the
 * runtime the processor needs, consumers when this process runs work, and the reconcile pass.
 *
 * `segserve serve` without Redis runs everything here (an in-process queue, consumed by this process). With
 * Redis, `serve` answers the API and `segserve worker` processes consume; `--job-concurrency` lets a server
 * consume too. The reconcile pass runs where the API runs: at start over every open job when the queue is in
 * this process (an in-process queue starts empty, so what a previous run left must be queued again), then
 * every RECONCILE_MS over jobs without progress for STALE_MS.
 */

import type { Registry } from 'prom-client';
import { JobMetrics } from '../jobs/job-metrics.js';
import { JobStore } from '../jobs/job-store.js';
import { Jobs } from '../jobs/jobs.js';
import { JobStores } from '../jobs/locations.js';
import type { JobLog, JobMessage, JobRuntime, WebhookMessage } from '../jobs/processor.js';
import type { InferenceService } from '../serving/service.js';
import { UrlFetcher, type UrlFetchOptions } from '../sources/fetch-url.js';
import { openQueue, type QueueSettings, type StorageSettings } from '../storage/index.js';
import type { Consumer, JsonValue, WorkQueue } from '../storage/queue.js';
import type { LazyStorage } from './storage.js';

const RECONCILE_MS = 30_000;
/** A job without progress for this long has its pending inputs queued again (the queue ignores ids it holds). */
const STALE_MS = 60_000;
/** The first retry waits this long; each further one twice as long. */
const BACKOFF_MS = 1_000;
/**
 * A webhook receiver may be down for a deploy or an outage: 12 deliveries from 2 s apart doubling span about
 * 2.3 hours before the webhook is given up (and the job says so).
 */
const WEBHOOK_RETRY = { attempts: 12, backoffMs: 2_000 };

export interface JobsSetup {
  service: InferenceService;
  stores: LazyStorage;
  storage: StorageSettings;
  queue: QueueSettings;
  log: JobLog;
  /** Inputs this process runs at once; 0 runs none (the API of a deployment with workers). */
  concurrency: number;
  /** Whether this process answers the API and reconciles (servers), or only consumes (workers). */
  role: 'server' | 'worker';
  attempts: number;
  lockMs: number;
  maxInputs: number;
  webhookSecret?: string;
  urlFetch: Pick<
    UrlFetchOptions,
    'allow' | 'connectTimeoutMs' | 'totalTimeoutMs' | 'maxRedirects' | 'maxBytes'
  >;
  registry?: Registry;
  /** A Redis key prefix (tests run side by side on one Redis). */
  queuePrefix?: string;
  /** Reconcile interval and staleness (tests). */
  reconcile?: { intervalMs?: number; staleMs?: number };
}

export interface RunningJobs {
  jobs: Jobs;
  queues: { work: WorkQueue<JobMessage>; webhooks: WorkQueue<WebhookMessage> };
  /** Starts the consumers and the reconcile pass; separate from opening, so their logs have somewhere to go. */
  start(): void;
  /** Stops consuming after the inputs running finish (the drain of SIGTERM), then closes the queues. */
  close(): Promise<void>;
}

export async function openJobs(setup: JobsSetup): Promise<RunningJobs> {
  const queueOptions = { lockMs: setup.lockMs, prefix: setup.queuePrefix };
  const work = await openQueue<JobMessage>('segserve-jobs', setup.queue, {
    ...queueOptions,
    retry: { attempts: setup.attempts, backoffMs: BACKOFF_MS },
  });
  const webhooks = await openQueue<WebhookMessage>('segserve-webhooks', setup.queue, {
    ...queueOptions,
    retry: WEBHOOK_RETRY,
  });
  const stores = new JobStores(setup.stores, setup.storage.blobs);
  const metrics =
    setup.registry &&
    new JobMetrics(setup.registry, {
      queues: [work, webhooks] as unknown as ReadonlyArray<WorkQueue<JsonValue>>,
      ...(setup.role === 'server'
        ? {
            // A scrape never opens the database (the embedded one takes seconds and 250 MB to open): before
            // anything opened it, no job was submitted or recovered by this process, and the series is left out.
            jobCounts: async () =>
              setup.stores.databaseOpened()
                ? new JobStore(await setup.stores.database()).countByState()
                : undefined,
          }
        : {}),
    });
  const runtime: JobRuntime = {
    service: setup.service,
    database: () => setup.stores.database(),
    stores,
    fetcher: new UrlFetcher(setup.urlFetch),
    queues: { work, webhooks },
    metrics,
    log: setup.log,
  };
  const jobs = new Jobs(runtime, { maxInputs: setup.maxInputs, webhookSecret: setup.webhookSecret });
  let consumers: Consumer[] = [];

  let timer: NodeJS.Timeout | undefined;
  let reconciling: Promise<void> | undefined;
  const reconcile = (staleMs: number | undefined) => {
    // A server that never stored anything has no jobs: opening the embedded database to find none would cost
    // every start a second.
    if (reconciling || !setup.stores.databaseExists()) return;
    reconciling = jobs
      .reconcile(staleMs)
      .then((found) => {
        if (found.inputs + found.finalized + found.webhooks > 0) {
          setup.log('info', found, 'jobs reconciled: queued again what was left undone');
        }
      })
      .catch((error: unknown) =>
        setup.log(
          'warn',
          { error: error instanceof Error ? error.message : String(error) },
          'jobs reconcile failed',
        ),
      )
      .finally(() => {
        reconciling = undefined;
      });
  };
  let closing: Promise<void> | undefined;
  return {
    jobs,
    queues: { work, webhooks },
    start() {
      if (closing) return;
      if (setup.concurrency > 0) consumers = jobs.consume(setup.concurrency);
      if (setup.role !== 'server') return;
      const staleMs = setup.reconcile?.staleMs ?? STALE_MS;
      reconcile(setup.queue.kind === 'in-process' ? undefined : staleMs);
      timer = setInterval(() => reconcile(staleMs), setup.reconcile?.intervalMs ?? RECONCILE_MS);
      timer.unref();
    },
    close() {
      closing ??= (async () => {
        clearInterval(timer);
        await Promise.all(consumers.map((consumer) => consumer.close()));
        await reconciling;
        await Promise.all([work.close(), webhooks.close()]);
        await stores.close();
      })();
      return closing;
    },
  };
}
