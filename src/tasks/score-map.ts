/** A dense per-pixel score tensor (semantic and binary models) read in either layout without copying. */
import type { DecoderName, OutputConfig } from '../models/config.js';
import type { TensorData } from '../runtime/types.js';
import { describeDims, outputMismatch, toFloat32 } from './outputs.js';
import type { DecodeContext } from './types.js';

/** Value of channel c at cell (y, x) is data[offset + c * channelStride + y * rowStride + x * colStride]. */
export interface ScoreMap {
  data: Float32Array;
  offset: number;
  channels: number;
  height: number;
  width: number;
  channelStride: number;
  rowStride: number;
  colStride: number;
}

/**
 * Accepts [1, C, H, W] (NCHW) or [1, H, W, C] (NHWC) as `output.layout` says, and [1, H, W] as one channel.
 * Batch must be 1: a decoder reads the outputs of one image.
 */
export function readScoreMap(
  tensor: TensorData,
  layout: OutputConfig['layout'],
  context: DecodeContext,
  decoder: DecoderName,
): ScoreMap {
  const dims = tensor.dims;
  if ((dims.length !== 3 && dims.length !== 4) || dims[0] !== 1 || dims.some((d) => d <= 0)) {
    throw outputMismatch(
      context,
      decoder,
      `score map has dims ${describeDims(dims)}; expected [1, C, H, W] (NCHW), [1, H, W, C] (NHWC) or [1, H, W]`,
    );
  }
  const data = toFloat32(tensor);
  if (dims.length === 3) {
    const [, height, width] = dims;
    return { data, offset: 0, channels: 1, height, width, channelStride: 0, rowStride: width, colStride: 1 };
  }
  if (layout === 'NHWC') {
    const [, height, width, channels] = dims;
    return {
      data,
      offset: 0,
      channels,
      height,
      width,
      channelStride: 1,
      rowStride: width * channels,
      colStride: channels,
    };
  }
  const [, channels, height, width] = dims;
  return {
    data,
    offset: 0,
    channels,
    height,
    width,
    channelStride: height * width,
    rowStride: width,
    colStride: 1,
  };
}

/** One channel of a map, as a one-channel view on the same data. */
export function channelView(map: ScoreMap, channel: number): ScoreMap {
  return { ...map, offset: map.offset + channel * map.channelStride, channels: 1 };
}

/** A one-channel map holding channel b minus channel a (the logit of b against a in a two-class softmax). */
export function channelDifference(map: ScoreMap, a: number, b: number): ScoreMap {
  const { height, width } = map;
  const out = new Float32Array(height * width);
  const ia = map.offset + a * map.channelStride;
  const ib = map.offset + b * map.channelStride;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const at = y * map.rowStride + x * map.colStride;
      out[y * width + x] = map.data[ib + at] - map.data[ia + at];
    }
  }
  return {
    data: out,
    offset: 0,
    channels: 1,
    height,
    width,
    channelStride: 0,
    rowStride: width,
    colStride: 1,
  };
}
