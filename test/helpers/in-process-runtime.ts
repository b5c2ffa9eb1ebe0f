/**
 * A second Runtime adapter, for tests: onnxruntime on the calling thread, with an optional simulated latency
 * before each run (so that queueing can be watched without blocking the event loop) and a record of every job
 * it ran. It runs the same job code as the worker threads (src/runtime/job.ts), so its answers are the
 * production ones; only where and how the session runs differ. It passes the Runtime contract suite.
 */
import * as ort from 'onnxruntime-node';
import { SegserveError } from '../../src/errors.js';
import { executeJob } from '../../src/runtime/job.js';
import { describeValues, fromOrtOutputs, toOrtTensor } from '../../src/runtime/ort-tensors.js';
import type { TensorInfo } from '../../src/runtime/protocol.js';
import {
  type RunOptions,
  type RunResult,
  type Runtime,
  type RuntimeFactory,
  type RuntimeOptions,
  type RuntimeStats,
  runtimeQueueFull,
} from '../../src/runtime/runtime.js';
import type { NamedTensors } from '../../src/runtime/types.js';

interface Waiting {
  feeds: NamedTensors;
  options: RunOptions;
  enqueuedAt: number;
  settle: (error: unknown, result?: RunResult) => void;
}

export class InProcessRuntime implements Runtime {
  readonly inputs: TensorInfo[];
  readonly outputs: TensorInfo[];
  /** Every job that reached the session, in order. */
  readonly jobs: Array<{ feeds: string[]; image: boolean; decoder?: string }> = [];
  readonly #session: ort.InferenceSession;
  readonly #options: RuntimeOptions;
  readonly #latencyMs: number;
  readonly #queue: Waiting[] = [];
  #busy = 0;
  #completed = 0;
  #failed = 0;
  #closed = false;
  #closing?: Promise<void>;
  #drained?: () => void;

  private constructor(session: ort.InferenceSession, options: RuntimeOptions, latencyMs: number) {
    this.#session = session;
    this.#options = options;
    this.#latencyMs = latencyMs;
    this.inputs = describeValues(session.inputMetadata);
    this.outputs = describeValues(session.outputMetadata);
  }

  static async create(options: RuntimeOptions, latencyMs = 0): Promise<InProcessRuntime> {
    const session = await ort.InferenceSession.create(options.modelPath);
    return new InProcessRuntime(session, options, latencyMs);
  }

  /** A factory for ModelRepository that keeps every runtime it made, by model name. */
  static factory(latencyMs = 0): RuntimeFactory & { made: Map<string, InProcessRuntime> } {
    const made = new Map<string, InProcessRuntime>();
    const create = async (options: RuntimeOptions) => {
      const runtime = await InProcessRuntime.create(options, latencyMs);
      made.set(options.modelName, runtime);
      return runtime;
    };
    return Object.assign(create, { made });
  }

  run(feeds: NamedTensors, options: RunOptions = {}): Promise<RunResult> {
    if (this.#closed) return Promise.reject(new SegserveError('RUNTIME_CLOSED'));
    if (options.signal?.aborted) return Promise.reject(options.signal.reason);
    return new Promise((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      let settled = false;
      const onAbort = () => {
        if (this.#unqueue(waiting)) waiting.settle(options.signal?.reason);
      };
      const waiting: Waiting = {
        feeds,
        options,
        enqueuedAt: performance.now(),
        settle: (error, result) => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          options.signal?.removeEventListener('abort', onAbort);
          if (result) resolve(result);
          else reject(error);
        },
      };
      if (this.#busy < this.#options.instances) {
        this.#start(waiting);
        return;
      }
      if (this.#queue.length >= this.#options.maxQueue) {
        reject(runtimeQueueFull(this.#options, this.#busy + this.#queue.length));
        return;
      }
      this.#queue.push(waiting);
      options.signal?.addEventListener('abort', onAbort, { once: true });
      if (options.timeoutMs !== undefined) {
        timer = setTimeout(() => {
          if (!this.#unqueue(waiting)) return;
          this.#failed++;
          waiting.settle(
            new SegserveError('INFERENCE_TIMEOUT', {
              model: this.#options.modelName,
              version: this.#options.version,
              timeout_ms: options.timeoutMs,
            }),
          );
        }, options.timeoutMs);
      }
    });
  }

  stats(): RuntimeStats {
    return {
      instances: this.#closed && this.#busy === 0 ? 0 : this.#options.instances,
      busy: this.#busy,
      queued: this.#queue.length,
      completed: this.#completed,
      failed: this.#failed,
    };
  }

  async close(): Promise<void> {
    if (this.#closed) return this.#closing;
    this.#closed = true;
    this.#closing = (async () => {
      if (this.#busy > 0 || this.#queue.length > 0) await new Promise<void>((done) => (this.#drained = done));
      await this.#session.release();
    })();
    return this.#closing;
  }

  #unqueue(waiting: Waiting): boolean {
    const index = this.#queue.indexOf(waiting);
    if (index < 0) return false;
    this.#queue.splice(index, 1);
    this.#checkDrained();
    return true;
  }

  #checkDrained(): void {
    if (this.#busy === 0 && this.#queue.length === 0) this.#drained?.();
  }

  /** Frees the session before answering, so the stats a caller reads next already show it free. */
  #finish(waiting: Waiting, error: unknown, result?: RunResult): void {
    this.#busy--;
    waiting.settle(error, result);
    const next = this.#queue.shift();
    if (next) this.#start(next);
    this.#checkDrained();
  }

  #start(waiting: Waiting): void {
    this.#busy++;
    const queue = performance.now() - waiting.enqueuedAt;
    const { feeds, options } = waiting;
    this.jobs.push({
      feeds: Object.keys(feeds),
      image: options.image !== undefined,
      decoder: options.decode?.decoder,
    });
    const job = { feeds, image: options.image, outputNames: options.outputNames, decode: options.decode };
    new Promise((wait) => setTimeout(wait, this.#latencyMs))
      .then(() =>
        executeJob(job, async (ready, names) => {
          const ortFeeds: Record<string, ort.Tensor> = {};
          for (const [name, tensor] of Object.entries(ready)) ortFeeds[name] = toOrtTensor(tensor);
          return fromOrtOutputs(
            names ? await this.#session.run(ortFeeds, names) : await this.#session.run(ortFeeds),
          );
        }),
      )
      .then(
        (outcome) => {
          this.#completed++;
          this.#finish(waiting, undefined, { ...outcome, timings: { queue, ...outcome.timings } });
        },
        (error: unknown) => {
          this.#failed++;
          const reason = error instanceof Error ? error.message : String(error);
          this.#finish(
            waiting,
            error instanceof SegserveError ? error : new SegserveError('INFERENCE_FAILED', { reason }),
          );
        },
      );
  }
}
