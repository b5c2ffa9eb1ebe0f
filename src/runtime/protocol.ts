/**
 * Messages between a SessionPool (main thread) and its workers. Everything here survives structured clone;
 * tensor and mask buffers travel in the transfer list, errors as `SegserveError.toJSON()`.
 */
import type { ErrorCode, ErrorDetails } from '../errors.js';
import type { PixelStatistics } from '../image/statistics.js';
import type { DecoderName } from '../models/config.js';
import type { DecodeContext, SegmentationResult } from '../tasks/types.js';
import type { ImageFeed } from './runtime.js';
import type { SessionSettings } from './session-options.js';
import type { NamedTensors } from './types.js';

/** Name, element type and shape of a model input or output; a string dimension is symbolic (e.g. 'batch'). */
export interface TensorInfo {
  name: string;
  /** onnxruntime's element type ('float32', 'int64', ...), or 'non-tensor' for sequences and maps. */
  type: string;
  dims: (number | string)[];
}

export interface DecodeRequest {
  decoder: DecoderName;
  context: DecodeContext;
}

export interface SerializedError {
  code: ErrorCode;
  message: string;
  details: ErrorDetails;
}

/** `workerData` of every worker. */
export interface WorkerInit {
  modelPath: string;
  modelName: string;
  version: number;
  settings: SessionSettings;
  warmupShape?: { width: number; height: number };
}

export interface RunJob {
  type: 'run';
  id: number;
  feeds: NamedTensors;
  image?: ImageFeed;
  outputNames?: string[];
  decode?: DecodeRequest;
}

/** Jobs of one batch key (batch.ts) to run as one inference; each is answered on its own, by its id. */
export interface RunBatch {
  type: 'run-batch';
  jobs: RunJob[];
}

/** Asks the worker to release its session and end its thread. */
export interface StopRequest {
  type: 'stop';
}

export type ToWorker = RunJob | RunBatch | StopRequest;

export interface JobTimings {
  /** The tensor fill from decoded pixels, measured inside the worker; 0 when the feeds came as tensors. */
  preprocess: number;
  /** `session.run`, measured inside the worker. */
  infer: number;
  /** The task decoder, measured inside the worker; 0 when only raw outputs were asked for. */
  postprocess: number;
}

export type FromWorker =
  | { type: 'ready'; inputs: TensorInfo[]; outputs: TensorInfo[] }
  | { type: 'load-failed'; error: SerializedError }
  | {
      type: 'done';
      id: number;
      outputs?: NamedTensors;
      result?: SegmentationResult;
      timings: JobTimings;
      statistics?: PixelStatistics;
      hash?: bigint;
    }
  | { type: 'failed'; id: number; error: SerializedError };
