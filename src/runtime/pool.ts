/**
 * The production Runtime: a pool of worker threads for one model version, each holding its own onnxruntime session (see worker.ts).
 * The main thread only queues jobs and moves buffers; inference and decoding run in the workers, so timers,
 * health checks and other requests keep running during a long inference.
 */
import { Worker } from 'node:worker_threads';
import { reviveError, SegserveError } from '../errors.js';
import { batchKey } from './batch.js';
import { Drain } from './drain.js';
import type { FromWorker, RunJob, TensorInfo, ToWorker, WorkerInit } from './protocol.js';
import {
  type RunOptions,
  type RunResult,
  type Runtime,
  type RuntimeOptions,
  type RuntimeStats,
  runtimeQueueFull,
} from './runtime.js';
import { threadEntry, threadOptions } from './thread-entry.js';
import { transferImage, transferTensors } from './transfer.js';
import type { NamedTensors } from './types.js';

/** A worker that does not exit within this time after being asked to stop is terminated. */
const STOP_GRACE_MS = 5_000;

/** worker.ts beside this module (through the tsx bootstrap when running from sources). */
const WORKER = threadEntry(import.meta.url, 'worker');

interface Job {
  id: number;
  feeds: NamedTensors;
  options: RunOptions;
  enqueuedAt: number;
  queueMs: number;
  /** Jobs with the same key may run as one batch (batch.ts); undefined runs alone (or batching is off). */
  key?: string;
  /** Jobs in the inference that served this one. */
  batchSize: number;
  settled: boolean;
  timer?: NodeJS.Timeout;
  onAbort?: () => void;
  resolve: (result: RunResult) => void;
  reject: (error: unknown) => void;
}

interface Slot {
  worker: Worker;
  state: 'loading' | 'ready';
  /** The jobs it is running: one, or a batch; empty when idle. */
  jobs: Job[];
  /** Set when the pool itself ends the worker, so its exit is not a crash. */
  stopping: boolean;
  /** The uncaught error reported just before the thread exits. */
  crash?: string;
  onReady: (info: { inputs: TensorInfo[]; outputs: TensorInfo[] }) => void;
  onLoadFailed: (error: SegserveError) => void;
}

type Ready = { inputs: TensorInfo[]; outputs: TensorInfo[] };

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

export class SessionPool implements Runtime {
  readonly #options: RuntimeOptions;
  readonly #init: WorkerInit;
  readonly #slots = new Set<Slot>();
  readonly #queue: Job[] = [];
  #inputs: TensorInfo[] = [];
  #outputs: TensorInfo[] = [];
  #nextId = 1;
  #completed = 0;
  #failed = 0;
  #closing?: Promise<void>;
  readonly #drain = new Drain(
    () => this.#queue.length === 0 && [...this.#slots].every((slot) => slot.jobs.length === 0),
  );
  /** Set while the first queued job waits for others to fill its batch. */
  #batchTimer?: NodeJS.Timeout;
  /** Set when every worker is gone and a replacement could not load: the pool can serve nothing more. */
  #broken?: SegserveError;

  private constructor(options: RuntimeOptions) {
    this.#options = options;
    this.#init = {
      modelPath: options.modelPath,
      modelName: options.modelName,
      version: options.version,
      settings: {
        intraOpThreads: options.intraOpThreads,
        interOpThreads: options.interOpThreads,
        executionProvider: options.executionProvider,
      },
      warmupShape: options.warmupShape,
    };
  }

  /** Starts `instances` workers and resolves once every one has loaded and warmed up its session. */
  static async create(options: RuntimeOptions): Promise<SessionPool> {
    if (!Number.isInteger(options.instances) || options.instances < 1) {
      throw new SegserveError('INVALID_ARGUMENT', {
        reason: `instances must be a positive integer, not ${options.instances}`,
      });
    }
    if (!Number.isInteger(options.maxQueue) || options.maxQueue < 0) {
      throw new SegserveError('INVALID_ARGUMENT', {
        reason: `maxQueue must be an integer >= 0, not ${options.maxQueue}`,
      });
    }
    const pool = new SessionPool(options);
    const loads = await Promise.allSettled(Array.from({ length: options.instances }, () => pool.#spawn()));
    const failure = loads.find((l): l is PromiseRejectedResult => l.status === 'rejected');
    if (failure) {
      await Promise.all([...pool.#slots].map((slot) => pool.#stop(slot)));
      throw failure.reason;
    }
    const first = (loads[0] as PromiseFulfilledResult<Ready>).value;
    pool.#inputs = first.inputs;
    pool.#outputs = first.outputs;
    return pool;
  }

  get inputs(): TensorInfo[] {
    return this.#inputs;
  }

  get outputs(): TensorInfo[] {
    return this.#outputs;
  }

  /**
   * Runs one inference. The ArrayBuffers of `feeds` are transferred to the worker (the caller's typed arrays
   * are detached afterwards); a view into a larger buffer is copied instead, leaving the caller's buffer intact.
   */
  run(feeds: NamedTensors, options: RunOptions = {}): Promise<RunResult> {
    if (this.#closing) return Promise.reject(new SegserveError('RUNTIME_CLOSED'));
    if (this.#broken) return Promise.reject(this.#broken);
    if (options.signal?.aborted) return Promise.reject(options.signal.reason);
    return new Promise<RunResult>((resolve, reject) => {
      const job: Job = {
        id: this.#nextId++,
        feeds,
        options,
        enqueuedAt: performance.now(),
        queueMs: 0,
        key: this.#options.batching && batchKey(feeds, options),
        batchSize: 1,
        settled: false,
        resolve,
        reject,
      };
      const idle = this.#idleSlot();
      // A batchable job waits in the queue even beside an idle session, for others to join it.
      if (idle && job.key === undefined && this.#queue.length === 0) {
        this.#dispatch(idle, [job]);
        return;
      }
      // Idle sessions will take queued jobs at once (or after the batching delay): they count as room.
      if (this.#queue.length >= this.#options.maxQueue + this.#idleSlots()) {
        reject(runtimeQueueFull(this.#options, this.#slots.size + this.#queue.length));
        return;
      }
      this.#queue.push(job);
      if (options.timeoutMs !== undefined) {
        job.timer = setTimeout(() => {
          if (!this.#unqueue(job)) return;
          this.#failed++;
          this.#settle(
            job,
            new SegserveError('INFERENCE_TIMEOUT', {
              model: this.#options.modelName,
              version: this.#options.version,
              timeout_ms: options.timeoutMs,
            }),
          );
        }, options.timeoutMs);
      }
      if (options.signal) {
        const signal = options.signal;
        job.onAbort = () => {
          this.#unqueue(job);
          this.#settle(job, signal.reason);
        };
        signal.addEventListener('abort', job.onAbort, { once: true });
      }
      this.#pump();
    });
  }

  stats(): RuntimeStats {
    let busy = 0;
    for (const slot of this.#slots) if (slot.state === 'ready' && slot.jobs.length > 0) busy++;
    return {
      instances: [...this.#slots].filter((s) => s.state === 'ready').length,
      busy,
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

  #spawn(): Promise<Ready> {
    return new Promise<Ready>((resolve, reject) => {
      const slot: Slot = {
        worker: new Worker(WORKER.url, threadOptions(WORKER, { workerData: this.#init })),
        state: 'loading',
        jobs: [],
        stopping: false,
        onReady: resolve,
        onLoadFailed: reject,
      };
      this.#slots.add(slot);
      slot.worker.on('message', (m: FromWorker) => this.#onMessage(slot, m));
      slot.worker.on('error', (error) => {
        slot.crash = message(error);
      });
      slot.worker.on('messageerror', (error) => this.#answer(slot, undefined, error));
      slot.worker.on('exit', (code) => this.#onExit(slot, code));
    });
  }

  #loadError(reason: string): SegserveError {
    return new SegserveError('MODEL_LOAD_FAILED', {
      model: this.#options.modelName,
      version: this.#options.version,
      reason,
    });
  }

  #onMessage(slot: Slot, m: FromWorker): void {
    switch (m.type) {
      case 'ready':
        slot.state = 'ready';
        slot.onReady({ inputs: m.inputs, outputs: m.outputs });
        this.#pump();
        return;
      case 'load-failed':
        slot.onLoadFailed(reviveError(m.error));
        return;
      case 'done':
        this.#answer(slot, m.id, {
          outputs: m.outputs,
          result: m.result,
          timings: { queue: 0, ...m.timings },
          statistics: m.statistics,
          hash: m.hash,
        });
        return;
      case 'failed':
        this.#answer(slot, m.id, reviveError(m.error));
        return;
    }
  }

  /**
   * Settles one of the slot's jobs (`id`; all of them when the message could not be read) with a result or an
   * error, and hands the slot the next queued jobs once it has answered every job it ran.
   */
  #answer(slot: Slot, id: number | undefined, outcome: unknown): void {
    const answered = slot.jobs.filter((job) => id === undefined || job.id === id);
    if (answered.length === 0) return;
    slot.jobs = slot.jobs.filter((job) => !answered.includes(job));
    for (const job of answered) {
      if (isRunResult(outcome)) {
        this.#completed++;
        this.#settle(job, undefined, {
          ...outcome,
          batchSize: job.batchSize,
          timings: { ...outcome.timings, queue: job.queueMs },
        });
      } else {
        this.#failed++;
        this.#settle(
          job,
          outcome instanceof SegserveError
            ? outcome
            : new SegserveError('INFERENCE_FAILED', {
                reason: `the worker's answer could not be read: ${message(outcome)}`,
              }),
        );
      }
    }
    if (slot.jobs.length === 0) this.#pump();
  }

  #onExit(slot: Slot, code: number): void {
    this.#slots.delete(slot);
    const reason = slot.crash ?? `worker thread exited with code ${code}`;
    if (slot.state === 'loading') {
      slot.onLoadFailed(this.#loadError(reason));
      return;
    }
    if (slot.stopping) return;
    for (const job of slot.jobs.splice(0)) {
      this.#failed++;
      this.#settle(job, new SegserveError('INFERENCE_FAILED', { reason: `the worker crashed: ${reason}` }));
    }
    this.#replace();
  }

  /** Starts a worker in place of one that crashed; the pool keeps serving with the others meanwhile. */
  #replace(): void {
    if (this.#closing && this.#queue.length === 0) {
      this.#drain.check();
      return;
    }
    this.#spawn().then(
      () => this.#pump(),
      (error: unknown) => {
        if (this.#slots.size > 0) return;
        this.#broken = new SegserveError('MODEL_NOT_READY', {
          model: this.#options.modelName,
          version: this.#options.version,
          reason: `its workers crashed and a replacement failed to load: ${message(error)}`,
        });
        for (const job of this.#queue.splice(0)) {
          this.#failed++;
          this.#settle(job, this.#broken);
        }
        this.#drain.check();
      },
    );
  }

  #idleSlot(): Slot | undefined {
    for (const slot of this.#slots) if (this.#isIdle(slot)) return slot;
    return undefined;
  }

  #isIdle(slot: Slot): boolean {
    return slot.state === 'ready' && slot.jobs.length === 0 && !slot.stopping;
  }

  #idleSlots(): number {
    let idle = 0;
    for (const slot of this.#slots) if (this.#isIdle(slot)) idle++;
    return idle;
  }

  #pump(): void {
    let slot = this.#idleSlot();
    while (slot && this.#queue.length > 0) {
      const jobs = this.#nextJobs();
      if (!jobs) break;
      this.#dispatch(slot, jobs);
      slot = this.#idleSlot();
    }
    this.#drain.check();
  }

  /**
   * The next jobs to run: the oldest queued job with every queued job of its batch key, up to the batch size,
   * once the batch is full or the oldest has waited the batching delay (until then undefined, and a timer pumps
   * again when the delay is up). Jobs of other keys wait their turn behind it, so order stays first come first
   * served.
   */
  #nextJobs(): Job[] | undefined {
    const batching = this.#options.batching;
    const head = this.#queue[0];
    if (!batching || head.key === undefined) return [this.#queue.shift()!];
    const batch = this.#queue.filter((job) => job.key === head.key).slice(0, batching.maxBatchSize);
    const waited = performance.now() - head.enqueuedAt;
    // A job with a queue timeout shorter than the delay spends at most half of it waiting for company, so the
    // batching wait never times out a job that an idle session could serve.
    const delay = Math.min(batching.maxDelayMs, (head.options.timeoutMs ?? Number.POSITIVE_INFINITY) / 2);
    if (batch.length < batching.maxBatchSize && waited < delay) {
      this.#batchTimer ??= setTimeout(() => {
        this.#batchTimer = undefined;
        this.#pump();
      }, delay - waited);
      return undefined;
    }
    for (const job of batch) this.#queue.splice(this.#queue.indexOf(job), 1);
    return batch;
  }

  #dispatch(slot: Slot, jobs: Job[]): void {
    const now = performance.now();
    try {
      const transfer: ArrayBuffer[] = [];
      const requests = jobs.map((job): RunJob => {
        clearTimeout(job.timer);
        job.queueMs = now - job.enqueuedAt;
        job.batchSize = jobs.length;
        const feeds = transferTensors(job.feeds);
        const image = job.options.image && transferImage(job.options.image);
        transfer.push(...feeds.transfer, ...(image?.transfer ?? []));
        return {
          type: 'run',
          id: job.id,
          feeds: feeds.value,
          image: image?.value,
          outputNames: job.options.outputNames,
          decode: job.options.decode,
        };
      });
      const request: ToWorker = requests.length === 1 ? requests[0] : { type: 'run-batch', jobs: requests };
      slot.worker.postMessage(request, transfer);
      slot.jobs = jobs;
    } catch (error) {
      for (const job of jobs) {
        this.#failed++;
        this.#settle(
          job,
          new SegserveError('INFERENCE_FAILED', {
            reason: `the job could not be sent to a worker: ${message(error)}`,
          }),
        );
      }
    }
  }

  /** Removes a job that is still waiting; false when it already went to a worker. */
  #unqueue(job: Job): boolean {
    const index = this.#queue.indexOf(job);
    if (index < 0) return false;
    this.#queue.splice(index, 1);
    this.#drain.check();
    return true;
  }

  #settle(job: Job, error: unknown, result?: RunResult): void {
    if (job.settled) return;
    job.settled = true;
    clearTimeout(job.timer);
    if (job.onAbort) job.options.signal?.removeEventListener('abort', job.onAbort);
    if (result) job.resolve(result);
    else job.reject(error);
  }

  async #stop(slot: Slot): Promise<void> {
    slot.stopping = true;
    const exited = new Promise<void>((resolve) => slot.worker.once('exit', () => resolve()));
    if (slot.state === 'ready') {
      slot.worker.postMessage({ type: 'stop' } satisfies ToWorker);
      const grace = setTimeout(() => void slot.worker.terminate(), STOP_GRACE_MS);
      await exited;
      clearTimeout(grace);
    } else {
      await slot.worker.terminate();
    }
  }
}

function isRunResult(value: unknown): value is RunResult {
  return typeof value === 'object' && value !== null && 'timings' in value;
}
