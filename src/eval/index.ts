/**
 * Public API of the evaluation layer: pure functions and accumulators that score predictions against ground
 * truth. It imports only the catalogue (errors), masks and image, never models, runtime, serving or the
 * adapters: the command line, the HTTP API and a promotion gate all hand it data they have loaded, so one
 * evaluator gives the same numbers wherever it runs, and it can be checked against COCO's own numbers alone.
 */
export {
  alignClassMap,
  backgroundClass,
  type ClassAgreement,
  type ClassMapAgreement,
  type ClassMapOptions as ClassMapAgreementOptions,
  type ComparedInstance,
  type ComparedSegmentation,
  classMapAgreement,
  compareSegmentations,
  type InstanceAgreement,
  type InstanceMatch,
  type InstanceOptions as InstanceAgreementOptions,
  instanceAgreement,
  MATCH_IOU_THRESHOLD,
  type SegmentationAgreement,
} from './agreement.js';
export {
  AREA_RANGES,
  COCO_SUMMARY_KEYS,
  type CocoCategoryRow,
  type CocoEvalOptions,
  type CocoEvaluation,
  type CocoImageRow,
  type CocoIouTypeResult,
  type CocoSummary,
  evaluateCoco,
  IOU_THRESHOLDS,
  type IouType,
  MAX_DETECTIONS,
  RECALL_THRESHOLDS,
} from './coco-eval.js';
export {
  type CocoAnnotation,
  type CocoBox,
  type CocoCategory,
  type CocoDataset,
  type CocoImage,
  type CocoResult,
  type CocoSegmentation,
  parseCocoDataset,
  parseCocoResults,
} from './coco-input.js';
export { boxIou, intersectionArea, type MaskRuns, maskIou, maskRuns } from './coco-iou.js';
export {
  diceCoefficient,
  diceFromCounts,
  intersectionOverUnion,
  iouFromCounts,
  selectClasses,
} from './iou.js';
export {
  type EvaluationReport,
  formatReportTable,
  type InstanceClassRow,
  type InstanceReport,
  instanceReport,
  type MainMetric,
  mainMetric,
  REPORT_FORMAT,
  REPORT_FORMAT_VERSION,
  type ReportMeta,
  type ReportModel,
  type SemanticReport,
  type SemanticReportInput,
  semanticReport,
  sortImagesWorstFirst,
  type TableOptions,
} from './report.js';
export {
  addToConfusion,
  type ClassMapOptions,
  type ClassScores,
  type ConfusionMatrix,
  confusionMatrix,
  confusionRows,
  emptyConfusion,
  type SemanticImageRow,
  type SemanticScores,
  scoresOf,
} from './semantic.js';
export { SemanticEvaluator, type SemanticEvaluatorOptions } from './semantic-evaluator.js';
