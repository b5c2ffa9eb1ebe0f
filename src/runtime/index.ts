/** Inference behind the Runtime port; the production adapter is one SessionPool (worker threads) per version. */
export { executeJob, type Infer, type JobOutcome, type JobSpec } from './job.js';
export { SessionPool } from './pool.js';
export type { DecodeRequest, TensorInfo } from './protocol.js';
export type {
  BatchingOptions,
  ImageFeed,
  RunOptions,
  RunResult,
  RunTimings,
  Runtime,
  RuntimeFactory,
  RuntimeOptions,
  RuntimeStats,
} from './runtime.js';
export { buildSessionOptions, type ExecutionProvider, type SessionSettings } from './session-options.js';
export type * from './types.js';
