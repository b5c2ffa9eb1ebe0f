/** Public surface of the image layer: bytes in, model tensor out. Everything else in src/image is internal. */
export { decodeImage, type ImageInfo, probeImage } from './decode.js';
export { computeTransform } from './geometry.js';
export { type HashRegion, hammingDistance, perceptualHash, popcount32 } from './perceptual-hash.js';
export {
  contentFromImage,
  type DecodedForModel,
  type DecodeForModelOptions,
  decodeForModel,
  decodeProbed,
  type PreprocessedImage,
  type PreprocessedTensor,
  type PreprocessOptions,
  preprocess,
  preprocessForModel,
  preprocessRaw,
  tensorFromContent,
} from './preprocess.js';
export { IMAGE_EXTENSIONS, IMAGE_FORMATS, type ImageFormat, sniffImageFormat } from './sniff.js';
export { type PixelStatistics, pixelStatistics } from './statistics.js';
export { rawToTensor, tensorDims } from './tensor.js';
export type { InputSpec, InputTransform, RawImage } from './types.js';
