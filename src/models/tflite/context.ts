/**
 * State shared by the operator converters: which ONNX value holds each TFLite tensor, in which layout, and
 * the constants computed at import time.
 *
 * Layout: TFLite is NHWC; ONNX Conv, ConvTranspose and the pools are NCHW. A 4-D activation may be held as
 * `nhwc` (exactly the TFLite tensor) or `nchw` (the same tensor transposed with perm [0,3,1,2]), or both. Each
 * converter asks for its inputs in the layout it computes in, and a Transpose is inserted only when a tensor
 * exists only in the other one (at most once per tensor and layout). Layout-neutral operators (element-wise,
 * activations, softmax; concatenation, mean and pad with remapped axes) follow their inputs and resize computes
 * in NCHW, so a chain of convolutions stays NCHW from the first transpose after the graph input to the last one
 * before the output; only RESHAPE (which works on the TFLite element order) goes back to NHWC.
 */
import { SegserveError } from '../../errors.js';
import { OnnxGraph } from './onnx-graph.js';
import {
  type BuiltinOptions,
  defaultOptions,
  type OptionTables,
  type TfliteOperator,
  type TfliteSubgraph,
  type TfliteTensor,
} from './reader.js';
import type { Activation, OptionTableName } from './schema.js';

export type Layout = 'nhwc' | 'nchw';

/** NHWC axis -> its position in NCHW. */
export const NCHW_AXIS = [0, 2, 3, 1];
export const TO_NCHW = [0, 3, 1, 2];
export const TO_NHWC = [0, 2, 3, 1];

interface Held {
  nhwc?: string;
  nchw?: string;
}

export function elementCount(shape: number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** Row-major transpose of `data` (shape `shape`) by `perm`. */
export function transposeData(data: Float32Array, shape: number[], perm: number[]): Float32Array {
  const rank = shape.length;
  const outShape = perm.map((p) => shape[p]);
  const inStrides = new Array<number>(rank);
  for (let i = rank - 1, s = 1; i >= 0; i--) {
    inStrides[i] = s;
    s *= shape[i];
  }
  const strides = perm.map((p) => inStrides[p]);
  const out = new Float32Array(data.length);
  const index = new Array<number>(rank).fill(0);
  for (let o = 0; o < out.length; o++) {
    let offset = 0;
    for (let d = 0; d < rank; d++) offset += index[d] * strides[d];
    out[o] = data[offset];
    for (let d = rank - 1; d >= 0; d--) {
      if (++index[d] < outShape[d]) break;
      index[d] = 0;
    }
  }
  return out;
}

/** `shape` with leading 1s up to rank 4: how a lower-rank operand broadcasts against an NHWC tensor. */
function asRank4(shape: number[]): number[] {
  return [...new Array<number>(4 - shape.length).fill(1), ...shape];
}

export class ConversionContext {
  readonly graph = new OnnxGraph();
  readonly #subgraph: TfliteSubgraph;
  readonly #held = new Map<number, Held>();
  /** Constants produced at import time (dequantised weights), by tensor index. */
  readonly #folded = new Map<number, Float32Array>();
  /** Initializers already written, by `tensor index/layout` or `scalar value`. */
  readonly #initializers = new Map<string, string>();

  constructor(subgraph: TfliteSubgraph) {
    this.#subgraph = subgraph;
  }

  tensor(index: number): TfliteTensor {
    return this.#subgraph.tensors[index];
  }

  unsupported(op: TfliteOperator, reason: string): SegserveError {
    return new SegserveError('TFLITE_UNSUPPORTED_OPERATOR', { index: op.index, operator: op.name, reason });
  }

  invalid(op: TfliteOperator, reason: string): SegserveError {
    return new SegserveError('TFLITE_INVALID', { reason: `operator ${op.index} (${op.name}): ${reason}` });
  }

  /** The operator's options table `name`; an operator stored without one runs with the table's defaults. */
  options<K extends OptionTableName>(op: TfliteOperator, name: K): OptionTables[K] {
    const options: BuiltinOptions | undefined = op.options;
    if (!options) return defaultOptions(name);
    if (options.type !== name) {
      const found = options.type === 'undecoded' ? `options table #${options.code}` : options.type;
      throw this.invalid(op, `carries ${found}, expected ${name}`);
    }
    return options as OptionTables[K];
  }

  /** Inputs `min`..`max` must be given (an omitted optional input, -1, counts as absent). */
  arity(op: TfliteOperator, min: number, max = min): void {
    const given = op.inputs.filter((i) => i >= 0).length;
    if (op.inputs.length < min || op.inputs.length > max || given < min) {
      throw this.invalid(op, `expects ${min === max ? min : `${min} to ${max}`} inputs, has ${given}`);
    }
    if (op.outputs.length !== 1) throw this.invalid(op, `expects 1 output, has ${op.outputs.length}`);
  }

  hasInput(op: TfliteOperator, k: number): boolean {
    return (op.inputs[k] ?? -1) >= 0;
  }

  input(op: TfliteOperator, k: number): TfliteTensor {
    const index = op.inputs[k] ?? -1;
    if (index < 0) throw this.invalid(op, `input ${k} is missing`);
    return this.tensor(index);
  }

  output(op: TfliteOperator): TfliteTensor {
    return this.tensor(op.outputs[0]);
  }

  isConstant(tensor: TfliteTensor): boolean {
    return tensor.data !== undefined || this.#folded.has(tensor.index);
  }

  /** The bytes of constant input `k`, dense as its shape says. */
  constantBytes(op: TfliteOperator, k: number): Uint8Array {
    const tensor = this.input(op, k);
    if (!tensor.data) throw this.unsupported(op, `input ${k} (${tensor.name}) must be a constant`);
    if (tensor.sparse) throw this.unsupported(op, `input ${k} (${tensor.name}) is a sparse constant`);
    return tensor.data;
  }

  /** Float values of a constant input: float32 data or a dequantised constant. */
  floatConstant(op: TfliteOperator, k: number): Float32Array {
    const tensor = this.input(op, k);
    const folded = this.#folded.get(tensor.index);
    if (folded) return folded;
    const data = this.constantBytes(op, k);
    if (tensor.type !== 'float32') {
      throw this.unsupported(op, `constant input ${k} (${tensor.name}) is ${tensor.type}, not float32`);
    }
    return readFloat32(data);
  }

  /** Integer values of a constant int32/int64 input (shapes, sizes, axes, paddings). */
  intConstant(op: TfliteOperator, k: number): number[] {
    const tensor = this.input(op, k);
    const data = this.constantBytes(op, k);
    const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
    if (tensor.type === 'int32')
      return Array.from({ length: data.length / 4 }, (_, i) => view.getInt32(4 * i, true));
    if (tensor.type === 'int64') {
      return Array.from({ length: data.length / 8 }, (_, i) => Number(view.getBigInt64(8 * i, true)));
    }
    throw this.invalid(op, `input ${k} (${tensor.name}) is ${tensor.type}, expected int32`);
  }

  fold(tensor: TfliteTensor, values: Float32Array): void {
    this.#folded.set(tensor.index, values);
  }

  /** Where an activation input is held now; undefined for constants. */
  layoutOf(op: TfliteOperator, k: number): Layout | undefined {
    const held = this.#held.get(this.input(op, k).index);
    return held && (held.nchw ? 'nchw' : 'nhwc');
  }

  /**
   * The layout an element-wise operator computes in: NCHW when an input already is and every other input is a
   * 4-D activation or a constant of rank <= 4 (which broadcasts the same once reshaped and transposed).
   */
  commonLayout(op: TfliteOperator, inputs: number[]): Layout {
    const anyNchw = inputs.some((k) => this.layoutOf(op, k) === 'nchw');
    const allFit = inputs.every((k) => {
      const t = this.input(op, k);
      return this.isConstant(t) ? t.shape.length <= 4 : t.shape.length === 4;
    });
    return anyNchw && allFit ? 'nchw' : 'nhwc';
  }

  /** The ONNX value of input `k` in `layout` (constants become initializers). */
  value(op: TfliteOperator, k: number, layout: Layout): string {
    const tensor = this.input(op, k);
    if (this.isConstant(tensor)) return this.#constantValue(op, k, tensor, layout);
    const held = this.#held.get(tensor.index);
    if (!held && tensor.isVariable)
      throw this.unsupported(op, `reads variable ${tensor.name}: stateful models are not imported`);
    if (!held) throw this.invalid(op, `input ${k} (${tensor.name}) is used before any operator computes it`);
    const have = held[layout];
    if (have) return have;
    if (tensor.shape.length !== 4) throw this.invalid(op, `${tensor.name} is not 4-D`);
    const from = layout === 'nchw' ? held.nhwc! : held.nchw!;
    const perm = layout === 'nchw' ? TO_NCHW : TO_NHWC;
    const name = this.graph.node('Transpose', [from], { perm: { ints: perm } }, `${tensor.name}/${layout}`);
    held[layout] = name;
    return name;
  }

  #constantValue(op: TfliteOperator, k: number, tensor: TfliteTensor, layout: Layout): string {
    const key = `${tensor.index}/${layout}`;
    const cached = this.#initializers.get(key);
    if (cached) return cached;
    const data = this.floatConstant(op, k);
    const shape = asRank4(tensor.shape);
    const name =
      layout === 'nhwc'
        ? this.graph.floatInitializer(tensor.name, tensor.shape, data)
        : this.graph.floatInitializer(
            `${tensor.name}/nchw`,
            TO_NCHW.map((p) => shape[p]),
            transposeData(data, shape, TO_NCHW),
          );
    this.#initializers.set(key, name);
    return name;
  }

  /** A float32 scalar initializer, shared by every use of the same value. */
  scalar(value: number): string {
    const key = `scalar ${value}`;
    let name = this.#initializers.get(key);
    if (!name) {
      name = this.graph.floatInitializer(`const_${value}`, [], Float32Array.of(value));
      this.#initializers.set(key, name);
    }
    return name;
  }

  /** Records that `name` holds the operator's output in `layout`. */
  define(op: TfliteOperator, name: string, layout: Layout): void {
    this.#held.set(op.outputs[0], { [layout]: name });
  }

  /** A graph input: the TFLite tensor itself, under the ONNX name `name`. */
  defineInput(tensor: TfliteTensor, name: string): void {
    this.#held.set(tensor.index, { nhwc: name });
  }

  /** Writes a graph output into `name`, in NHWC as TFLite gives it. */
  writeOutput(tensor: TfliteTensor, name: string): void {
    const held = this.#held.get(tensor.index);
    if (!held)
      throw new SegserveError('TFLITE_INVALID', { reason: `output ${tensor.name} is never computed` });
    if (held.nhwc) this.graph.nodes('Identity', [held.nhwc], {}, [name]);
    else this.graph.nodes('Transpose', [held.nchw!], { perm: { ints: TO_NHWC } }, [name]);
  }

  /**
   * Applies a fused activation the way TFLite's float kernels do: a clamp to [0, inf), [0, 6] or [-1, 1].
   * TFLite's CPU kernels treat a fused TANH or SIGN_BIT as no clamp at all while its GPU delegate applies tanh,
   * so the result depends on the runtime; such operators are refused rather than guessed.
   */
  activate(op: TfliteOperator, value: string, activation: Activation, hint: string): string {
    switch (activation) {
      case 'NONE':
        return value;
      case 'RELU':
        return this.graph.node('Relu', [value], {}, hint);
      case 'RELU6':
        return this.clip(value, 0, 6, hint);
      case 'RELU_N1_TO_1':
        return this.clip(value, -1, 1, hint);
      default:
        throw this.unsupported(
          op,
          `fused activation ${activation}: TFLite's CPU kernels ignore it while its GPU delegate applies it`,
        );
    }
  }

  clip(value: string, min: number, max: number, hint: string): string {
    return this.graph.node('Clip', [value, this.scalar(min), this.scalar(max)], {}, hint);
  }
}

function readFloat32(bytes: Uint8Array): Float32Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return Float32Array.from({ length: bytes.length / 4 }, (_, i) => view.getFloat32(4 * i, true));
}
