/** What every operator converter is, and checks several of them share. */
import type { ConversionContext } from '../context.js';
import type { TfliteOperator, TfliteTensor } from '../reader.js';

export type OperatorConverter = (ctx: ConversionContext, op: TfliteOperator) => void;

/** Throws TFLITE_INVALID when `tensor` is not of rank `rank`. */
export function requireRank(
  ctx: ConversionContext,
  op: TfliteOperator,
  tensor: TfliteTensor,
  rank: number,
): void {
  if (tensor.shape.length !== rank) {
    throw ctx.invalid(op, `${tensor.name} has shape [${tensor.shape}], expected rank ${rank}`);
  }
}

/** Throws TFLITE_INVALID when the output shape the file declares is not the one TFLite computes. */
export function requireShape(ctx: ConversionContext, op: TfliteOperator, expected: number[]): void {
  const output = ctx.output(op);
  if (output.shape.join() !== expected.join()) {
    throw ctx.invalid(
      op,
      `output ${output.name} is declared [${output.shape}], TFLite computes [${expected}]`,
    );
  }
}

export function requirePositive(
  ctx: ConversionContext,
  op: TfliteOperator,
  values: Record<string, number>,
): void {
  for (const [name, value] of Object.entries(values)) {
    if (!Number.isInteger(value) || value < 1)
      throw ctx.invalid(op, `${name} is ${value}, must be at least 1`);
  }
}
