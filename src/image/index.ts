/** Public surface of the image layer: bytes in, model tensor out. Everything else in src/image is internal. */
export { decodeImage, type ImageInfo, probeImage } from './decode.js';
export { computeTransform } from './geometry.js';
export {
  type PreprocessedImage,
  type PreprocessedTensor,
  type PreprocessForModelOptions,
  type PreprocessOptions,
  preprocess,
  preprocessForModel,
  preprocessRaw,
} from './preprocess.js';
export { type ImageFormat, sniffImageFormat } from './sniff.js';
export { rawToTensor, tensorDims } from './tensor.js';
export type { InputTransform, RawImage } from './types.js';
