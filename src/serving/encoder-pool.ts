/**
 * Worker threads that encode answers (JSON masks, mask PNGs, overlays, COCO results) off the main thread: a
 * 6000x6000 overlay is 1-2 s of per-pixel loops, during which no timer, health check or other request would run.
 *
 * Workers start lazily, on the first job, so a server that only answers small images never starts one. The
 * segmentation's arrays are lent to the worker (transferred, zero-copy) and come back with the answer, so the
 * caller can encode the same segmentation again afterwards, one job at a time. A worker that crashes fails only
 * the job it held (ENCODE_FAILED); the next job starts a fresh one.
 */
import { Worker } from 'node:worker_threads';
import { reviveError, SegserveError } from '../errors.js';
import { Drain } from '../runtime/drain.js';
import { threadEntry, threadOptions } from '../runtime/thread-entry.js';
import { TransferList } from '../runtime/transfer.js';
import {
  type Encoded,
  type FromEncoder,
  lendSegmentation,
  type PortableEncodeJob,
  restoreLent,
  type ToEncoder,
} from './encode-job.js';
import type { Segmentation } from './pipeline.js';

/** A worker that does not exit within this time after being asked to stop is terminated. */
const STOP_GRACE_MS = 5_000;

const WORKER = threadEntry(import.meta.url, 'encode-worker');

export interface EncoderPoolOptions {
  /** Most worker threads at once; default 1 (machines here have 2 cores, and inference workers want them). */
  size?: number;
}

export interface EncoderPoolStats {
  workers: number;
  busy: number;
  queued: number;
  completed: number;
  failed: number;
}

interface Job {
  id: number;
  seg: Segmentation;
  job: PortableEncodeJob;
  resolve: (encoded: Encoded) => void;
  reject: (error: unknown) => void;
}

interface Slot {
  worker: Worker;
  job?: Job;
  /** Set when the pool itself ends the worker, so its exit is not a crash. */
  stopping: boolean;
  /** The uncaught error reported just before the thread exits. */
  crash?: string;
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

export class EncoderPool {
  readonly #size: number;
  readonly #slots = new Set<Slot>();
  readonly #queue: Job[] = [];
  #nextId = 1;
  #completed = 0;
  #failed = 0;
  #closing?: Promise<void>;
  readonly #drain = new Drain(() => this.#queue.length === 0 && [...this.#slots].every((slot) => !slot.job));

  constructor(options: EncoderPoolOptions = {}) {
    const size = options.size ?? 1;
    if (!Number.isInteger(size) || size < 1) {
      throw new SegserveError('INVALID_ARGUMENT', {
        reason: `encoder threads must be a positive integer, not ${size}`,
      });
    }
    this.#size = size;
  }

  /**
   * Encodes in a worker. The segmentation's arrays are detached until the promise settles, then put back
   * (except after a crash, which loses them with the job).
   */
  encode(seg: Segmentation, job: PortableEncodeJob): Promise<Encoded> {
    if (this.#closing) return Promise.reject(new SegserveError('RUNTIME_CLOSED'));
    return new Promise<Encoded>((resolve, reject) => {
      this.#queue.push({ id: this.#nextId++, seg, job, resolve, reject });
      this.#pump();
    });
  }

  stats(): EncoderPoolStats {
    return {
      workers: this.#slots.size,
      busy: [...this.#slots].filter((slot) => slot.job).length,
      queued: this.#queue.length,
      completed: this.#completed,
      failed: this.#failed,
    };
  }

  /** Refuses new jobs (RUNTIME_CLOSED), lets running and queued ones finish, then ends the workers. */
  close(): Promise<void> {
    this.#closing ??= this.#shutdown();
    return this.#closing;
  }

  async #shutdown(): Promise<void> {
    await this.#drain.wait();
    await Promise.all([...this.#slots].map((slot) => this.#stop(slot)));
  }

  #spawn(): Slot {
    const slot: Slot = {
      worker: new Worker(WORKER.url, threadOptions(WORKER)),
      stopping: false,
    };
    this.#slots.add(slot);
    slot.worker.on('message', (m: FromEncoder) => this.#onMessage(slot, m));
    slot.worker.on('error', (error) => {
      slot.crash = message(error);
    });
    slot.worker.on('messageerror', (error) =>
      this.#fail(
        slot,
        new SegserveError('ENCODE_FAILED', { reason: `unreadable answer: ${message(error)}` }),
      ),
    );
    slot.worker.on('exit', (code) => this.#onExit(slot, code));
    return slot;
  }

  #onMessage(slot: Slot, m: FromEncoder): void {
    const job = slot.job;
    if (!job || job.id !== m.id) return;
    slot.job = undefined;
    restoreLent(job.seg, m.lent);
    if (m.type === 'done') {
      this.#completed++;
      job.seg.timings.encode += m.encodeMs;
      const output = m.output instanceof Uint8Array ? toBuffer(m.output) : m.output;
      job.resolve({ output, encodeMs: m.encodeMs });
    } else {
      this.#failed++;
      job.reject(reviveError(m.error));
    }
    this.#pump();
  }

  #fail(slot: Slot, error: SegserveError): void {
    const job = slot.job;
    if (!job) return;
    slot.job = undefined;
    this.#failed++;
    job.reject(error);
    this.#pump();
  }

  #onExit(slot: Slot, code: number): void {
    this.#slots.delete(slot);
    if (!slot.stopping) {
      const reason = slot.crash ?? `the thread exited with code ${code}`;
      this.#fail(
        slot,
        new SegserveError('ENCODE_FAILED', { reason: `the encoder worker crashed: ${reason}` }),
      );
    }
    // Jobs still queued get a fresh worker.
    this.#pump();
  }

  #pump(): void {
    while (this.#queue.length > 0) {
      let slot = [...this.#slots].find((s) => !s.job && !s.stopping);
      if (!slot && this.#slots.size < this.#size) slot = this.#spawn();
      if (!slot) break;
      this.#dispatch(slot, this.#queue.shift()!);
    }
    // An idle worker must not keep the process alive (the CLI exits when its work is done).
    for (const s of this.#slots) {
      if (s.job) s.worker.ref();
      else s.worker.unref();
    }
    this.#drain.check();
  }

  #dispatch(slot: Slot, job: Job): void {
    const list = new TransferList();
    try {
      const seg = lendSegmentation(job.seg, job.job, list);
      slot.worker.postMessage(
        { type: 'encode', id: job.id, seg, job: job.job } satisfies ToEncoder,
        list.list(),
      );
      slot.job = job;
    } catch (error) {
      this.#failed++;
      job.reject(
        new SegserveError('ENCODE_FAILED', {
          reason: `the job could not be sent to a worker: ${message(error)}`,
        }),
      );
    }
  }

  async #stop(slot: Slot): Promise<void> {
    slot.stopping = true;
    const exited = new Promise<void>((resolve) => slot.worker.once('exit', () => resolve()));
    slot.worker.postMessage({ type: 'stop' } satisfies ToEncoder);
    const grace = setTimeout(() => void slot.worker.terminate(), STOP_GRACE_MS);
    await exited;
    clearTimeout(grace);
  }
}

function toBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
