/**
 * TFLite's window arithmetic for one spatial axis (ComputeOutSize / ComputePaddingWithOffset in
 * tensorflow/lite/kernels/padding.h). SAME gives ceil(in / stride) outputs and pads the total the window needs
 * past the input, floor(total / 2) before and the rest (one more when the total is odd) after. VALID pads
 * nothing and drops the input cells no whole window reaches.
 */
import type { Padding } from '../schema.js';

export interface AxisWindow {
  size: number;
  before: number;
  after: number;
}

export function windowAxis(
  padding: Padding,
  input: number,
  filter: number,
  stride: number,
  dilation = 1,
): AxisWindow {
  const effective = (filter - 1) * dilation + 1;
  const size =
    padding === 'SAME' ? Math.ceil(input / stride) : Math.floor((input - effective + stride) / stride);
  const total = Math.max(0, (size - 1) * stride + effective - input);
  const before = Math.floor(total / 2);
  return { size, before, after: total - before };
}
