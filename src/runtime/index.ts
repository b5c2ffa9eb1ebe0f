/** Inference behind the Runtime port; the production adapter is one SessionPool (worker threads) per version. */
export { executeJob, type Infer, type JobOutcome, type JobSpec } from './job.js';
export { SessionPool } from './pool.js';
export type { DecodeRequest, TensorInfo } from './protocol.js';
export type {
  ImageFeed,
  Runtime,
  RuntimeFactory,
  RuntimeOptions,
  RunOptions,
  RunResult,
  RuntimeStats,
  RunTimings,
} from './runtime.js';
export { buildSessionOptions, type ExecutionProvider, type SessionSettings } from './session-options.js';
export type * from './types.js';
