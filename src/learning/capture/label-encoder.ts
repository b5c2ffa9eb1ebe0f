/**
 * The prediction of a kept result as label-document bytes (label-document.ts), built where it costs requests
 * nothing noticeable: on the main thread for results up to the serving core's inline limit for answers
 * (1 M pixels: 4-35 ms measured here for a 1000x1000 semantic result of 3 classes, the same order as an inline
 * answer), in a worker thread above (4000x3000: 85-150 ms that would otherwise stall every request meanwhile).
 * The worker starts on the first large result and keeps no process alive while idle.
 */
import { Worker } from 'node:worker_threads';
import { threadEntry, threadOptions } from '../../runtime/thread-entry.js';
import { DEFAULT_ENCODE_INLINE_MAX_PIXELS } from '../../serving/service.js';
import type { SegmentationResult } from '../../tasks/types.js';
import { encodeLabelDocument, labelFromResult } from '../label-document.js';

export type ToLabelWorker =
  | { type: 'encode'; id: number; result: SegmentationResult; labels: readonly string[] }
  | { type: 'stop' };
export type FromLabelWorker = { id: number; bytes: Uint8Array } | { id: number; error: string };

const WORKER = threadEntry(import.meta.url, 'label-worker');

interface Job {
  resolve: (bytes: Uint8Array) => void;
  reject: (error: Error) => void;
}

export class LabelEncoder {
  readonly #inlineMaxPixels: number;
  #worker?: Worker;
  readonly #jobs = new Map<number, Job>();
  #nextId = 1;

  constructor(inlineMaxPixels = DEFAULT_ENCODE_INLINE_MAX_PIXELS) {
    this.#inlineMaxPixels = inlineMaxPixels;
  }

  async encode(result: SegmentationResult, labels: readonly string[]): Promise<Uint8Array> {
    if (result.width * result.height <= this.#inlineMaxPixels) {
      return encodeLabelDocument(labelFromResult(result, labels));
    }
    const worker = this.#start();
    const id = this.#nextId++;
    return new Promise<Uint8Array>((resolve, reject) => {
      this.#jobs.set(id, { resolve, reject });
      worker.ref();
      // Structured clone copies the result (a few ms for 12 M pixels): other subscribers may still hold it.
      worker.postMessage({ type: 'encode', id, result, labels } satisfies ToLabelWorker);
    });
  }

  /** Ends the worker once its jobs are done; the capture calls it after its writers have drained. */
  async close(): Promise<void> {
    const worker = this.#worker;
    this.#worker = undefined;
    if (!worker) return;
    const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
    worker.postMessage({ type: 'stop' } satisfies ToLabelWorker);
    await exited;
  }

  #start(): Worker {
    if (this.#worker) return this.#worker;
    const worker = new Worker(WORKER.url, threadOptions(WORKER));
    this.#worker = worker;
    let crash: string | undefined;
    worker.on('message', (answer: FromLabelWorker) => {
      const job = this.#jobs.get(answer.id);
      this.#jobs.delete(answer.id);
      if (this.#jobs.size === 0) worker.unref();
      if (!job) return;
      if ('bytes' in answer) job.resolve(answer.bytes);
      else job.reject(new Error(`the label worker failed: ${answer.error}`));
    });
    worker.on('error', (error) => {
      crash = error.message;
    });
    worker.on('exit', (code) => {
      if (this.#worker === worker) this.#worker = undefined;
      // Jobs still held die with the thread; the next large result starts a fresh one.
      for (const job of this.#jobs.values()) {
        job.reject(new Error(`the label worker exited: ${crash ?? `code ${code}`}`));
      }
      this.#jobs.clear();
    });
    return worker;
  }
}
