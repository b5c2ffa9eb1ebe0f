/** The model repository: config schema, model folders, loaded versions. */
export { classLabels } from './class-labels.js';
export * from './config.js';
export {
  type DatasetReference,
  EVALUATION_METRICS,
  type EvaluationConfig,
  type EvaluationMetric,
  evaluationMetric,
  parseDatasetReference,
} from './evaluation-config.js';
export {
  expandEnv,
  loadModelDefinition,
  type ModelDefinition,
  parseLabels,
  readModelConfig,
  type VersionSource,
} from './load-config.js';
export {
  DEFAULT_RETIRE_TIMEOUT_MS,
  type ErrorSummary,
  type IndexEntry,
  type LoadedVersion,
  type LoadState,
  ModelRepository,
  type ModelStatus,
  type RepositoryChange,
  type RepositoryEvent,
  type RepositoryOptions,
  type RetireReason,
  type VersionOutcome,
  type VersionStatus,
} from './repository.js';
export { parseDuration, type SamplingConfig } from './sampling-config.js';
