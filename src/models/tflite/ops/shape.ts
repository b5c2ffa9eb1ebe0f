/**
 * Operators that move or reduce data along axes: RESHAPE, CONCATENATION, MEAN, PAD, PADV2. Concatenation,
 * mean (keeping dimensions) and pad stay in NCHW when their input is, with axes remapped; reshape works on
 * the TFLite (NHWC) element order, so it transposes back first when needed.
 */

import type { ConversionContext } from '../context.js';
import { elementCount, type Layout, NCHW_AXIS, TO_NCHW } from '../context.js';
import type { TfliteOperator } from '../reader.js';
import { type OperatorConverter, requireShape } from './common.js';

function normalizeAxis(ctx: ConversionContext, op: TfliteOperator, axis: number, rank: number): number {
  const normalized = axis < 0 ? axis + rank : axis;
  if (normalized < 0 || normalized >= rank)
    throw ctx.invalid(op, `axis ${axis} is out of range for rank ${rank}`);
  return normalized;
}

/** NCHW for a 4-D input held in NCHW, else the TFLite layout. */
function followLayout(ctx: ConversionContext, op: TfliteOperator): Layout {
  return ctx.input(op, 0).shape.length === 4 && ctx.layoutOf(op, 0) === 'nchw' ? 'nchw' : 'nhwc';
}

/** The declared output shape is what TFLite resolved the new shape (input 1 or options) to. */
const reshape: OperatorConverter = (ctx, op) => {
  ctx.arity(op, 1, 2);
  const input = ctx.input(op, 0);
  const output = ctx.output(op);
  if (elementCount(input.shape) !== elementCount(output.shape)) {
    throw ctx.invalid(op, `cannot reshape [${input.shape}] to [${output.shape}]`);
  }
  const shape = ctx.graph.int64Initializer(`${output.name}/shape`, output.shape);
  ctx.define(op, ctx.graph.node('Reshape', [ctx.value(op, 0, 'nhwc'), shape], {}, output.name), 'nhwc');
};

const concatenation: OperatorConverter = (ctx, op) => {
  if (op.inputs.length < 1) throw ctx.invalid(op, 'has no inputs');
  ctx.arity(op, op.inputs.length);
  const o = ctx.options(op, 'ConcatenationOptions');
  const output = ctx.output(op);
  const rank = output.shape.length;
  const axis = normalizeAxis(ctx, op, o.axis, rank);
  const inputs = op.inputs.map((_, k) => k);
  for (const k of inputs) {
    const shape = ctx.input(op, k).shape;
    if (shape.length !== rank || shape.some((d, i) => i !== axis && d !== output.shape[i])) {
      throw ctx.invalid(op, `input ${k} [${shape}] does not fit output [${output.shape}] along axis ${axis}`);
    }
  }
  const layout = rank === 4 ? ctx.commonLayout(op, inputs) : 'nhwc';
  const joined = ctx.graph.node(
    'Concat',
    inputs.map((k) => ctx.value(op, k, layout)),
    { axis: { int: layout === 'nchw' ? NCHW_AXIS[axis] : axis } },
    output.name,
  );
  ctx.define(op, ctx.activate(op, joined, o.activation, output.name), layout);
};

const mean: OperatorConverter = (ctx, op) => {
  ctx.arity(op, 2);
  const { keepDims } = ctx.options(op, 'ReducerOptions');
  const input = ctx.input(op, 0);
  const rank = input.shape.length;
  const axes = [...new Set(ctx.intConstant(op, 1).map((a) => normalizeAxis(ctx, op, a, rank)))].sort();
  if (axes.length === 0) throw ctx.unsupported(op, 'no axes to reduce');
  requireShape(
    ctx,
    op,
    input.shape.flatMap((d, i) => (axes.includes(i) ? (keepDims ? [1] : []) : [d])),
  );
  const layout = keepDims ? followLayout(ctx, op) : 'nhwc';
  const output = ctx.output(op);
  const reduced = ctx.graph.node(
    'ReduceMean',
    [ctx.value(op, 0, layout)],
    {
      axes: { ints: layout === 'nchw' ? axes.map((a) => NCHW_AXIS[a]) : axes },
      keepdims: { int: keepDims ? 1 : 0 },
    },
    output.name,
  );
  ctx.define(op, reduced, layout);
};

/** PAD pads with zeros, PADV2 with its scalar input 2; paddings are [rank, 2] (before, after) per axis. */
function pad(withValue: boolean): OperatorConverter {
  return (ctx, op) => {
    ctx.arity(op, withValue ? 3 : 2);
    const input = ctx.input(op, 0);
    const rank = input.shape.length;
    const paddings = ctx.intConstant(op, 1);
    if (paddings.length !== 2 * rank || paddings.some((p) => p < 0)) {
      throw ctx.unsupported(
        op,
        `paddings [${paddings}] for rank ${rank} (negative paddings are not supported)`,
      );
    }
    requireShape(
      ctx,
      op,
      input.shape.map((d, i) => d + paddings[2 * i] + paddings[2 * i + 1]),
    );
    const layout = followLayout(ctx, op);
    const order = layout === 'nchw' ? TO_NCHW : input.shape.map((_, i) => i);
    const output = ctx.output(op);
    const pads = ctx.graph.int64Initializer(`${output.name}/pads`, [
      ...order.map((a) => paddings[2 * a]),
      ...order.map((a) => paddings[2 * a + 1]),
    ]);
    const inputs = [ctx.value(op, 0, layout), pads];
    if (withValue) {
      const value = ctx.floatConstant(op, 2);
      if (value.length !== 1) throw ctx.invalid(op, 'the pad value is not a scalar');
      inputs.push(ctx.scalar(value[0]));
    }
    ctx.define(op, ctx.graph.node('Pad', inputs, { mode: { string: 'constant' } }, output.name), layout);
  };
}

export const shapeConverters: Record<string, OperatorConverter> = {
  RESHAPE: reshape,
  CONCATENATION: concatenation,
  MEAN: mean,
  PAD: pad(false),
  PADV2: pad(true),
};
