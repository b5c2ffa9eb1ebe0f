/**
 * DEQUANTIZE of a constant: how TFLite stores float16 weights (and weights quantised to 8/16-bit integers
 * with a float scale). The float32 values are computed at import and the operator disappears from the graph.
 * Dequantising a tensor computed at run time means the model runs quantised, which is not imported.
 */

import { elementCount } from '../context.js';
import type { TfliteTensor } from '../reader.js';
import type { OperatorConverter } from './common.js';

/** IEEE 754 half -> float; every half is exactly representable as a float32. */
function halfToFloat(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> 10) & 0x1f;
  const fraction = bits & 0x3ff;
  if (exponent === 0) return sign * fraction * 2 ** -24;
  if (exponent === 0x1f) return fraction ? Number.NaN : sign * Number.POSITIVE_INFINITY;
  return sign * (1 + fraction / 1024) * 2 ** (exponent - 15);
}

const integerReaders: Partial<Record<TfliteTensor['type'], (view: DataView, i: number) => number>> = {
  int8: (view, i) => view.getInt8(i),
  uint8: (view, i) => view.getUint8(i),
  int16: (view, i) => view.getInt16(2 * i, true),
};

const dequantize: OperatorConverter = (ctx, op) => {
  ctx.arity(op, 1);
  const input = ctx.input(op, 0);
  const output = ctx.output(op);
  if (!input.data) {
    throw ctx.unsupported(op, `${input.name} is computed at run time: quantised models are not imported`);
  }
  if (output.type !== 'float32') throw ctx.unsupported(op, `dequantises to ${output.type}, not float32`);
  const data = ctx.constantBytes(op, 0);
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const count = elementCount(input.shape);
  if (input.type === 'float16') {
    ctx.fold(
      output,
      Float32Array.from({ length: count }, (_, i) => halfToFloat(view.getUint16(2 * i, true))),
    );
    return;
  }
  const read = integerReaders[input.type];
  const q = input.quantization;
  if (!read || !q || q.custom)
    throw ctx.unsupported(op, `cannot dequantise a ${input.type} constant without a scale`);
  // Per-axis scales repeat every `inner` elements along `quantizedDimension`.
  const channels = q.scale.length;
  const inner = channels > 1 ? elementCount(input.shape.slice(q.quantizedDimension + 1)) : count;
  if (channels > 1 && input.shape[q.quantizedDimension] !== channels) {
    throw ctx.invalid(op, `${channels} scales for dimension ${q.quantizedDimension} of [${input.shape}]`);
  }
  ctx.fold(
    output,
    Float32Array.from({ length: count }, (_, i) => {
      const c = channels > 1 ? Math.floor(i / inner) % channels : 0;
      return q.scale[c] * (read(view, i) - (q.zeroPoint[c] ?? 0));
    }),
  );
};

export const dequantizeConverters: Record<string, OperatorConverter> = { DEQUANTIZE: dequantize };
