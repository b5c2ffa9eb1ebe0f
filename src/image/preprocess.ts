/**
 * Compressed bytes to the model's input: probe (refusals before decoding), one libvips pipeline that decodes,
 * applies EXIF orientation and resizes (OpenCV-compatible bilinear, see resample.ts), then the tensor fill that
 * places the content, pads and normalises (see tensor.ts). Every coordinate in `transform` is in the oriented
 * image, the one a person sees.
 *
 * The serving path splits this in two: `decodeForModel` (libvips, on libuv threads) on the main thread, and
 * `fillTensor` (a per-pixel loop) inside the inference worker, so that no per-pixel loop runs on the event loop.
 * `preprocess` does both in one call for callers without a worker (tests, benchmarks, tools).
 */
import { type ImageInfo, type ImageSource, openSource, probeImage, readRgb } from './decode.js';
import { computeTransform } from './geometry.js';
import { resampleToContent } from './resample.js';
import { fillTensor, tensorDims } from './tensor.js';
import type { InputSpec, InputTransform, RawImage } from './types.js';

export interface PreprocessOptions {
  /** Images whose header declares more pixels are refused before decoding (IMAGE_TOO_LARGE). */
  maxPixels: number;
}

export interface PreprocessedTensor {
  /** Model input, float32, dims [1,3,H,W] (NCHW) or [1,H,W,3] (NHWC). */
  data: Float32Array;
  dims: number[];
  transform: InputTransform;
}

export interface PreprocessedImage extends PreprocessedTensor {
  info: ImageInfo;
  /**
   * Milliseconds. `decode`: probe + libvips decode, orientation and resize to RGB (libuv threads);
   * `preprocess`: tensor fill (placement, padding, colour order, normalisation, layout) on the calling thread.
   */
  timings: { decode: number; preprocess: number };
}

/** The image decoded and resized for the model, before the tensor fill. */
export interface DecodedForModel {
  /** RGB pixels whose top-left `transform.contentWidth` x `contentHeight` window is the model's content. */
  content: RawImage;
  transform: InputTransform;
  /** The full-size oriented RGB image, with `keepImage` (overlays). */
  rgb?: RawImage;
}

export interface DecodeForModelOptions extends PreprocessOptions {
  /** Also return the full-size oriented RGB image; the compressed bytes are still decoded once. */
  keepImage?: boolean;
}

/**
 * Decodes `bytes`, whose header `probeImage` already accepted as `info`, straight to the model's content size.
 * With `keepImage` the image is decoded in full once and the content is resized from those pixels; for 8-bit
 * images the content is the same as without it (16-bit ones may differ by one level: they are reduced to 8
 * bits before resizing), except with `shrink_on_load`, whose JPEG DCT-domain reduction needs the compressed
 * bytes: the content is then reduced from the full decode by the linear kernel alone.
 */
export async function decodeForModel(
  bytes: Uint8Array,
  info: ImageInfo,
  input: InputSpec,
  options: DecodeForModelOptions,
): Promise<DecodedForModel> {
  const source: ImageSource = { kind: 'encoded', bytes, info, maxPixels: options.maxPixels };
  const resample = { shrinkOnLoad: input.shrink_on_load };
  if (!options.keepImage) {
    const transform = computeTransform(info.orientedWidth, info.orientedHeight, input);
    return { content: await resampleToContent(source, transform, resample), transform };
  }
  const rgb = await readRgb(openSource(source), source);
  const transform = computeTransform(rgb.width, rgb.height, input);
  const content = await resampleToContent({ kind: 'raw', image: rgb }, transform, resample);
  return { content, transform, rgb };
}

/**
 * The whole image, EXIF-oriented RGB, decoded once from `bytes` whose header `probeImage` accepted as `info`: for
 * callers that feed one image to more than one model (a gate classifier, then the model it gates), each taking
 * its content from these pixels with `contentFromImage` instead of decoding the file again. Decoding dominates
 * (resampling never uses JPEG shrink-on-load, see resample.ts), so two models cost one decode and two resizes.
 */
export async function decodeProbed(bytes: Uint8Array, info: ImageInfo, maxPixels: number): Promise<RawImage> {
  const source: ImageSource = { kind: 'encoded', bytes, info, maxPixels };
  return readRgb(openSource(source), source);
}

/**
 * One model's content from an image already decoded (libvips, on libuv threads): what `decodeForModel` answers,
 * in new memory, so the content can be transferred to a worker while `rgb` stays whole for the next model.
 */
export async function contentFromImage(
  rgb: RawImage,
  input: InputSpec,
): Promise<Pick<DecodedForModel, 'content' | 'transform'>> {
  const transform = computeTransform(rgb.width, rgb.height, input);
  const content = await resampleToContent({ kind: 'raw', image: rgb }, transform, {
    shrinkOnLoad: input.shrink_on_load,
  });
  return { content, transform };
}

/** The model tensor of decoded content (the per-pixel part of preprocessing). */
export function tensorFromContent(
  content: RawImage,
  transform: InputTransform,
  input: InputSpec,
  /** A buffer to fill instead of a new one, when its length fits (see fillTensor). */
  into?: Float32Array,
): PreprocessedTensor {
  return { data: fillTensor(content, transform, input, into), dims: tensorDims(input), transform };
}

/** The model input for `bytes`, on the calling thread; the compressed image is decoded once. */
export async function preprocessForModel(
  bytes: Uint8Array,
  input: InputSpec,
  options: DecodeForModelOptions,
): Promise<PreprocessedImage & { rgb?: RawImage }> {
  const started = performance.now();
  const info = await probeImage(bytes, options.maxPixels);
  const decoded = await decodeForModel(bytes, info, input, options);
  const filling = performance.now();
  const tensor = tensorFromContent(decoded.content, decoded.transform, input);
  return {
    ...tensor,
    info,
    rgb: decoded.rgb,
    timings: { decode: filling - started, preprocess: performance.now() - filling },
  };
}

/** `preprocessForModel` without the full-size image. */
export function preprocess(
  bytes: Uint8Array,
  input: InputSpec,
  options: PreprocessOptions,
): Promise<PreprocessedImage> {
  return preprocessForModel(bytes, input, { maxPixels: options.maxPixels });
}

/** The model input for pixels already decoded and oriented (1, 3 or 4 channels; alpha ignored). */
export async function preprocessRaw(raw: RawImage, input: InputSpec): Promise<PreprocessedTensor> {
  const transform = computeTransform(raw.width, raw.height, input);
  const content = await resampleToContent({ kind: 'raw', image: raw }, transform, {
    shrinkOnLoad: input.shrink_on_load,
  });
  return tensorFromContent(content, transform, input);
}
