/**
 * Writes tiny TFLite models for tests with `flatbuffers`' Builder: the tables of the published schema that the
 * importer reads, with field slots and operator codes written out here from schema.fbs (not taken from the
 * product's own tables, so a wrong code there fails a test).
 */
import { Builder } from 'flatbuffers';

/** BuiltinOperator codes of the operators the tests use (schema.fbs). */
export const OPCODES = {
  ADD: 0,
  AVERAGE_POOL_2D: 1,
  CONCATENATION: 2,
  CONV_2D: 3,
  DEPTHWISE_CONV_2D: 4,
  DEQUANTIZE: 6,
  LOGISTIC: 14,
  MAX_POOL_2D: 17,
  MUL: 18,
  RELU: 19,
  RELU_N1_TO_1: 20,
  RELU6: 21,
  RESHAPE: 22,
  RESIZE_BILINEAR: 23,
  SOFTMAX: 25,
  TANH: 28,
  CUSTOM: 32,
  PAD: 34,
  MEAN: 40,
  SUB: 41,
  DIV: 42,
  MAXIMUM: 55,
  MINIMUM: 57,
  TRANSPOSE_CONV: 67,
  LEAKY_RELU: 98,
  SQUARED_DIFFERENCE: 99,
  HARD_SWISH: 117,
  CUMSUM: 128,
} as const;

export type OpName = keyof typeof OPCODES;
export type TensorType = 'float32' | 'float16' | 'int32' | 'uint8' | 'int8';
export type Padding = 'SAME' | 'VALID';
export type Activation = 'NONE' | 'RELU' | 'RELU_N1_TO_1' | 'RELU6' | 'TANH';

const TYPE_CODES: Record<TensorType, number> = { float32: 0, float16: 1, int32: 2, uint8: 3, int8: 9 };
const PADDING_CODES: Record<Padding, number> = { SAME: 0, VALID: 1 };
const ACTIVATION_CODES: Record<Activation, number> = { NONE: 0, RELU: 1, RELU_N1_TO_1: 2, RELU6: 3, TANH: 4 };

export interface TensorSpec {
  name?: string;
  shape: number[];
  type?: TensorType;
  /** Constant contents, in `type` (numbers) or as raw bytes. */
  data?: number[] | Uint8Array;
  quantization?: { scale: number[]; zeroPoint: number[]; quantizedDimension?: number };
}

/** One scalar field of an options table: slot (schema order), kind, value. */
export type Field = [number, 'int8' | 'int32' | 'float32', number];

export interface OptionsSpec {
  /** Position of the table in the BuiltinOptions union (1-based). */
  code: number;
  fields: Field[];
}

export interface OperatorSpec {
  op: OpName;
  /** Custom code, for op CUSTOM. */
  custom?: string;
  inputs: number[];
  outputs: number[];
  options?: OptionsSpec;
  customOptions?: Uint8Array;
  /**
   * How the operator code is stored: both fields as current converters write them (default), only the
   * byte-wide field of files before schema 3a, or only the int32 field.
   */
  opcode?: 'both' | 'legacy' | 'extended';
}

export interface ModelSpec {
  tensors: TensorSpec[];
  operators: OperatorSpec[];
  inputs: number[];
  outputs: number[];
  description?: string;
}

const pad = (p: Padding): Field => [0, 'int8', PADDING_CODES[p]];
const act = (slot: number, a: Activation): Field => [slot, 'int8', ACTIVATION_CODES[a]];

export interface WindowOptions {
  padding?: Padding;
  stride?: number;
  strideW?: number;
  strideH?: number;
  activation?: Activation;
}

function strides(o: WindowOptions): Field[] {
  return [
    [1, 'int32', o.strideW ?? o.stride ?? 1],
    [2, 'int32', o.strideH ?? o.stride ?? 1],
  ];
}

/** Builders of the options tables (field slots from schema.fbs). */
export const options = {
  conv2d: (o: WindowOptions & { dilationW?: number; dilationH?: number } = {}): OptionsSpec => ({
    code: 1,
    fields: [
      pad(o.padding ?? 'SAME'),
      ...strides(o),
      act(3, o.activation ?? 'NONE'),
      [4, 'int32', o.dilationW ?? 1],
      [5, 'int32', o.dilationH ?? 1],
    ],
  }),
  depthwise: (o: WindowOptions & { depthMultiplier?: number } = {}): OptionsSpec => ({
    code: 2,
    fields: [
      pad(o.padding ?? 'SAME'),
      ...strides(o),
      [3, 'int32', o.depthMultiplier ?? 0],
      act(4, o.activation ?? 'NONE'),
    ],
  }),
  pool: (o: WindowOptions & { filterW: number; filterH: number }): OptionsSpec => ({
    code: 5,
    fields: [
      pad(o.padding ?? 'SAME'),
      ...strides(o),
      [3, 'int32', o.filterW],
      [4, 'int32', o.filterH],
      act(5, o.activation ?? 'NONE'),
    ],
  }),
  softmax: (beta: number): OptionsSpec => ({ code: 9, fields: [[0, 'float32', beta]] }),
  concatenation: (axis: number, activation: Activation = 'NONE'): OptionsSpec => ({
    code: 10,
    fields: [[0, 'int32', axis], act(1, activation)],
  }),
  add: (activation: Activation = 'NONE'): OptionsSpec => ({ code: 11, fields: [act(0, activation)] }),
  mul: (activation: Activation = 'NONE'): OptionsSpec => ({ code: 21, fields: [act(0, activation)] }),
  sub: (activation: Activation = 'NONE'): OptionsSpec => ({ code: 28, fields: [act(0, activation)] }),
  div: (activation: Activation = 'NONE'): OptionsSpec => ({ code: 29, fields: [act(0, activation)] }),
  resizeBilinear: (alignCorners: boolean, halfPixelCenters: boolean): OptionsSpec => ({
    code: 15,
    fields: [
      [2, 'int8', Number(alignCorners)],
      [3, 'int8', Number(halfPixelCenters)],
    ],
  }),
  reducer: (keepDims: boolean): OptionsSpec => ({ code: 27, fields: [[0, 'int8', Number(keepDims)]] }),
  transposeConv: (o: WindowOptions = {}): OptionsSpec => ({
    code: 49,
    fields: [pad(o.padding ?? 'SAME'), ...strides(o), act(3, o.activation ?? 'NONE')],
  }),
  leakyRelu: (alpha: number): OptionsSpec => ({ code: 75, fields: [[0, 'float32', alpha]] }),
};

/** MediaPipe's Convolution2DTransposeBias options: padding (1 SAME, 2 VALID), stride_w, stride_h. */
export function transposeConvBiasOptions(padding: number, strideW: number, strideH: number): Uint8Array {
  return new Uint8Array(Int32Array.of(padding, strideW, strideH).buffer);
}

/** float -> IEEE half bits, for values a half holds exactly (test weights). */
export function toHalf(x: number): number {
  if (x === 0) return Object.is(x, -0) ? 0x8000 : 0;
  const sign = x < 0 ? 0x8000 : 0;
  const exponent = Math.floor(Math.log2(Math.abs(x)));
  const fraction = (Math.abs(x) / 2 ** exponent - 1) * 1024;
  if (exponent < -14 || exponent > 15 || !Number.isInteger(fraction))
    throw new Error(`${x} is not a normal half`);
  return sign | ((exponent + 15) << 10) | fraction;
}

function encode(values: number[], type: TensorType): Uint8Array {
  switch (type) {
    case 'float32':
      return new Uint8Array(Float32Array.from(values).buffer);
    case 'float16':
      return new Uint8Array(Uint16Array.from(values, toHalf).buffer);
    case 'int32':
      return new Uint8Array(Int32Array.from(values).buffer);
    case 'int8':
      return new Uint8Array(Int8Array.from(values).buffer);
    case 'uint8':
      return Uint8Array.from(values);
  }
}

function vector(b: Builder, size: number, items: number[], add: (v: number) => void): number {
  b.startVector(size, items.length, size);
  for (let i = items.length - 1; i >= 0; i--) add(items[i]);
  return b.endVector();
}

const offsets = (b: Builder, items: number[]) => vector(b, 4, items, (v) => b.addOffset(v));
const int32s = (b: Builder, items: number[]) => vector(b, 4, items, (v) => b.addInt32(v));

function table(b: Builder, fields: Array<[number, (slot: number) => void]>): number {
  b.startObject(Math.max(0, ...fields.map(([slot]) => slot + 1)));
  for (const [slot, add] of fields) add(slot);
  return b.endObject();
}

function writeOptions(b: Builder, spec: OptionsSpec): number {
  return table(
    b,
    spec.fields.map(([slot, kind, value]) => [
      slot,
      (s: number) => {
        if (kind === 'float32') b.addFieldFloat32(s, value, 0);
        else if (kind === 'int32') b.addFieldInt32(s, value, 0);
        else b.addFieldInt8(s, value, 0);
      },
    ]),
  );
}

function writeQuantization(b: Builder, q: NonNullable<TensorSpec['quantization']>): number {
  const scale = vector(b, 4, q.scale, (v) => b.addFloat32(v));
  const zeroPoint = vector(b, 8, q.zeroPoint, (v) => b.addInt64(BigInt(v)));
  return table(b, [
    [2, (s) => b.addFieldOffset(s, scale, 0)],
    [3, (s) => b.addFieldOffset(s, zeroPoint, 0)],
    [6, (s) => b.addFieldInt32(s, q.quantizedDimension ?? 0, 0)],
  ]);
}

export function writeTflite(spec: ModelSpec): Uint8Array {
  const b = new Builder(1024);
  const buffers: number[] = [table(b, [])];
  const tensors = spec.tensors.map((t, i) => {
    let buffer = 0;
    if (t.data) {
      const bytes = t.data instanceof Uint8Array ? t.data : encode(t.data, t.type ?? 'float32');
      const data = b.createByteVector(bytes);
      buffers.push(table(b, [[0, (s) => b.addFieldOffset(s, data, 0)]]));
      buffer = buffers.length - 1;
    }
    const shape = int32s(b, t.shape);
    const name = b.createString(t.name ?? `t${i}`);
    const quantization = t.quantization && writeQuantization(b, t.quantization);
    return table(b, [
      [0, (s) => b.addFieldOffset(s, shape, 0)],
      [1, (s) => b.addFieldInt8(s, TYPE_CODES[t.type ?? 'float32'], 0)],
      [2, (s) => b.addFieldInt32(s, buffer, 0)],
      [3, (s) => b.addFieldOffset(s, name, 0)],
      ...(quantization
        ? [[4, (s: number) => b.addFieldOffset(s, quantization, 0)] as [number, (s: number) => void]]
        : []),
    ]);
  });
  const codes: number[] = [];
  const operators = spec.operators.map((op) => {
    const code = OPCODES[op.op];
    const custom = op.custom === undefined ? undefined : b.createString(op.custom);
    const storage = op.opcode ?? 'both';
    codes.push(
      table(b, [
        ...(storage !== 'extended' ? [[0, (s: number) => b.addFieldInt8(s, Math.min(code, 127), null)]] : []),
        ...(custom ? [[1, (s: number) => b.addFieldOffset(s, custom, 0)]] : []),
        ...(storage !== 'legacy' ? [[3, (s: number) => b.addFieldInt32(s, code, null)]] : []),
      ] as Array<[number, (s: number) => void]>),
    );
    const inputs = int32s(b, op.inputs);
    const outputs = int32s(b, op.outputs);
    const opts = op.options && writeOptions(b, op.options);
    const customOptions = op.customOptions && b.createByteVector(op.customOptions);
    return table(b, [
      [0, (s) => b.addFieldInt32(s, codes.length - 1, 0)],
      [1, (s) => b.addFieldOffset(s, inputs, 0)],
      [2, (s) => b.addFieldOffset(s, outputs, 0)],
      ...((opts
        ? [
            [3, (s: number) => b.addFieldInt8(s, op.options!.code, 0)],
            [4, (s: number) => b.addFieldOffset(s, opts, 0)],
          ]
        : []) as Array<[number, (s: number) => void]>),
      ...((customOptions ? [[5, (s: number) => b.addFieldOffset(s, customOptions, 0)]] : []) as Array<
        [number, (s: number) => void]
      >),
    ]);
  });
  const subgraphTensors = offsets(b, tensors);
  const inputs = int32s(b, spec.inputs);
  const outputs = int32s(b, spec.outputs);
  const subgraphOperators = offsets(b, operators);
  const subgraph = table(b, [
    [0, (s) => b.addFieldOffset(s, subgraphTensors, 0)],
    [1, (s) => b.addFieldOffset(s, inputs, 0)],
    [2, (s) => b.addFieldOffset(s, outputs, 0)],
    [3, (s) => b.addFieldOffset(s, subgraphOperators, 0)],
  ]);
  const operatorCodes = offsets(b, codes);
  const subgraphs = offsets(b, [subgraph]);
  const description = b.createString(spec.description ?? 'segserve test model');
  const allBuffers = offsets(b, buffers);
  const model = table(b, [
    [0, (s) => b.addFieldInt32(s, 3, 0)],
    [1, (s) => b.addFieldOffset(s, operatorCodes, 0)],
    [2, (s) => b.addFieldOffset(s, subgraphs, 0)],
    [3, (s) => b.addFieldOffset(s, description, 0)],
    [4, (s) => b.addFieldOffset(s, allBuffers, 0)],
  ]);
  b.finish(model, 'TFL3');
  return b.asUint8Array();
}
