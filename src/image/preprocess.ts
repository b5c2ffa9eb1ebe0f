/**
 * Compressed bytes to the model's input tensor: probe (refusals before decoding), one libvips pipeline that
 * decodes, applies EXIF orientation and resizes (OpenCV-compatible bilinear, see resample.ts), then the
 * tensor fill that places the content, pads and normalises (see tensor.ts). Every coordinate in
 * `transform` is in the oriented image, the one a person sees.
 */
import type { InputConfig } from '../models/config.js';
import { type ImageInfo, type ImageSource, openSource, probeImage, readRgb } from './decode.js';
import { computeTransform } from './geometry.js';
import { resampleToContent } from './resample.js';
import { fillTensor, tensorDims } from './tensor.js';
import type { InputTransform, RawImage } from './types.js';

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

function tensorOf(content: RawImage, transform: InputTransform, input: InputConfig): PreprocessedTensor {
  return { data: fillTensor(content, transform, input), dims: tensorDims(input), transform };
}

/** The model input for `bytes`; the compressed image is decoded once, straight to the content size. */
export async function preprocess(
  bytes: Uint8Array,
  input: InputConfig,
  options: PreprocessOptions,
): Promise<PreprocessedImage> {
  const started = performance.now();
  const info = await probeImage(bytes, options.maxPixels);
  const transform = computeTransform(info.orientedWidth, info.orientedHeight, input);
  const source: ImageSource = { kind: 'encoded', bytes, info, maxPixels: options.maxPixels };
  const content = await resampleToContent(source, transform);
  const decoded = performance.now();
  const tensor = tensorOf(content, transform, input);
  return { ...tensor, info, timings: { decode: decoded - started, preprocess: performance.now() - decoded } };
}

export interface PreprocessForModelOptions extends PreprocessOptions {
  /** Also return the full-size oriented RGB image (for overlays); the compressed bytes are still decoded once. */
  keepImage?: boolean;
}

async function preprocessKeepingImage(
  bytes: Uint8Array,
  input: InputConfig,
  maxPixels: number,
): Promise<PreprocessedImage & { rgb: RawImage }> {
  const started = performance.now();
  const info = await probeImage(bytes, maxPixels);
  const source: ImageSource = { kind: 'encoded', bytes, info, maxPixels };
  const rgb = await readRgb(openSource(source), source);
  const transform = computeTransform(rgb.width, rgb.height, input);
  const content = await resampleToContent({ kind: 'raw', image: rgb }, transform);
  const decoded = performance.now();
  const tensor = tensorOf(content, transform, input);
  return {
    ...tensor,
    info,
    rgb,
    timings: { decode: decoded - started, preprocess: performance.now() - decoded },
  };
}

/**
 * `preprocess`, plus the full-size oriented RGB image in `rgb` when `keepImage` is set. Then the image is
 * decoded in full once and the tensor is resized from those pixels; for 8-bit images the tensor is the same as
 * without `keepImage` (16-bit ones may differ by one level: they are reduced to 8 bits before resizing).
 */
export function preprocessForModel(
  bytes: Uint8Array,
  input: InputConfig,
  options: PreprocessOptions & { keepImage: true },
): Promise<PreprocessedImage & { rgb: RawImage }>;
export function preprocessForModel(
  bytes: Uint8Array,
  input: InputConfig,
  options: PreprocessForModelOptions,
): Promise<PreprocessedImage & { rgb?: RawImage }>;
export function preprocessForModel(
  bytes: Uint8Array,
  input: InputConfig,
  options: PreprocessForModelOptions,
): Promise<PreprocessedImage & { rgb?: RawImage }> {
  return options.keepImage
    ? preprocessKeepingImage(bytes, input, options.maxPixels)
    : preprocess(bytes, input, options);
}

/** The model input for pixels already decoded and oriented (1, 3 or 4 channels; alpha ignored). */
export async function preprocessRaw(raw: RawImage, input: InputConfig): Promise<PreprocessedTensor> {
  const transform = computeTransform(raw.width, raw.height, input);
  const content = await resampleToContent({ kind: 'raw', image: raw }, transform);
  return tensorOf(content, transform, input);
}
