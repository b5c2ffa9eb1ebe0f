/** Inference in worker threads: one SessionPool per model version. */
export {
  type PoolOptions,
  type PoolStats,
  type RunOptions,
  type RunResult,
  type RunTimings,
  SessionPool,
} from './pool.js';
export type { DecodeRequest, TensorInfo } from './protocol.js';
export { buildSessionOptions, type ExecutionProvider, type SessionSettings } from './session-options.js';
export type * from './types.js';
