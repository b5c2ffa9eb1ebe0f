/**
 * Convolutions: CONV_2D, DEPTHWISE_CONV_2D, TRANSPOSE_CONV and MediaPipe's custom Convolution2DTransposeBias,
 * as ONNX Conv / ConvTranspose in NCHW with explicit (possibly asymmetric) pads, so TFLite's padding is
 * reproduced exactly rather than through ONNX's auto_pad rules. Filters are constants, re-laid out at import.
 */
import { type ConversionContext, transposeData } from '../context.js';
import type { Conv2DOptions, TfliteOperator, TfliteTensor } from '../reader.js';
import type { Activation, Padding } from '../schema.js';
import { type OperatorConverter, requirePositive, requireRank, requireShape } from './common.js';
import { type AxisWindow, windowAxis } from './padding.js';

/** TFLite filter [O, H, W, I] -> `perm` applied to its constant values, as an initializer. */
function filterValue(
  ctx: ConversionContext,
  op: TfliteOperator,
  k: number,
  perm: number[],
  suffix: string,
): string {
  const filter = ctx.input(op, k);
  const data = transposeData(ctx.floatConstant(op, k), filter.shape, perm);
  return ctx.graph.floatInitializer(
    `${filter.name}/${suffix}`,
    perm.map((p) => filter.shape[p]),
    data,
  );
}

/** The optional bias input `k` ([channels]), or nothing when the operator omits it. */
function biasValue(ctx: ConversionContext, op: TfliteOperator, k: number, channels: number): string[] {
  if (!ctx.hasInput(op, k)) return [];
  const bias = ctx.input(op, k);
  if (bias.shape.join() !== String(channels)) {
    throw ctx.invalid(op, `bias ${bias.name} has shape [${bias.shape}], expected [${channels}]`);
  }
  return [ctx.value(op, k, 'nhwc')];
}

const pads = (y: AxisWindow, x: AxisWindow) => ({ ints: [y.before, x.before, y.after, x.after] });

interface ConvOperands {
  o: Omit<Conv2DOptions, 'type'>;
  input: TfliteTensor;
  filter: TfliteTensor;
}

/** The operands CONV_2D and DEPTHWISE_CONV_2D share: a 4-D input and filter, positive strides and dilations. */
function convOperands<K extends 'Conv2DOptions' | 'DepthwiseConv2DOptions'>(
  ctx: ConversionContext,
  op: TfliteOperator,
  optionsName: K,
) {
  ctx.arity(op, 2, 3);
  const o = ctx.options(op, optionsName);
  const input = ctx.input(op, 0);
  const filter = ctx.input(op, 1);
  requireRank(ctx, op, input, 4);
  requireRank(ctx, op, filter, 4);
  requirePositive(ctx, op, {
    stride_h: o.strideH,
    stride_w: o.strideW,
    dilation_h_factor: o.dilationH,
    dilation_w_factor: o.dilationW,
  });
  return { o, input, filter };
}

interface ForwardConv {
  /** Takes the TFLite filter to ONNX's [O, I / groups, H, W]. */
  filterPerm: number[];
  outC: number;
  groups: number;
}

/** One ONNX Conv over the TFLite window (SAME/VALID pads made explicit), with the fused activation after it. */
function forwardConv(
  ctx: ConversionContext,
  op: TfliteOperator,
  { o, input, filter }: ConvOperands,
  spec: ForwardConv,
): void {
  const [n, h, w] = input.shape;
  const [, kh, kw] = filter.shape;
  const y = windowAxis(o.padding, h, kh, o.strideH, o.dilationH);
  const x = windowAxis(o.padding, w, kw, o.strideW, o.dilationW);
  requireShape(ctx, op, [n, y.size, x.size, spec.outC]);
  const output = ctx.output(op);
  const conv = ctx.graph.node(
    'Conv',
    [
      ctx.value(op, 0, 'nchw'),
      filterValue(ctx, op, 1, spec.filterPerm, 'oihw'),
      ...biasValue(ctx, op, 2, spec.outC),
    ],
    {
      kernel_shape: { ints: [kh, kw] },
      strides: { ints: [o.strideH, o.strideW] },
      dilations: { ints: [o.dilationH, o.dilationW] },
      pads: pads(y, x),
      group: { int: spec.groups },
    },
    output.name,
  );
  ctx.define(op, ctx.activate(op, conv, o.activation, output.name), 'nchw');
}

const conv2d: OperatorConverter = (ctx, op) => {
  const operands = convOperands(ctx, op, 'Conv2DOptions');
  const { input, filter } = operands;
  const c = input.shape[3];
  const [outC, , , groupC] = filter.shape;
  // TFLite runs a grouped convolution when the input has a multiple of the filter's input channels.
  const groups = c / groupC;
  if (!Number.isInteger(groups) || outC % groups !== 0) {
    throw ctx.invalid(op, `a [${filter.shape}] filter cannot convolve ${c} input channels`);
  }
  forwardConv(ctx, op, operands, { filterPerm: [0, 3, 1, 2], outC, groups });
};

/**
 * The filter is [1, H, W, C * multiplier]: output channel `c * multiplier + m` reads input channel c, which is
 * ONNX's grouped convolution with one group per input channel and weights [C * multiplier, 1, H, W].
 */
const depthwiseConv2d: OperatorConverter = (ctx, op) => {
  const operands = convOperands(ctx, op, 'DepthwiseConv2DOptions');
  const { o, input, filter } = operands;
  const c = input.shape[3];
  const [one, , , outC] = filter.shape;
  const multiplier = outC / c;
  if (one !== 1 || !Number.isInteger(multiplier)) {
    throw ctx.invalid(op, `a [${filter.shape}] depthwise filter does not fit ${c} input channels`);
  }
  // Newer TFLite kernels derive the multiplier from the shapes and ignore the option; a file whose option
  // says otherwise would compute differently under older kernels, so it is refused rather than guessed.
  if (o.depthMultiplier !== 0 && o.depthMultiplier !== multiplier) {
    throw ctx.unsupported(
      op,
      `depth_multiplier ${o.depthMultiplier} disagrees with the filter (${outC} channels from ${c})`,
    );
  }
  forwardConv(ctx, op, operands, { filterPerm: [3, 0, 1, 2], outC, groups: c });
};

interface TransposedConv {
  input: number;
  filter: number;
  bias: number;
  strideH: number;
  strideW: number;
  /** Rows (columns) cropped off the start of the full transposed output. */
  padTop: number;
  padLeft: number;
  outH: number;
  outW: number;
  activation: Activation;
}

/**
 * A transposed convolution with filter [O, H, W, I]: input cell (y, x) adds `filter * value` to the output
 * window starting at (y * stride - padTop, x * stride - padLeft); cells outside [0, out) are dropped. ONNX
 * ConvTranspose computes the same with pads (padTop, padLeft) and end pads that crop the full output
 * (stride * (in - 1) + kernel) to `out`, or output_padding when `out` is larger than that.
 */
function transposedConv(ctx: ConversionContext, op: TfliteOperator, spec: TransposedConv): void {
  const input = ctx.input(op, spec.input);
  const filter = ctx.input(op, spec.filter);
  requireRank(ctx, op, input, 4);
  requireRank(ctx, op, filter, 4);
  requirePositive(ctx, op, { stride_h: spec.strideH, stride_w: spec.strideW });
  const [n, h, w, c] = input.shape;
  const [outC, kh, kw, inC] = filter.shape;
  if (inC !== c) throw ctx.invalid(op, `a [${filter.shape}] filter cannot take ${c} input channels`);
  requireShape(ctx, op, [n, spec.outH, spec.outW, outC]);
  const endY = spec.strideH * (h - 1) + kh - spec.padTop - spec.outH;
  const endX = spec.strideW * (w - 1) + kw - spec.padLeft - spec.outW;
  if (-endY >= spec.strideH || -endX >= spec.strideW) {
    throw ctx.unsupported(op, `output ${spec.outH}x${spec.outW} extends past what the input reaches`);
  }
  const output = ctx.output(op);
  const conv = ctx.graph.node(
    'ConvTranspose',
    [
      ctx.value(op, spec.input, 'nchw'),
      filterValue(ctx, op, spec.filter, [3, 0, 1, 2], 'iohw'),
      ...biasValue(ctx, op, spec.bias, outC),
    ],
    {
      kernel_shape: { ints: [kh, kw] },
      strides: { ints: [spec.strideH, spec.strideW] },
      pads: { ints: [spec.padTop, spec.padLeft, Math.max(0, endY), Math.max(0, endX)] },
      output_padding: { ints: [Math.max(0, -endY), Math.max(0, -endX)] },
    },
    output.name,
  );
  ctx.define(op, ctx.activate(op, conv, spec.activation, output.name), 'nchw');
}

/**
 * TRANSPOSE_CONV (inputs: output shape, filter, input, optional bias). TFLite pads as a forward convolution
 * from the output back to the input would: padTop = floor(total / 2) of that convolution's SAME/VALID window.
 */
const transposeConv: OperatorConverter = (ctx, op) => {
  ctx.arity(op, 3, 4);
  const o = ctx.options(op, 'TransposeConvOptions');
  requirePositive(ctx, op, { stride_h: o.strideH, stride_w: o.strideW });
  const shape = ctx.intConstant(op, 0);
  if (shape.length !== 4) throw ctx.invalid(op, `output shape [${shape}] is not 4-D`);
  const output = ctx.output(op);
  if (shape.join() !== output.shape.join()) {
    throw ctx.invalid(op, `output shape input [${shape}] differs from the output's [${output.shape}]`);
  }
  const [, kh, kw] = ctx.input(op, 1).shape;
  const [, outH, outW] = shape;
  transposedConv(ctx, op, {
    input: 2,
    filter: 1,
    bias: 3,
    strideH: o.strideH,
    strideW: o.strideW,
    padTop: windowAxis(o.padding, outH, kh, o.strideH).before,
    padLeft: windowAxis(o.padding, outW, kw, o.strideW).before,
    outH,
    outW,
    activation: o.activation,
  });
};

/** MediaPipe's custom options: TfLiteTransposeConvParams, three little-endian int32s. */
const MEDIAPIPE_PADDING: Record<number, Padding> = { 1: 'SAME', 2: 'VALID' };

/**
 * MediaPipe's Convolution2DTransposeBias (mediapipe/util/tflite/operations/transpose_conv_bias.cc): inputs
 * input, filter [O, H, W, I], bias [O]. SAME pads a total of max(0, kernel - (in - 1) % stride - 1), floor half
 * of it at the start; the output is stride * (in - 1) + kernel - total.
 */
const convolution2DTransposeBias: OperatorConverter = (ctx, op) => {
  ctx.arity(op, 3);
  const raw = op.customOptions;
  if (!raw || raw.length < 12)
    throw ctx.invalid(op, `custom options hold ${raw?.length ?? 0} bytes, expected 12`);
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const paddingCode = view.getInt32(0, true);
  const padding = MEDIAPIPE_PADDING[paddingCode];
  if (!padding) throw ctx.unsupported(op, `padding code ${paddingCode} (expected 1 for SAME or 2 for VALID)`);
  const strideW = view.getInt32(4, true);
  const strideH = view.getInt32(8, true);
  requirePositive(ctx, op, { stride_h: strideH, stride_w: strideW });
  const [, h, w] = ctx.input(op, 0).shape;
  const [, kh, kw] = ctx.input(op, 1).shape;
  const total = (size: number, kernel: number, stride: number) =>
    padding === 'SAME' ? Math.max(0, kernel - ((size - 1) % stride) - 1) : 0;
  const totalY = total(h, kh, strideH);
  const totalX = total(w, kw, strideW);
  transposedConv(ctx, op, {
    input: 0,
    filter: 1,
    bias: 2,
    strideH,
    strideW,
    padTop: Math.floor(totalY / 2),
    padLeft: Math.floor(totalX / 2),
    outH: strideH * (h - 1) + kh - totalY,
    outW: strideW * (w - 1) + kw - totalX,
    activation: 'NONE',
  });
};

export const convolutionConverters: Record<string, OperatorConverter> = {
  CONV_2D: conv2d,
  DEPTHWISE_CONV_2D: depthwiseConv2d,
  TRANSPOSE_CONV: transposeConv,
};

/** Custom operators, by custom code. */
export const customConvolutionConverters: Record<string, OperatorConverter> = {
  Convolution2DTransposeBias: convolution2DTransposeBias,
};
