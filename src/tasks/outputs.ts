/**
 * Reading raw model outputs: which tensor plays which role, shape checks, and numeric views of the data.
 * Every problem is a MODEL_OUTPUT_MISMATCH naming the model, the decoder and what did not fit.
 */
import { SegserveError } from '../errors.js';
import type { DecoderName } from '../models/config.js';
import type { TensorData } from '../runtime/types.js';
import type { DecodeContext } from './types.js';

export function outputMismatch(context: DecodeContext, decoder: DecoderName, reason: string): SegserveError {
  return new SegserveError('MODEL_OUTPUT_MISMATCH', { model: context.config.name ?? '', decoder, reason });
}

export function describeDims(dims: readonly number[]): string {
  return `[${dims.join(', ')}]`;
}

/**
 * Picks the tensor of every role. A role named in `config.output.names` takes that output; the other roles take
 * the outputs nobody named, in the order of `Object.keys(outputs)`. The runtime builds the record in the
 * session's output order, and JavaScript keeps insertion order for string keys, with one exception: keys that
 * look like array indices ("345") always come first, in numeric order. Models whose outputs have numeric names
 * mixed with others should therefore name their roles in config.yaml.
 */
export function resolveRoles<R extends string>(
  outputs: Record<string, TensorData>,
  roles: readonly R[],
  context: DecodeContext,
  decoder: DecoderName,
): Record<R, TensorData> {
  const names = context.config.output.names;
  const available = Object.keys(outputs);
  for (const role of Object.keys(names)) {
    if (!(roles as readonly string[]).includes(role)) {
      throw outputMismatch(
        context,
        decoder,
        `output.names has role "${role}", but this decoder reads only ${roles.join(', ')}`,
      );
    }
  }
  const claimed = new Set(Object.values(names));
  const unclaimed = available.filter((name) => !claimed.has(name));
  const picked: Partial<Record<R, TensorData>> = {};
  let next = 0;
  for (const role of roles) {
    const named = names[role];
    const name = named ?? unclaimed[next++];
    if (name === undefined) {
      throw outputMismatch(
        context,
        decoder,
        `needs outputs for roles ${roles.join(', ')}, but the model returned ${available.length} (${available.join(', ')})`,
      );
    }
    const tensor = outputs[name];
    if (tensor === undefined) {
      throw outputMismatch(
        context,
        decoder,
        `output "${name}" (role ${role}) is not among the model outputs (${available.join(', ')})`,
      );
    }
    const expected = tensor.dims.reduce((a, b) => a * b, 1);
    if (tensor.data.length !== expected) {
      throw outputMismatch(
        context,
        decoder,
        `output "${name}" has ${tensor.data.length} values for dims ${describeDims(tensor.dims)}`,
      );
    }
    picked[role] = tensor;
  }
  return picked as Record<R, TensorData>;
}

/** IEEE 754 half precision to a JS number (float16 tensors arrive as their raw 16-bit words). */
function halfToNumber(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> 10) & 0x1f;
  const fraction = bits & 0x3ff;
  if (exponent === 0) return sign * 2 ** -14 * (fraction / 1024);
  if (exponent === 0x1f) return fraction === 0 ? sign * Number.POSITIVE_INFINITY : Number.NaN;
  return sign * 2 ** (exponent - 15) * (1 + fraction / 1024);
}

/**
 * The tensor as float32 values: the data itself when it already is float32 (no copy), a converted copy
 * otherwise. Decoders run their inner loops on Float32Array only, so the loops stay monomorphic.
 */
export function toFloat32(tensor: TensorData): Float32Array {
  const { data } = tensor;
  if (data instanceof Float32Array) return data;
  const out = new Float32Array(data.length);
  if (data instanceof BigInt64Array) {
    for (let i = 0; i < data.length; i++) out[i] = Number(data[i]);
  } else if (tensor.type === 'float16') {
    for (let i = 0; i < data.length; i++) out[i] = halfToNumber(data[i]);
  } else {
    out.set(data);
  }
  return out;
}

/** Integer-valued outputs (class indices, often int64) as plain numbers. */
export function toIntegers(tensor: TensorData): Int32Array {
  const { data } = tensor;
  const out = new Int32Array(data.length);
  if (data instanceof BigInt64Array) {
    for (let i = 0; i < data.length; i++) out[i] = Number(data[i]);
  } else {
    const values = toFloat32(tensor);
    for (let i = 0; i < values.length; i++) out[i] = Math.round(values[i]);
  }
  return out;
}
