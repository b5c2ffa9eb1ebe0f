/** TFLite -> ONNX import: the public surface. Everything else in src/models/tflite is internal. */
export {
  type ConvertedModel,
  convertTflite,
  type ModelOutput,
  type ModelTensor,
  SUPPORTED_OPERATORS,
} from './convert.js';
export { type ImportOptions, type ImportResult, importBundledSelfieModel, importTflite } from './import.js';
export { readTflite, type TfliteModel, type TfliteOperator, type TfliteTensor } from './reader.js';
