/** Static int8 quantisation of ONNX graphs (QDQ format): the plan, the calibration graph, ranges, the rewrite. */
export { withActivationOutputs } from './calibration-model.js';
export { decodeModel, encodeModel } from './onnx-model.js';
export {
  COVERED_OPERATORS,
  MIN_OPSET,
  nodeName,
  type PlannedNode,
  planQuantization,
  type QuantizationPlan,
} from './plan.js';
export { type ActivationRange, applyQdq, quantizeWeight, uint8Parameters } from './qdq.js';
export { type CalibrationMethod, percentileRange, RangeCollector } from './ranges.js';
