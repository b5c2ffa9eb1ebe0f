/**
 * Evaluating a served model version on a dataset (issue 11, point 1): dataset sources (a COCO instances file, a
 * mask folder, a dataset version), the run through the serving core, and the scoring by src/eval. The command
 * line (`segserve eval --model`) and the API (`POST /v1/admin/models/{m}/versions/{v}/eval`) use this surface.
 */
export {
  bindClassMaps,
  bindInstances,
  type ClassMapBinding,
  checkTask,
} from './classes.js';
export type {
  ClassMapDataset,
  ClassMapFormat,
  ClassMapImage,
  CocoGroundTruth,
  DatasetSourceSpec,
  EvaluationDataset,
  EvaluationImage,
  InstanceDataset,
} from './dataset.js';
export { type EvaluateModelOptions, evaluateModel, type ModelEvaluation } from './evaluate.js';
export { DATASET_READ_TIMEOUT_MS, DatasetFiles } from './files.js';
export {
  configuredGateEvaluator,
  evaluateConfigured,
  type GateOptions,
  metricValue,
  recordModelEvaluation,
} from './gate.js';
export {
  type ClassMapPair,
  type ClassMapRun,
  type EvaluationRun,
  type InstanceRun,
  type RunOptions,
  type RunProgress,
  resolveForEvaluation,
  runEvaluation,
} from './runner.js';
export { openDatasetSource, parseDatasetSource, type SourceContext } from './source.js';
