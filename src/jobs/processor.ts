/**
 * What a worker does with each queue message: run one input of a job through the serving core and write its
 * outputs, end a job whose inputs are all settled (manifest, COCO results file), deliver a job's webhook.
 *
 * Idempotent, since delivery is at least once (a worker killed mid-input gives the message back):
 * - an input that is no longer pending (done by a worker that died before acknowledging, or cancelled) is not
 *   run again;
 * - an input run twice (the first run died after writing, before recording) writes the same keys with the same
 *   bytes: outputs are named by the input, and carry nothing that differs between runs (no timings, no ids);
 * - the job's counters and its end move only with a state change guarded in the database (job-store.ts);
 * - finalize and webhook messages have one id per job, so the queue holds at most one of each.
 */
import { isSegserveError } from '../errors.js';
import { categoryMapping } from '../serving/category-ids.js';
import type { InferenceService } from '../serving/service.js';
import type { CocoResult } from '../serving/types.js';
import type { UrlFetcher } from '../sources/fetch-url.js';
import type { Database } from '../storage/index.js';
import type { DeliveredMessage, FailureNotice, WorkQueue } from '../storage/queue.js';
import type { JobMetrics } from './job-metrics.js';
import {
  COCO_RESULTS_NAME,
  type InputOutcome,
  type JobRecord,
  JobStore,
  MANIFEST_NAME,
} from './job-store.js';
import { type JobStores, parseOutputLocation } from './locations.js';
import { deliverWebhook } from './webhook.js';
import {
  describeInput,
  type JobInput,
  type JobManifest,
  type JobState,
  type JobTarget,
} from './wire-types.js';

export type JobMessage = { kind: 'input'; job: string; index: number } | { kind: 'finalize'; job: string };
export type WebhookMessage = { job: string };

export type JobLog = (
  level: 'info' | 'warn' | 'error',
  fields: Record<string, unknown>,
  message: string,
) => void;

export interface JobQueues {
  work: WorkQueue<JobMessage>;
  webhooks: WorkQueue<WebhookMessage>;
}

export interface JobRuntime {
  service: InferenceService;
  database: () => Promise<Database>;
  stores: JobStores;
  fetcher: UrlFetcher;
  queues: JobQueues;
  metrics?: JobMetrics;
  log: JobLog;
}

export const inputMessageId = (job: string, index: number) => `in.${job}.${index}`;
export const finalizeMessageId = (job: string) => `fin.${job}`;
export const webhookMessageId = (job: string) => `hook.${job}`;

/** Output suffixes per format, under `<output><name>`. */
const SUFFIX = { json: '.json', png: '.png', overlay: '.overlay.png', coco: '.coco.json' } as const;

/**
 * Errors that say something about the input itself (its bytes, its URL answering 404, a key with no object):
 * no retry changes them, so the input fails at once. Anything else (a store or model that is down, a timeout,
 * the unforeseen) is retried by the queue, then dead-lettered.
 */
function isInputFault(error: unknown): boolean {
  if (!isSegserveError(error)) return false;
  if (error.code === 'URL_TIMEOUT' || error.code === 'QUEUE_FULL') return false;
  return error.status >= 400 && error.status < 500;
}

/** How long one run of a message waits out a store or database that cannot be reached, before it fails. */
const OUTAGE_WAIT_MS = 5 * 60_000;
const OUTAGE_RETRY_MAX_MS = 30_000;

function isUnavailable(error: unknown): boolean {
  return isSegserveError(error) && error.code === 'STORAGE_UNAVAILABLE';
}

/**
 * Runs `step` again while the store or database it needs cannot be reached (1 s doubling to 30 s, for up to
 * 5 minutes): an outage is waited out in place rather than spending the message's attempts, so a job survives
 * a store or database restart with nothing failed. Past that, the error goes to the queue's retries.
 */
async function throughOutage<T>(step: () => Promise<T>): Promise<T> {
  const started = Date.now();
  for (let wait = 1_000; ; wait = Math.min(wait * 2, OUTAGE_RETRY_MAX_MS)) {
    try {
      return await step();
    } catch (error) {
      if (!isUnavailable(error) || Date.now() - started + wait > OUTAGE_WAIT_MS) throw error;
      await new Promise((resolve) => setTimeout(resolve, wait));
    }
  }
}

function errorOf(error: unknown): { code: string; message: string } {
  if (isSegserveError(error)) return { code: error.code, message: error.message };
  return { code: 'INTERNAL_ERROR', message: error instanceof Error ? error.message : String(error) };
}

function targetRequest(target: JobTarget): { model: string; version?: string } {
  return 'endpoint' in target ? { model: target.endpoint } : target;
}

/** The JSON written for one input: the API's answer, less what differs between two runs of the same input. */
function stableJson(json: object, input: JobInput): string {
  const { timings: _timings, ...rest } = json as { timings?: unknown };
  return `${JSON.stringify({ input: describeInput(input), ...rest })}\n`;
}

export class JobProcessor {
  readonly #runtime: JobRuntime;
  /** Jobs never change what they are; a worker reads each once (bounded: jobs come and go). */
  readonly #records = new Map<string, JobRecord>();

  constructor(runtime: JobRuntime) {
    this.#runtime = runtime;
  }

  async #store(): Promise<JobStore> {
    return new JobStore(await this.#runtime.database());
  }

  async #record(store: JobStore, job: string): Promise<JobRecord | undefined> {
    const cached = this.#records.get(job);
    if (cached) return cached;
    const record = await store.get(job);
    if (record) {
      if (this.#records.size >= 256) this.#records.delete(this.#records.keys().next().value as string);
      this.#records.set(job, record);
    }
    return record;
  }

  async handle(message: DeliveredMessage<JobMessage>): Promise<void> {
    if (message.data.kind === 'finalize') return this.#finalize(message.data.job);
    return this.#runInput(message.data.job, message.data.index);
  }

  /** A message that used its last attempt: its input fails with the last error, so the job can still end. */
  async onFailure(notice: FailureNotice<JobMessage>): Promise<void> {
    const { message, error, willRetry } = notice;
    this.#runtime.metrics?.inputRetried(willRetry);
    const { kind, job } = message.data;
    this.#runtime.log(
      willRetry ? 'warn' : 'error',
      {
        job,
        kind,
        index: kind === 'input' ? message.data.index : undefined,
        attempt: message.attempt,
        error: errorOf(error),
      },
      willRetry ? 'job message failed; retrying' : 'job message dead-lettered after its last attempt',
    );
    if (willRetry || message.data.kind !== 'input') return;
    const { code, message: text } = errorOf(error);
    await this.#settle(job, message.data.index, {
      state: 'failed',
      error: { code, message: `gave up after ${message.attempt} attempts: ${text}` },
    });
  }

  async #runInput(job: string, index: number): Promise<void> {
    const store = await throughOutage(() => this.#store());
    const claimed = await throughOutage(() => store.claim(job, index));
    // Deleted, already settled (a redelivery), or its job cancelled: nothing to run, but the job may be due to end.
    if (!claimed || claimed.state !== 'pending' || claimed.jobState !== 'running') {
      if (claimed) await this.#endIfComplete(store, job);
      return;
    }
    const record = await this.#record(store, job);
    if (!record) return;
    const started = performance.now();
    let outcome: InputOutcome;
    try {
      outcome = await this.#segment(record, claimed.input, claimed.name, claimed.imageId);
    } catch (error) {
      if (!isInputFault(error)) throw error;
      outcome = { state: 'failed', error: errorOf(error) };
    }
    this.#runtime.metrics?.inputFinished(outcome.state, (performance.now() - started) / 1000);
    await this.#settle(job, index, outcome);
  }

  async #segment(record: JobRecord, input: JobInput, name: string, imageId: number): Promise<InputOutcome> {
    const { service, stores, fetcher } = this.#runtime;
    const { spec, view } = record;
    const bytes = await throughOutage(() => stores.read(input, fetcher));
    // One job's inputs go to one variant where the endpoint's policy is sticky by key.
    const route = service.route(targetRequest(view.target), { stickyKey: view.id });
    const ticket = service.admitRoute(route, { source: 'job', requestId: `${view.id}/${imageId}` });
    const writes: Array<[string, Uint8Array | string, string]> = [];
    let servedBy: { model: string; version: number; variant: string };
    try {
      const seg = await service.segment(ticket, bytes, { keepImage: spec.formats.includes('overlay') });
      servedBy = { model: seg.model, version: seg.version, variant: seg.variant ?? route.variant };
      for (const format of spec.formats) {
        const key = `${name}${SUFFIX[format]}`;
        if (format === 'json') {
          writes.push([
            key,
            stableJson(await service.encode(seg, { kind: 'json' }), input),
            'application/json',
          ]);
        } else if (format === 'coco') {
          const coco = await service.encode(seg, {
            kind: 'coco',
            imageId,
            fileName: describeInput(input),
            categoryId: categoryMapping(ticket.loaded.labels),
          });
          writes.push([key, `${JSON.stringify(coco)}\n`, 'application/json']);
        } else {
          writes.push([
            key,
            await service.encode(seg, { kind: format === 'png' ? 'mask' : 'overlay' }),
            'image/png',
          ]);
        }
      }
    } finally {
      ticket.release();
    }
    const { store, prefix } = await throughOutage(() => stores.at(parseOutputLocation(spec.output)));
    for (const [key, content, contentType] of writes) {
      const data = typeof content === 'string' ? new TextEncoder().encode(content) : content;
      await throughOutage(() => store.put(`${prefix}${key}`, data, { contentType }));
    }
    return { state: 'done', outputs: writes.map(([key]) => `${spec.output}${key}`), servedBy };
  }

  async #settle(job: string, index: number, outcome: InputOutcome): Promise<void> {
    const store = await throughOutage(() => this.#store());
    const { complete } = await throughOutage(() => store.finish(job, index, outcome));
    if (complete) await this.#queueFinalize(job);
  }

  async #endIfComplete(store: JobStore, job: string): Promise<void> {
    const record = await store.get(job);
    const { progress, state } = record?.view ?? {};
    if (!record || !progress || (state !== 'running' && state !== 'cancelling')) return;
    if (progress.done + progress.failed + progress.cancelled >= progress.total)
      await this.#queueFinalize(job);
  }

  #queueFinalize(job: string): Promise<void> {
    return this.#runtime.queues.work.add([{ id: finalizeMessageId(job), data: { kind: 'finalize', job } }]);
  }

  /**
   * Writes the manifest (and the COCO results file) of a job whose inputs are all settled, then ends it. The
   * files come first: a job seen as ended always has them. Run twice, it writes the same files and ends once.
   */
  async #finalize(job: string): Promise<void> {
    const store = await this.#store();
    const record = await store.get(job);
    if (!record || (record.view.state !== 'running' && record.view.state !== 'cancelling')) return;
    const inputs = await store.allInputs(job);
    if (inputs.some((input) => input.state === 'pending')) return;
    const { spec, view } = record;
    const { store: blobs, prefix } = await this.#runtime.stores.at(parseOutputLocation(spec.output));
    let cocoKey: string | undefined;
    if (spec.formats.includes('coco')) {
      const results: CocoResult[] = [];
      for (const input of inputs) {
        if (input.state !== 'done') continue;
        const part = await blobs.get(`${prefix}${input.name}${SUFFIX.coco}`);
        results.push(...(JSON.parse(new TextDecoder().decode(part)) as CocoResult[]));
      }
      await blobs.put(
        `${prefix}${COCO_RESULTS_NAME}`,
        new TextEncoder().encode(`${JSON.stringify(results)}\n`),
        {
          contentType: 'application/json',
        },
      );
      cocoKey = `${spec.output}${spec.cocoResultsName}`;
    }
    const state: JobState =
      view.state === 'cancelling' ? 'cancelled' : view.progress.done === 0 ? 'failed' : 'completed';
    const manifest: JobManifest = {
      job,
      state,
      target: view.target,
      output: spec.output,
      formats: spec.formats,
      progress: view.progress,
      created_at: view.created_at,
      finished_at: new Date().toISOString(),
      ...(cocoKey ? { coco_results: cocoKey } : {}),
      inputs,
    };
    await blobs.put(
      `${prefix}${MANIFEST_NAME}`,
      new TextEncoder().encode(`${JSON.stringify(manifest, null, 1)}\n`),
      {
        contentType: 'application/json',
      },
    );
    const ended = await store.end(job);
    if (!ended) return;
    this.#records.delete(job);
    this.#runtime.metrics?.jobEnded(ended.view);
    this.#runtime.log(
      'info',
      { job, state: ended.view.state, progress: ended.view.progress },
      'job finished',
    );
    if (ended.view.webhook) {
      await this.#runtime.queues.webhooks.add([{ id: webhookMessageId(job), data: { job } }]);
    }
  }

  /** Delivers a finished job's webhook; a failed delivery throws, and the queue retries it with backoff. */
  async deliver(message: DeliveredMessage<WebhookMessage>): Promise<void> {
    const store = await this.#store();
    const record = await store.get(message.data.job);
    const webhook = record?.view.webhook;
    if (!record || !webhook || webhook.state === 'delivered') return;
    try {
      await deliverWebhook(this.#runtime.fetcher, record);
    } catch (error) {
      await store.setWebhook(record.view.id, {
        ...webhook,
        attempts: message.attempt,
        last_error: errorOf(error).message,
      });
      throw error;
    }
    await store.setWebhook(record.view.id, {
      url: webhook.url,
      state: 'delivered',
      attempts: message.attempt,
    });
    this.#runtime.metrics?.webhookDelivered(true);
  }

  async onWebhookFailure(notice: FailureNotice<WebhookMessage>): Promise<void> {
    if (notice.willRetry) return;
    this.#runtime.metrics?.webhookDelivered(false);
    const store = await this.#store();
    const record = await store.get(notice.message.data.job);
    if (!record?.view.webhook) return;
    this.#runtime.log(
      'error',
      { job: record.view.id, error: errorOf(notice.error) },
      'job webhook not delivered',
    );
    await store.setWebhook(record.view.id, {
      ...record.view.webhook,
      state: 'failed',
      attempts: notice.message.attempt,
      last_error: errorOf(notice.error).message,
    });
  }
}
