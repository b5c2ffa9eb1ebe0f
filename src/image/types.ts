/** Decoded pixels, row-major, interleaved channels, 8 bits per channel. */
export interface RawImage {
  width: number;
  height: number;
  channels: 1 | 3 | 4;
  data: Uint8Array;
}

/**
 * How original-image coordinates map to model-input coordinates:
 * `x_input = x_orig * scaleX + padLeft`, `y_input = y_orig * scaleY + padTop`.
 * Letterbox has scaleX === scaleY and padding; stretch has no padding.
 * `sourceWidth/Height` are the image size after EXIF orientation (what a person sees).
 */
export interface InputTransform {
  sourceWidth: number;
  sourceHeight: number;
  inputWidth: number;
  inputHeight: number;
  scaleX: number;
  scaleY: number;
  padLeft: number;
  padTop: number;
  /** Width and height of the resized image inside the input, before padding. */
  contentWidth: number;
  contentHeight: number;
}

/**
 * How a model wants its input tensor made. The model repository's `input:` config (models/config.ts) has this
 * shape; it is declared here so that the image layer depends on nothing above it.
 */
export interface InputSpec {
  width: number;
  height: number;
  resize: 'letterbox' | 'stretch';
  /** Grey level (0..255, before normalisation) of letterbox padding. */
  pad_value: number;
  layout: 'NCHW' | 'NHWC';
  color: 'RGB' | 'BGR';
  /** value = (pixel * scale - mean[c]) / std[c], per channel in `color` order. */
  scale: number;
  mean: readonly [number, number, number];
  std: readonly [number, number, number];
  /** Reduce large images with libvips' shrink-on-load and a linear kernel instead of OpenCV's bilinear. */
  shrink_on_load?: boolean;
}
