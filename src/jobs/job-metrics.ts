/**
 * Prometheus metrics of the job queue and the jobs. Queue depths and job counts are read at scrape time (from
 * the queue and the database, shared by every process), so every process that exports them shows the same
 * numbers: dashboards take `max` over instances. What happens inside a process (inputs run, retries, job and
 * webhook ends) is counted where it happens: sum over instances.
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { JsonValue, QueueCounts, WorkQueue } from '../storage/queue.js';
import type { JobInputState, JobState, JobView } from './wire-types.js';

export interface JobMetricSources {
  queues: ReadonlyArray<WorkQueue<JsonValue>>;
  /**
   * Jobs by state, from the database (undefined while it is not open); absent in processes that do not answer
   * for jobs (workers).
   */
  jobCounts?: () => Promise<Record<JobState, number> | undefined>;
}

const QUEUE_STATES: ReadonlyArray<keyof QueueCounts> = ['waiting', 'active', 'delayed', 'dead'];

/** A scrape must not hang on a queue or database that stopped answering: its series are skipped instead. */
const SCRAPE_TIMEOUT_MS = 2_000;

function withinScrape<T>(work: Promise<T>): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), SCRAPE_TIMEOUT_MS);
  });
  return Promise.race([work.catch(() => undefined), timeout]).finally(() => clearTimeout(timer));
}

export class JobMetrics {
  readonly #inputs: Counter<'outcome'>;
  readonly #inputSeconds: Histogram;
  readonly #retries: Counter<'outcome'>;
  readonly #jobDuration: Histogram<'state'>;
  readonly #webhooks: Counter<'outcome'>;

  constructor(registry: Registry, sources: JobMetricSources) {
    const registers = [registry];
    new Gauge({
      name: 'segserve_queue_messages',
      help: 'Messages in the job queues by state: waiting, active, delayed (a retry backoff) and dead (dead letters).',
      labelNames: ['queue', 'state'],
      registers,
      async collect() {
        this.reset();
        for (const queue of sources.queues) {
          const counts = await withinScrape(queue.counts());
          if (!counts) continue;
          for (const state of QUEUE_STATES)
            this.set({ queue: queue.name, state: String(state) }, counts[state]);
        }
      },
    });
    const { jobCounts } = sources;
    if (jobCounts) {
      new Gauge({
        name: 'segserve_jobs',
        help: 'Jobs by state (running, cancelling, completed, failed, cancelled).',
        labelNames: ['state'],
        registers,
        async collect() {
          this.reset();
          const counts = await withinScrape(jobCounts());
          if (!counts) return;
          for (const [state, n] of Object.entries(counts)) this.set({ state }, n);
        },
      });
    }
    this.#inputs = new Counter({
      name: 'segserve_job_inputs_total',
      help: 'Job inputs run by this process, by outcome (done, failed).',
      labelNames: ['outcome'],
      registers,
    });
    this.#inputSeconds = new Histogram({
      name: 'segserve_job_input_seconds',
      help: 'Time to read, segment and write the outputs of one job input.',
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    });
    this.#retries = new Counter({
      name: 'segserve_job_retries_total',
      help: 'Failed runs of job messages: retried (outcome="retry") or dead-lettered after the last attempt (outcome="dead").',
      labelNames: ['outcome'],
      registers,
    });
    this.#jobDuration = new Histogram({
      name: 'segserve_job_duration_seconds',
      help: 'Jobs from submission to their end, by final state.',
      labelNames: ['state'],
      buckets: [1, 5, 15, 60, 300, 900, 3600, 4 * 3600, 24 * 3600],
      registers,
    });
    this.#webhooks = new Counter({
      name: 'segserve_job_webhooks_total',
      help: 'Job webhooks by outcome: delivered, or failed after the last retry.',
      labelNames: ['outcome'],
      registers,
    });
  }

  inputFinished(outcome: Exclude<JobInputState, 'pending' | 'cancelled'>, seconds: number): void {
    this.#inputs.inc({ outcome });
    this.#inputSeconds.observe(seconds);
  }

  inputRetried(willRetry: boolean): void {
    this.#retries.inc({ outcome: willRetry ? 'retry' : 'dead' });
  }

  jobEnded(job: JobView): void {
    this.#jobDuration.observe({ state: job.state }, job.elapsed_s);
  }

  webhookDelivered(delivered: boolean): void {
    this.#webhooks.inc({ outcome: delivered ? 'delivered' : 'failed' });
  }
}
