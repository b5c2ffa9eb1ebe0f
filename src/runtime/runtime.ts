/**
 * The Runtime port: what the serving core needs from whatever runs a model. `SessionPool` (onnxruntime in
 * worker threads) is the production adapter; tests use an in-process fake that runs the same job code
 * (job.ts). Every adapter passes the one contract suite in test/runtime/contract.ts.
 */
import { SegserveError } from '../errors.js';
import type { PixelStatistics } from '../image/statistics.js';
import type { InputSpec, InputTransform, RawImage } from '../image/types.js';
import type { SegmentationResult } from '../tasks/types.js';
import type { DecodeRequest, TensorInfo } from './protocol.js';
import type { ExecutionProvider } from './session-options.js';
import type { NamedTensors } from './types.js';

export interface RuntimeOptions {
  modelPath: string;
  modelName: string;
  version: number;
  /** Parallel sessions (worker threads), each serving one job at a time. */
  instances: number;
  intraOpThreads: number;
  interOpThreads: number;
  executionProvider: ExecutionProvider;
  /** Jobs allowed to wait for a free session; one more is refused with QUEUE_FULL. */
  maxQueue: number;
  /** Size that fills symbolic height/width dimensions of the warm-up input. */
  warmupShape?: { width: number; height: number };
  /** Dynamic batching (config `batching`); absent: every job runs alone. */
  batching?: BatchingOptions;
}

/**
 * Jobs of the same shapes (batch.ts) queued within `maxDelayMs` of the oldest run as one inference of up to
 * `maxBatchSize`. Only for a model whose batch dimension is dynamic: openVersion checks that at load time.
 */
export interface BatchingOptions {
  maxBatchSize: number;
  maxDelayMs: number;
}

/**
 * Decoded pixels that the runtime turns into the model's float tensor itself (the per-pixel fill), so that the
 * loop runs where inference runs and not on the caller's thread. `content.data` is transferred, not copied.
 */
export interface ImageFeed {
  /** The model input the tensor feeds. */
  name: string;
  content: RawImage;
  transform: InputTransform;
  input: InputSpec;
  /** Also answer the content's perceptual hash (0.4 ms at 320x320: only for models that deduplicate samples). */
  hash?: boolean;
}

export interface RunOptions {
  /** An input filled from decoded pixels, besides `feeds`. */
  image?: ImageFeed;
  /** Decode in the runtime and answer a SegmentationResult instead of raw outputs. */
  decode?: DecodeRequest;
  /** Outputs to compute (default: all). */
  outputNames?: string[];
  /** Longest wait for a free session; a job still queued then is dropped with INFERENCE_TIMEOUT. */
  timeoutMs?: number;
  /** Aborting rejects with `signal.reason`; a queued job is dropped, a running one finishes unseen. */
  signal?: AbortSignal;
}

export interface RunTimings {
  /** Waiting for a free session. */
  queue: number;
  /** Tensor fill from `image` (0 without one). */
  preprocess: number;
  /** `session.run`. */
  infer: number;
  /** Decoding (0 without `decode`). */
  postprocess: number;
}

export interface RunResult {
  outputs?: NamedTensors;
  result?: SegmentationResult;
  timings: RunTimings;
  /** Of the `image` feed's pixels, when there was one. */
  statistics?: PixelStatistics;
  /** The `image` feed's perceptual hash, when it asked for one. */
  hash?: bigint;
  /** Jobs in the inference that served this one (1 when it ran alone); adapters without batching leave it out. */
  batchSize?: number;
}

export interface RuntimeStats {
  /** Sessions loaded and serving (replacements still loading are not counted). */
  instances: number;
  busy: number;
  queued: number;
  /** Jobs answered with a result. */
  completed: number;
  /** Accepted jobs that ended in an error: model or decoder errors, crashes, queue timeouts. */
  failed: number;
}

export interface Runtime {
  /** The model's inputs and outputs as the runtime reads them. */
  readonly inputs: TensorInfo[];
  readonly outputs: TensorInfo[];
  /**
   * One inference. The ArrayBuffers of `feeds` (and of `options.image.content`) may be transferred: the
   * caller's typed arrays can be detached afterwards.
   */
  run(feeds: NamedTensors, options?: RunOptions): Promise<RunResult>;
  stats(): RuntimeStats;
  /** Refuses new jobs (RUNTIME_CLOSED), lets running and queued ones finish, then releases the model. */
  close(): Promise<void>;
}

/** How the model repository gets a runtime for each version it loads. */
export type RuntimeFactory = (options: RuntimeOptions) => Promise<Runtime>;

/**
 * The refusal of a runtime whose queue is full. A guard only: the serving core admits no more than a runtime
 * holds and estimates the wait itself, so this one says 1 s.
 */
export function runtimeQueueFull(options: RuntimeOptions, inFlight: number): SegserveError {
  return new SegserveError('QUEUE_FULL', {
    model: options.modelName,
    version: options.version,
    in_flight: inFlight,
    retry_after: 1,
  });
}
