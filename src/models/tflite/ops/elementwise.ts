/**
 * Element-wise operators and activations. They compute in whichever layout their inputs are held in (see
 * context.ts), so they add no transposes between convolutions. TFLite broadcasts binary operands as NumPy
 * does, as ONNX does; a constant operand is reshaped to rank 4 and transposed when the operator runs in NCHW.
 */
import type { ConversionContext } from '../context.js';
import type { OperatorConverter } from './common.js';

type ArithmeticTable = 'AddOptions' | 'SubOptions' | 'MulOptions' | 'DivOptions';

function binary(onnxOp: string, table?: ArithmeticTable): OperatorConverter {
  return (ctx, op) => {
    ctx.arity(op, 2);
    const layout = ctx.commonLayout(op, [0, 1]);
    const output = ctx.output(op);
    const result = ctx.graph.node(
      onnxOp,
      [ctx.value(op, 0, layout), ctx.value(op, 1, layout)],
      {},
      output.name,
    );
    const activation = table ? ctx.options(op, table).activation : 'NONE';
    ctx.define(op, ctx.activate(op, result, activation, output.name), layout);
  };
}

function unary(build: (ctx: ConversionContext, x: string, hint: string) => string): OperatorConverter {
  return (ctx, op) => {
    ctx.arity(op, 1);
    const layout = ctx.layoutOf(op, 0) ?? 'nhwc';
    ctx.define(op, build(ctx, ctx.value(op, 0, layout), ctx.output(op).name), layout);
  };
}

const simple = (onnxOp: string) => unary((ctx, x, hint) => ctx.graph.node(onnxOp, [x], {}, hint));
const clip = (min: number, max: number) => unary((ctx, x, hint) => ctx.clip(x, min, max, hint));

/** TFLite: x > 0 ? x : alpha * x; ONNX LeakyRelu: x < 0 ? alpha * x : x (equal at 0). */
const leakyRelu: OperatorConverter = (ctx, op) => {
  const { alpha } = ctx.options(op, 'LeakyReluOptions');
  unary((c, x, hint) => c.graph.node('LeakyRelu', [x], { alpha: { float: alpha } }, hint))(ctx, op);
};

/**
 * TFLite: softmax(beta * x) over the last axis (the channels, axis 1 in NCHW). ONNX Softmax has no beta, so a
 * beta other than 1 is a multiplication first.
 */
const softmax: OperatorConverter = (ctx, op) => {
  ctx.arity(op, 1);
  const { beta } = ctx.options(op, 'SoftmaxOptions');
  const layout = ctx.layoutOf(op, 0) ?? 'nhwc';
  const output = ctx.output(op);
  let x = ctx.value(op, 0, layout);
  if (beta !== 1) x = ctx.graph.node('Mul', [x, ctx.scalar(beta)], {}, `${output.name}/scaled`);
  const axis = layout === 'nchw' ? 1 : -1;
  ctx.define(op, ctx.graph.node('Softmax', [x], { axis: { int: axis } }, output.name), layout);
};

export const elementwiseConverters: Record<string, OperatorConverter> = {
  ADD: binary('Add', 'AddOptions'),
  SUB: binary('Sub', 'SubOptions'),
  MUL: binary('Mul', 'MulOptions'),
  DIV: binary('Div', 'DivOptions'),
  MAXIMUM: binary('Max'),
  MINIMUM: binary('Min'),
  RELU: simple('Relu'),
  RELU6: clip(0, 6),
  RELU_N1_TO_1: clip(-1, 1),
  RELU_0_TO_1: clip(0, 1),
  LOGISTIC: simple('Sigmoid'),
  TANH: simple('Tanh'),
  // TFLite: x * relu6(x + 3) / 6; ONNX HardSwish: x * max(0, min(1, x / 6 + 0.5)), the same function.
  HARD_SWISH: simple('HardSwish'),
  LEAKY_RELU: leakyRelu,
  SOFTMAX: softmax,
};
