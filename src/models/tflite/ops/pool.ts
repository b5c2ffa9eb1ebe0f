/**
 * AVERAGE_POOL_2D and MAX_POOL_2D as ONNX AveragePool / MaxPool in NCHW with TFLite's explicit pads. TFLite
 * averages only the cells of a window that lie inside the input, which is count_include_pad = 0.
 */
import { type OperatorConverter, requirePositive, requireRank, requireShape } from './common.js';
import { windowAxis } from './padding.js';

function pool(onnxOp: 'AveragePool' | 'MaxPool'): OperatorConverter {
  return (ctx, op) => {
    ctx.arity(op, 1);
    const o = ctx.options(op, 'Pool2DOptions');
    const input = ctx.input(op, 0);
    requireRank(ctx, op, input, 4);
    requirePositive(ctx, op, {
      stride_h: o.strideH,
      stride_w: o.strideW,
      filter_height: o.filterH,
      filter_width: o.filterW,
    });
    const [n, h, w, c] = input.shape;
    const y = windowAxis(o.padding, h, o.filterH, o.strideH);
    const x = windowAxis(o.padding, w, o.filterW, o.strideW);
    requireShape(ctx, op, [n, y.size, x.size, c]);
    const output = ctx.output(op);
    const pooled = ctx.graph.node(
      onnxOp,
      [ctx.value(op, 0, 'nchw')],
      {
        kernel_shape: { ints: [o.filterH, o.filterW] },
        strides: { ints: [o.strideH, o.strideW] },
        pads: { ints: [y.before, x.before, y.after, x.after] },
        ...(onnxOp === 'AveragePool' ? { count_include_pad: { int: 0 } } : {}),
      },
      output.name,
    );
    ctx.define(op, ctx.activate(op, pooled, o.activation, output.name), 'nchw');
  };
}

export const poolConverters: Record<string, OperatorConverter> = {
  AVERAGE_POOL_2D: pool('AveragePool'),
  MAX_POOL_2D: pool('MaxPool'),
};
