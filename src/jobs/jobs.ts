/**
 * The jobs feature as the API and the workers use it: submit (every reason a job could fail that is known at
 * submit time is refused then), read, list, cancel; the consumers that run the work; and the reconcile pass
 * that puts back on the queue what a lost queue (an in-process queue across a restart, a Redis that keeps
 * nothing on disk) or a crash between two steps left undone. Re-adding is always safe: the queue ignores ids
 * it holds, and the processor skips what the database says is settled.
 */
import { randomUUID } from 'node:crypto';
import { SegserveError } from '../errors.js';
import { cocoImageIds } from '../serving/category-ids.js';
import { checkMaskAnswer, type MaskAnswer } from '../serving/encode.js';
import { checkKey } from '../storage/blob-keys.js';
import type { Consumer } from '../storage/queue.js';
import {
  COCO_RESULTS_NAME,
  type JobRecord,
  JobStore,
  MANIFEST_NAME,
  SHARED_OUTPUT_FOLDER,
} from './job-store.js';
import {
  type BlobLocation,
  checkInput,
  describeLocation,
  type JobStores,
  parseOutputLocation,
  parseS3Url,
} from './locations.js';
import {
  finalizeMessageId,
  inputMessageId,
  JobProcessor,
  type JobRuntime,
  webhookMessageId,
} from './processor.js';
import {
  JOB_FORMATS,
  type JobFormat,
  type JobInput,
  type JobInputState,
  type JobInputView,
  type JobSource,
  type JobState,
  type JobTarget,
  type JobView,
} from './wire-types.js';

export interface JobRequest {
  target: JobTarget;
  /** Listed inputs; with `prefix`, both are taken. */
  inputs?: JobInput[];
  /** Every image object under this prefix of the server's store, or `s3://bucket/prefix/`. */
  prefix?: string;
  output: string;
  formats?: JobFormat[];
  webhook?: { url: string; secret?: string };
  /** Submitting twice with one key creates one job: the second answer is the first job. */
  idempotencyKey?: string;
  /** Output names are the input keys relative to this prefix (an upload folder, a storage event's prefix). */
  relativeTo?: BlobLocation;
  /**
   * The output location is shared with other jobs (storage events): the job's manifest and COCO results file go
   * under `_jobs/<id>/` instead of overwriting each other's.
   */
  sharedOutput?: boolean;
  source: JobSource;
  createdBy: string;
}

export interface JobSettings {
  /** Most inputs in one job (`--max-job-inputs`). */
  maxInputs: number;
  /** Signs webhooks whose job names no secret of its own (`SEGSERVE_WEBHOOK_SECRET`). */
  webhookSecret?: string;
}

/** Keys under a prefix that are taken as images; the rest (a manifest, notes) are not inputs. */
const IMAGE_EXTENSIONS = /\.(jpe?g|png|webp|gif|tiff?|avif)$/i;
/** The formats made of masks, which a classifier cannot write. */
const MASK_ANSWERS: Record<JobFormat, MaskAnswer | undefined> = {
  json: undefined,
  coco: 'COCO results',
  png: 'mask PNG',
  overlay: 'overlay',
};
/** Output names that would overwrite the job's own files. */
const RESERVED_NAMES = new Set(['manifest', 'coco-results']);
const RESERVED_FOLDER = `${SHARED_OUTPUT_FOLDER.toLowerCase()}/`;
/** The object written and deleted at submit to prove the output location takes writes. */
const WRITE_CHECK = '.segserve-write-check';

function invalid(reason: string): SegserveError {
  return new SegserveError('JOB_INVALID', { reason });
}

function stemOf(path: string): string {
  return path.replace(/\.[^./]*$/, '');
}

/** The base name of an input's outputs: its key (relative to the listed prefix), or its URL's last segment. */
function naturalName(input: JobInput, prefix: BlobLocation | undefined, index: number): string {
  if ('key' in input) {
    const relative =
      prefix && input.key.startsWith(prefix.prefix) ? input.key.slice(prefix.prefix.length) : input.key;
    return stemOf(relative);
  }
  const s3 = parseS3Url(input.url);
  if (s3) {
    const relative =
      prefix?.bucket !== undefined && s3.key.startsWith(prefix.prefix)
        ? s3.key.slice(prefix.prefix.length)
        : s3.key;
    return stemOf(relative);
  }
  const segment = new URL(input.url).pathname.split('/').filter(Boolean).at(-1);
  let decoded = segment;
  try {
    decoded = segment && decodeURIComponent(segment);
  } catch {
    // A malformed escape: the raw segment is still a name.
  }
  return decoded ? stemOf(decoded) : `input-${index}`;
}

/** One distinct, valid name per input, in input order, so the same inputs always get the same names. */
export function outputNames(inputs: readonly JobInput[], prefix?: BlobLocation): string[] {
  const taken = new Set<string>();
  return inputs.map((input, index) => {
    const candidates = [
      naturalName(input, prefix, index),
      `${naturalName(input, prefix, index)}-${index}`,
      `input-${index}`,
    ];
    for (const name of candidates) {
      const folded = name.toLowerCase();
      if (taken.has(folded) || RESERVED_NAMES.has(folded) || folded.startsWith(RESERVED_FOLDER)) continue;
      try {
        checkKey(`${name}.overlay.png`);
      } catch {
        continue;
      }
      taken.add(folded);
      return name;
    }
    // `input-<index>` is unique among the fallbacks; it can only be taken by a natural name of that very form.
    const name = `input-${index}-${taken.size}`;
    taken.add(name);
    return name;
  });
}

export class Jobs {
  readonly #runtime: JobRuntime;
  readonly #settings: JobSettings;
  readonly processor: JobProcessor;

  constructor(runtime: JobRuntime, settings: JobSettings) {
    this.#runtime = runtime;
    this.#settings = settings;
    this.processor = new JobProcessor(runtime);
  }

  async #store(): Promise<JobStore> {
    return new JobStore(await this.#runtime.database());
  }

  /** Where jobs read and write (storage events map objects to inputs through it). */
  get stores(): JobStores {
    return this.#runtime.stores;
  }

  /** Validates, creates the job and queues its inputs; `created` is false for a repeated idempotency key. */
  async submit(request: JobRequest): Promise<{ job: JobView; created: boolean }> {
    const { service, stores } = this.#runtime;
    // The target must serve now (a model, a version or alias it has, an endpoint whose variants resolve).
    const variants = service.resolveVariants(
      'endpoint' in request.target ? { model: request.target.endpoint } : request.target,
    );
    // By default the JSON answers, and for instance models also the job's COCO results file (what evaluation
    // and most tools read).
    const instances = variants.every(({ loaded }) => loaded.config.task === 'instance');
    const formats = [...new Set<string>(request.formats ?? (instances ? ['json', 'coco'] : ['json']))];
    if (formats.length === 0) throw invalid('formats is empty; choose from json, coco, png, overlay');
    for (const format of formats) {
      if (!(JOB_FORMATS as readonly string[]).includes(format)) {
        throw invalid(`unknown format "${format}"; choose from ${JOB_FORMATS.join(', ')}`);
      }
    }
    const checked = formats as JobFormat[];
    for (const { loaded } of variants) {
      for (const format of checked) {
        const answer = MASK_ANSWERS[format];
        if (answer) checkMaskAnswer(loaded.name, loaded.config.task, answer);
      }
    }
    const output = parseOutputLocation(request.output);
    stores.checkBucketAllowed(output);
    const webhook = request.webhook && this.#checkWebhook(request.webhook);
    const listed = (request.inputs ?? []).map(checkInput);
    const prefix = request.prefix === undefined ? undefined : this.#inputPrefix(request.prefix);
    const inputs = [...listed, ...(prefix ? await this.#expand(prefix, listed.length, output) : [])];
    if (inputs.length === 0) {
      throw invalid(
        prefix
          ? `no image objects under ${describeLocation(prefix)} (keys ending in .jpg, .png, .webp, .gif, .tif, .avif)`
          : 'no inputs; give "inputs" (keys or URLs), a "prefix", or upload files',
      );
    }
    if (inputs.length > this.#settings.maxInputs) {
      throw new SegserveError('JOB_TOO_LARGE', {
        inputs: prefix ? `more than ${this.#settings.maxInputs}` : inputs.length,
        limit: this.#settings.maxInputs,
      });
    }
    for (const input of listed) stores.checkInputAllowed(input);
    await this.#checkWritable(output);
    const names = outputNames(inputs, prefix ?? request.relativeTo);
    const imageIds = cocoImageIds(names);
    const store = await this.#store();
    const id = randomUUID();
    const own = request.sharedOutput ? `${SHARED_OUTPUT_FOLDER}/${id}/` : '';
    const { record, created } = await store.create({
      id,
      idempotencyKey: request.idempotencyKey,
      source: request.source,
      target: request.target,
      spec: {
        output: describeLocation(output),
        formats: checked,
        manifestName: `${own}${MANIFEST_NAME}`,
        cocoResultsName: `${own}${COCO_RESULTS_NAME}`,
        ...(webhook ? { webhookUrl: webhook.url } : {}),
      },
      webhookSecret: webhook?.secret,
      createdBy: request.createdBy,
      inputs: inputs.map((input, index) => ({ input, name: names[index], imageId: imageIds[index] })),
    });
    if (created) {
      try {
        await this.#queueInputs(
          record.view.id,
          inputs.map((_, index) => index),
        );
      } catch (error) {
        // The job is recorded; the reconcile pass queues the inputs of a job without progress once the queue
        // is back, so nothing is lost by answering now.
        this.#runtime.log(
          'warn',
          { job: record.view.id, error: error instanceof Error ? error.message : String(error) },
          'job created but its inputs could not be queued yet; the reconcile pass queues them',
        );
      }
    }
    return { job: record.view, created };
  }

  #inputPrefix(text: string): BlobLocation {
    const location = parseOutputLocation(text);
    this.#runtime.stores.checkBucketAllowed(location);
    return location;
  }

  /** The image keys under the prefix, in key order, stopping one past the limit (enough to refuse). */
  async #expand(prefix: BlobLocation, already: number, output: BlobLocation): Promise<JobInput[]> {
    const { store, prefix: start } = await this.#runtime.stores.at(prefix);
    const keys: string[] = [];
    const sameStore = prefix.bucket === output.bucket;
    for await (const info of store.list(start)) {
      if (!IMAGE_EXTENSIONS.test(info.key)) continue;
      // A prefix holding the output location would take the job's own outputs (and an earlier run's) as inputs.
      if (sameStore && output.prefix !== '' && info.key.startsWith(output.prefix)) continue;
      keys.push(info.key);
      if (already + keys.length > this.#settings.maxInputs) break;
    }
    // Stores list in their own order (s3rver differs from S3): sort, so names and ids do not depend on it.
    keys.sort();
    return keys.map((key) =>
      prefix.bucket === undefined ? { key } : { url: `s3://${prefix.bucket}/${key}` },
    );
  }

  #checkWebhook(webhook: { url: string; secret?: string }): { url: string; secret: string } {
    let url: URL;
    try {
      url = new URL(webhook.url);
    } catch {
      throw invalid(`webhook URL ${JSON.stringify(webhook.url)} is not an absolute URL`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:')
      throw invalid('the webhook URL must be http(s)');
    const secret = webhook.secret ?? this.#settings.webhookSecret;
    if (!secret) {
      throw invalid(
        'webhooks are signed: give webhook.secret, or start the server with SEGSERVE_WEBHOOK_SECRET',
      );
    }
    return { url: url.href, secret };
  }

  /**
   * Writes and deletes one object at the output location: a bucket that does not exist or credentials that may
   * not write are refused now (JOB_OUTPUT_UNREACHABLE), not after every input ran. A store that is down is
   * STORAGE_UNAVAILABLE (503): worth trying again shortly.
   */
  async #checkWritable(output: BlobLocation): Promise<void> {
    try {
      const { store, prefix } = await this.#runtime.stores.at(output);
      await store.put(`${prefix}${WRITE_CHECK}`, new Uint8Array(0));
      await store.delete(`${prefix}${WRITE_CHECK}`);
    } catch (error) {
      if (error instanceof SegserveError && error.code === 'STORAGE_UNAVAILABLE') throw error;
      throw new SegserveError(
        'JOB_OUTPUT_UNREACHABLE',
        { output: describeLocation(output), reason: error instanceof Error ? error.message : String(error) },
        { cause: error },
      );
    }
  }

  #queueInputs(job: string, indexes: readonly number[]): Promise<void> {
    return this.#runtime.queues.work.add(
      indexes.map((index) => ({ id: inputMessageId(job, index), data: { kind: 'input', job, index } })),
    );
  }

  async get(id: string): Promise<JobRecord> {
    const record = await (await this.#store()).get(id);
    if (!record) throw new SegserveError('JOB_NOT_FOUND', { job: id });
    return record;
  }

  async list(options: { state?: JobState; limit: number }): Promise<JobView[]> {
    return (await this.#store()).list(options);
  }

  async inputs(
    id: string,
    options: { state?: JobInputState; offset: number; limit: number },
  ): Promise<JobInputView[]> {
    await this.get(id);
    return (await this.#store()).inputs(id, options);
  }

  /** Cancels a running job: its pending inputs are not run; those running finish. The job then ends as cancelled. */
  async cancel(id: string): Promise<JobView> {
    const record = await (await this.#store()).cancel(id);
    if (!record) throw new SegserveError('JOB_NOT_FOUND', { job: id });
    const { state } = record.view;
    if (state !== 'cancelling') throw new SegserveError('JOB_FINISHED', { job: id, state });
    await this.#runtime.queues.work.add([{ id: finalizeMessageId(id), data: { kind: 'finalize', job: id } }]);
    return record.view;
  }

  /**
   * Puts back on the queue the work of open jobs (all of them, or those without progress for `staleMs`) and
   * the webhooks of ended jobs not yet delivered.
   */
  async reconcile(staleMs?: number): Promise<{ inputs: number; finalized: number; webhooks: number }> {
    const store = await this.#store();
    const { work, webhooks } = this.#runtime.queues;
    let inputs = 0;
    let finalized = 0;
    for (const job of await store.open(staleMs)) {
      if (job.complete) {
        await work.add([{ id: finalizeMessageId(job.id), data: { kind: 'finalize', job: job.id } }]);
        finalized++;
        continue;
      }
      const pending = await store.pendingIndexes(job.id);
      await this.#queueInputs(job.id, pending);
      inputs += pending.length;
    }
    const undelivered = await store.undeliveredWebhooks();
    if (undelivered.length > 0) {
      await webhooks.add(undelivered.map((job) => ({ id: webhookMessageId(job), data: { job } })));
    }
    return { inputs, finalized, webhooks: undelivered.length };
  }

  /** Consumes the job queues in this process: `concurrency` inputs at once, and webhooks beside them. */
  consume(concurrency: number): Consumer[] {
    const { work, webhooks } = this.#runtime.queues;
    const processor = this.processor;
    return [
      work.consume((message) => processor.handle(message), {
        concurrency,
        onFailure: (notice) => processor.onFailure(notice),
      }),
      webhooks.consume((message) => processor.deliver(message), {
        concurrency: 2,
        onFailure: (notice) => processor.onWebhookFailure(notice),
      }),
    ];
  }
}
