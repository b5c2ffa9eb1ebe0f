/**
 * Sample capture, the sink of active learning: every prediction a model version's sampler keeps becomes a
 * sample (image and prediction in the blob store, a row in `samples`), after the answer has gone out.
 *
 * The request path never waits on it and never sees it fail:
 * - The `prediction.completed` subscriber only asks the version's sampler and, for a kept prediction, puts it
 *   on a bounded in-memory queue (beyond the bound it is dropped and counted, never held in memory unbounded).
 *   A model without `sampling:` costs two map lookups (version-samplers.ts).
 * - Two writers drain the queue: build the label document (label-encoder.ts: in a worker thread for large
 *   results), then store (store-sample.ts).
 * - A store that cannot be reached (STORAGE_UNAVAILABLE, or its open failing) sends the sample to the spool on
 *   the local disk (spool.ts), and a replay loop stores the spool's items oldest first once it is back. After
 *   a failure the store is left alone for a backoff (store-health.ts: 1 s doubling to 30 s, jittered), during
 *   which writers go straight to the spool; the first attempt after it, by the replay loop or a writer, is the
 *   probe. The replay runs at half speed at most, leaving requests the main thread's other half.
 * - A refusal (STORAGE_FAILED: no such bucket, bad credentials, permissions, a full disk; DATABASE_QUERY_FAILED)
 *   drops the sample, counted and logged (at most one line per reason per 10 s). Spooling it instead would
 *   help nobody: a refusal of the sample itself (a constraint, a key) would be refused again at every replay,
 *   holding the oldest-first replay on it forever, and a refused configuration needs an operator anyway, while
 *   every sample meanwhile would fill the local disk. The counter and the log line are how the operator hears.
 * Replays store nothing twice (store-sample.ts), so a crash mid-replay or a spool shared by two processes
 * only repeats idempotent writes. The spool outlives the process: what is left is replayed at the next start.
 */
import type { Registry } from 'prom-client';
import { LogThrottle } from '../../monitoring/log-throttle.js';
import { Drain } from '../../runtime/drain.js';
import type { PredictionCompleted } from '../../serving/events.js';
import type { InferenceService } from '../../serving/service.js';
import type { Decision, SamplerOptions } from '../sampler/index.js';
import { CaptureMetrics, type CaptureTotals, type FailureReason } from './capture-metrics.js';
import { LabelEncoder } from './label-encoder.js';
import { isStorable, metaOf, type SampleRecord, type Storable } from './sample-record.js';
import { Spool } from './spool.js';
import { StoreHealth } from './store-health.js';
import { type SampleStores, type StoreOutcome, storeSample } from './store-sample.js';
import { VersionSamplers } from './version-samplers.js';

const MiB = 1024 * 1024;
/**
 * Kept predictions waiting for a writer, by count and by bytes (image plus result pixels). A healthy store
 * writes a sample in milliseconds and an unreachable one sends it to the local disk, so the queue only fills
 * when the store is slow and the sampler keeps faster than it writes; dropping then bounds the memory.
 */
const QUEUE_ITEMS = 64;
const QUEUE_BYTES = 128 * MiB;
/**
 * Samples written at once: a second writer keeps one slow write (a large image, the SDK retrying) from holding
 * up the rest; more would only compete with inference for the cores.
 */
const WRITERS = 2;
const DEFAULT_RETRY = { minMs: 1_000, maxMs: 30_000 };
/** Dropped samples are logged at most once per reason in this interval, with the number held back. */
const DROP_LOG_INTERVAL_MS = 10_000;

const DROP_MESSAGES: Record<Exclude<FailureReason, 'unavailable'>, string> = {
  refused: 'sample dropped: the store refused it',
  queue_full: 'sample dropped: the capture queue is full (the store writes slower than the sampler keeps)',
  spool_full: 'sample dropped: the store is down and the spool is full (--max-sample-spool-bytes)',
  spool_error: 'sample dropped: the spool could not be written or read',
  encode_error: 'sample dropped: its prediction could not be encoded as a label document',
};

export type CaptureLog = (
  level: 'info' | 'warn' | 'error',
  fields: Record<string, unknown>,
  message: string,
) => void;

export interface CaptureOptions {
  stores: SampleStores;
  /** The spool's folder, `<data dir>/spool`. */
  spoolDir: string;
  /** Most bytes the spool holds (`--max-sample-spool-bytes`); 0 keeps nothing while the store is down. */
  spoolMaxBytes: number;
  /** The server's metrics registry; none when monitoring is off (the capture works the same). */
  registry?: Registry;
  log: CaptureLog;
  /** Waits between attempts on a store that failed: from `minMs`, doubling to `maxMs`, each jittered. */
  retry?: { minMs: number; maxMs: number };
  /** The samplers' clock and randomness (tests). */
  sampler?: SamplerOptions;
  /** Results above this many pixels get their label document built in a worker thread (tests lower it). */
  labelInlineMaxPixels?: number;
}

export interface CaptureStats extends CaptureTotals {
  queued: number;
  writing: number;
  spool: { items: number; bytes: number };
}

interface Kept {
  event: Storable;
  decision: Decision;
  labels: readonly string[];
  bytes: number;
}

function messageOf(error: unknown): string | undefined {
  if (error === undefined) return undefined;
  return error instanceof Error ? error.message : String(error);
}

function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

export class SampleCapture {
  readonly #stores: SampleStores;
  readonly #spool: Spool;
  readonly #metrics: CaptureMetrics;
  readonly #log: CaptureLog;
  readonly #throttle = new LogThrottle(DROP_LOG_INTERVAL_MS);
  readonly #labels: LabelEncoder;
  readonly #samplers: VersionSamplers;
  readonly #health: StoreHealth;
  readonly #queue: Kept[] = [];
  #queuedBytes = 0;
  #writing = 0;
  readonly #drain = new Drain(() => this.#queue.length === 0 && this.#writing === 0);
  #replaying: Promise<void> | undefined;
  #wake: (() => void) | undefined;
  #closed = false;
  #closing: Promise<void> | undefined;
  readonly #unsubscribe: Array<() => void>;

  /**
   * Subscribes to the service's events, with a sampler for every loaded version whose config has `sampling:`,
   * and replays what an earlier run left in the spool. When there is anything to store, it opens the stores
   * before it returns, that is before the server listens: opening the embedded database holds the event loop
   * (measured here: up to 1.2 s at a stretch on the first open of a data directory, 0.14 s on a reopen),
   * which must not land on requests in flight. A store that fails to open is only logged: samples wait in the
   * spool until it opens.
   */
  static async start(service: InferenceService, options: CaptureOptions): Promise<SampleCapture> {
    const { log, stores } = options;
    const spool = await Spool.open(options.spoolDir, options.spoolMaxBytes);
    const capture = new SampleCapture(service, spool, options);
    if (spool.openError !== undefined) {
      log('error', { spool: spool.dir, error: messageOf(spool.openError) }, 'sample spool unreadable');
    }
    if (capture.#samplers.loadAll() || spool.items > 0) {
      for (const opened of await Promise.allSettled([stores.blobs(), stores.database()])) {
        if (opened.status === 'rejected') {
          log('warn', { error: messageOf(opened.reason) }, 'sample store not reachable at start');
        }
      }
    }
    if (spool.items > 0) {
      log('info', { items: spool.items, bytes: spool.bytes }, 'replaying the sample spool');
      capture.#replay();
    }
    return capture;
  }

  private constructor(service: InferenceService, spool: Spool, options: CaptureOptions) {
    this.#spool = spool;
    this.#stores = options.stores;
    this.#log = options.log;
    this.#health = new StoreHealth(options.retry ?? DEFAULT_RETRY, options.log);
    this.#samplers = new VersionSamplers(service, options.sampler);
    this.#labels = new LabelEncoder(options.labelInlineMaxPixels);
    this.#metrics = new CaptureMetrics(options.registry, {
      samplers: () => this.#samplers.all(),
      spool: () => ({ items: spool.items, bytes: spool.bytes }),
    });
    this.#unsubscribe = [
      service.events.on('prediction.completed', 'sample-capture', (event) => this.#onPrediction(event)),
      service.events.on('drift.detected', 'sample-capture', (event) =>
        this.#samplers.of(event.model, event.version)?.sampler.onDrift(event),
      ),
      // A version loaded after start (or reloaded) gets its sampler from its own config at its next prediction.
      service.events.on('model.loaded', 'sample-capture', (event) =>
        this.#samplers.forget(event.model, event.version),
      ),
      service.events.on('model.unloaded', 'sample-capture', (event) =>
        this.#samplers.forget(event.model, event.version),
      ),
    ];
  }

  /** Counts since start and what is waiting now. */
  async stats(): Promise<CaptureStats> {
    return {
      ...(await this.#metrics.totals()),
      queued: this.#queue.length,
      writing: this.#writing,
      spool: { items: this.#spool.items, bytes: this.#spool.bytes },
    };
  }

  /** Resolves once every kept prediction has been stored, spooled or dropped (the spool may still hold some). */
  idle(): Promise<void> {
    return this.#drain.wait();
  }

  /**
   * Takes no more predictions, writes those queued (to the store, or the spool while it is down), stops the
   * replay after its current attempt, and ends the label worker. Storage may close afterwards.
   */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      // Events published just before are delivered on the next turn of the event loop: let them in first.
      await nextTurn();
      for (const unsubscribe of this.#unsubscribe) unsubscribe();
      await this.#drain.wait();
      this.#closed = true;
      this.#wake?.();
      while (this.#replaying) await this.#replaying;
      await this.#labels.close();
      if (this.#spool.items > 0) {
        this.#log(
          'info',
          { items: this.#spool.items, bytes: this.#spool.bytes },
          'samples left in the spool are replayed at the next start',
        );
      }
    })();
    return this.#closing;
  }

  /** The subscriber: the decision, and the enqueue of a kept prediction. Nothing else runs here. */
  #onPrediction(event: PredictionCompleted): void {
    const version = this.#samplers.of(event.model, event.version);
    if (!version) return;
    const decision = version.sampler.decide(event, event.imageHash);
    // Only predictions on images carry what a sample is made of (raw tensors have no uncertainty: never kept).
    if (!decision || !isStorable(event)) return;
    const bytes = event.imageBytes.byteLength + event.result.width * event.result.height;
    if (this.#queue.length >= QUEUE_ITEMS || this.#queuedBytes + bytes > QUEUE_BYTES) {
      this.#drop('queue_full', undefined, event);
      return;
    }
    this.#queue.push({ event, decision, labels: version.labels, bytes });
    this.#queuedBytes += bytes;
    this.#pump();
  }

  #pump(): void {
    while (this.#writing < WRITERS && this.#queue.length > 0) {
      const kept = this.#queue.shift()!;
      this.#queuedBytes -= kept.bytes;
      this.#writing++;
      void this.#write(kept)
        .catch((error: unknown) => this.#drop('encode_error', error, kept.event))
        .finally(() => {
          this.#writing--;
          this.#pump();
          this.#drain.check();
        });
    }
  }

  async #write(kept: Kept): Promise<void> {
    // Off the subscriber's turn: the other subscribers of this event, and the requests waiting, go first.
    await nextTurn();
    const meta = metaOf(kept.event, kept.decision);
    let label: Uint8Array;
    try {
      label = await this.#labels.encode(kept.event.result, kept.labels);
    } catch (error) {
      this.#drop('encode_error', error, meta);
      return;
    }
    const record: SampleRecord = { meta, image: kept.event.imageBytes, label };
    if (this.#health.waitMs() === 0 && this.#settle(await storeSample(this.#stores, record), record)) return;
    await this.#toSpool(record);
  }

  async #toSpool(record: SampleRecord): Promise<void> {
    try {
      if ((await this.#spool.add(record)) === 'full') {
        this.#drop('spool_full', undefined, record.meta);
        return;
      }
    } catch (error) {
      this.#drop('spool_error', error, record.meta);
      return;
    }
    this.#metrics.failure('unavailable');
    this.#replay();
  }

  /** Accounts for a store attempt: true when the record is done with (stored, or dropped as refused). */
  #settle(outcome: StoreOutcome, record: SampleRecord): boolean {
    if (outcome.kind === 'unavailable') {
      this.#health.failed({ error: messageOf(outcome.error), spool_items: this.#spool.items });
      return false;
    }
    this.#health.answered({ spool_items: this.#spool.items });
    if (outcome.kind === 'refused') this.#drop('refused', outcome.error, record.meta);
    else if (outcome.created) this.#metrics.stored(record.meta);
    return true;
  }

  #replay(): void {
    if (this.#replaying || this.#closed) return;
    this.#replaying = this.#replayLoop().then(
      () => {
        this.#replaying = undefined;
        // An item spooled while the loop was finding the spool empty would otherwise wait for the next one.
        if (this.#spool.items > 0) this.#replay();
      },
      (error: unknown) => {
        this.#replaying = undefined;
        this.#log('error', { error: messageOf(error) }, 'sample spool replay stopped');
      },
    );
  }

  /**
   * Stores the spool's items, oldest first, waiting out the backoff whenever the store fails. After each item
   * it pauses as long as the item took: storing costs the main thread several ms per sample (the S3 SDK, the
   * embedded database), and a spool replayed back to back after an outage held requests up by tens of ms
   * for as long as it ran; at half speed it leaves them the other half.
   */
  async #replayLoop(): Promise<void> {
    let pause = 0;
    for (let name = this.#spool.oldest(); name !== undefined; name = this.#spool.oldest()) {
      // Closing leaves the rest for the next start rather than holding the shutdown on a long spool.
      if (this.#closed) return;
      const wait = Math.max(this.#health.waitMs(), pause);
      pause = 0;
      if (wait > 0) {
        await this.#sleep(wait);
        continue;
      }
      const started = performance.now();
      let record: SampleRecord | undefined;
      try {
        record = await this.#spool.read(name);
      } catch (error) {
        // Damaged or of another format: it can never be stored.
        this.#drop('spool_error', error, { model: undefined, version: undefined });
      }
      if (record && !this.#settle(await storeSample(this.#stores, record), record)) continue;
      pause = performance.now() - started;
      await this.#spool
        .remove(name)
        .catch((error: unknown) =>
          this.#log(
            'warn',
            { item: name, error: messageOf(error) },
            'a replayed sample could not be removed from the spool: it is replayed again at the next start',
          ),
        );
    }
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => this.#wake?.(), ms);
      // Never what keeps a process alive; close() wakes it.
      timer.unref();
      this.#wake = () => {
        clearTimeout(timer);
        this.#wake = undefined;
        resolve();
      };
    });
  }

  #drop(
    reason: Exclude<FailureReason, 'unavailable'>,
    error: unknown,
    sample: { model: string | undefined; version: number | undefined },
  ): void {
    this.#metrics.failure(reason);
    const admitted = this.#throttle.admit(reason);
    if (!admitted) return;
    this.#log(
      reason === 'queue_full' || reason === 'spool_full' ? 'warn' : 'error',
      {
        reason,
        model: sample.model,
        version: sample.version,
        error: messageOf(error),
        ...(admitted.suppressed > 0 ? { suppressed_since_last: admitted.suppressed } : {}),
      },
      DROP_MESSAGES[reason],
    );
  }
}
