/**
 * A TFLite file (the `TFL3` FlatBuffer of tensorflow/lite/schema/schema.fbs) as typed plain objects: tensors
 * with their constant bytes and quantisation, operators with their resolved opcode and decoded options. Every
 * index between tables (buffer, opcode, tensor) is checked here, so later stages can trust them; a corrupt file
 * is TFLITE_INVALID with the path of the bad field.
 */
import { invalid, Table } from './flatbuffer.js';
import {
  ACTIVATIONS,
  type Activation,
  builtinOperatorName,
  CUSTOM_CODE,
  OPTION_TABLES,
  type OptionTableName,
  PADDINGS,
  type Padding,
  TENSOR_TYPES,
  type TensorType,
} from './schema.js';

export interface TfliteQuantization {
  /** Real value = scale * (quantized - zeroPoint), per element of `quantizedDimension` when several. */
  scale: number[];
  zeroPoint: number[];
  quantizedDimension: number;
  /** The tensor uses a custom quantisation scheme (QuantizationDetails), which nothing here can read. */
  custom: boolean;
}

export interface TfliteTensor {
  index: number;
  name: string;
  shape: number[];
  type: TensorType;
  /** Constant contents (little-endian, row-major), absent for activations. */
  data: Uint8Array | undefined;
  /** Present only when it carries a scale. */
  quantization: TfliteQuantization | undefined;
  isVariable: boolean;
  sparse: boolean;
}

interface FusedActivation {
  activation: Activation;
}

interface Window {
  padding: Padding;
  strideW: number;
  strideH: number;
}

export interface Conv2DOptions extends Window, FusedActivation {
  type: 'Conv2DOptions';
  dilationW: number;
  dilationH: number;
}

export interface DepthwiseConv2DOptions extends Window, FusedActivation {
  type: 'DepthwiseConv2DOptions';
  depthMultiplier: number;
  dilationW: number;
  dilationH: number;
}

export interface Pool2DOptions extends Window, FusedActivation {
  type: 'Pool2DOptions';
  filterW: number;
  filterH: number;
}

export interface TransposeConvOptions extends Window, FusedActivation {
  type: 'TransposeConvOptions';
}

export interface ArithmeticOptions extends FusedActivation {
  type: 'AddOptions' | 'SubOptions' | 'MulOptions' | 'DivOptions';
}

export interface ConcatenationOptions extends FusedActivation {
  type: 'ConcatenationOptions';
  axis: number;
}

export interface SoftmaxOptions {
  type: 'SoftmaxOptions';
  beta: number;
}

export interface ResizeBilinearOptions {
  type: 'ResizeBilinearOptions';
  alignCorners: boolean;
  halfPixelCenters: boolean;
}

export interface ReshapeOptions {
  type: 'ReshapeOptions';
  newShape: number[] | undefined;
}

export interface ReducerOptions {
  type: 'ReducerOptions';
  keepDims: boolean;
}

export interface LeakyReluOptions {
  type: 'LeakyReluOptions';
  alpha: number;
}

/** Decoded BuiltinOptions tables, by table name. */
export interface OptionTables {
  Conv2DOptions: Conv2DOptions;
  DepthwiseConv2DOptions: DepthwiseConv2DOptions;
  Pool2DOptions: Pool2DOptions;
  SoftmaxOptions: SoftmaxOptions;
  ConcatenationOptions: ConcatenationOptions;
  AddOptions: ArithmeticOptions;
  ResizeBilinearOptions: ResizeBilinearOptions;
  ReshapeOptions: ReshapeOptions;
  MulOptions: ArithmeticOptions;
  ReducerOptions: ReducerOptions;
  SubOptions: ArithmeticOptions;
  DivOptions: ArithmeticOptions;
  TransposeConvOptions: TransposeConvOptions;
  LeakyReluOptions: LeakyReluOptions;
}

/** A BuiltinOptions table this reader does not decode, by its position in the union. */
export interface UndecodedOptions {
  type: 'undecoded';
  code: number;
}

export type BuiltinOptions = OptionTables[OptionTableName] | UndecodedOptions;

export interface TfliteOperator {
  index: number;
  /** BuiltinOperator code (CUSTOM_CODE for custom operators). */
  builtinCode: number;
  /** The builtin's schema name, or the custom operator's code (e.g. `Convolution2DTransposeBias`). */
  name: string;
  customCode: string | undefined;
  version: number;
  /** Tensor indices; -1 marks an omitted optional input. */
  inputs: number[];
  outputs: number[];
  /** Absent when the file has none (the operator then runs with the table's defaults). */
  options: BuiltinOptions | undefined;
  customOptions: Uint8Array | undefined;
}

export interface TfliteSubgraph {
  name: string;
  tensors: TfliteTensor[];
  inputs: number[];
  outputs: number[];
  operators: TfliteOperator[];
}

export interface TfliteModel {
  version: number;
  description: string;
  subgraphs: TfliteSubgraph[];
}

function enumName<T extends string>(names: readonly T[], code: number, what: string, path: string): T {
  const name = names[code];
  if (name === undefined) throw invalid(`${path}: unknown ${what} ${code}`);
  return name;
}

const padding = (t: Table, slot: number) => enumName(PADDINGS, t.int8(slot, 0), 'padding', t.path);
const activation = (t: Table, slot: number) =>
  enumName(ACTIVATIONS, t.int8(slot, 0), 'fused activation', t.path);
const window = (t: Table): Window => ({
  padding: padding(t, 0),
  strideW: t.int32(1, 0),
  strideH: t.int32(2, 0),
});

/** Field slots per table, in schema order (a union takes two slots: type, then value). */
const optionDecoders: { [K in OptionTableName]: (t: Table) => OptionTables[K] } = {
  Conv2DOptions: (t) => ({
    type: 'Conv2DOptions',
    ...window(t),
    activation: activation(t, 3),
    dilationW: t.int32(4, 1),
    dilationH: t.int32(5, 1),
  }),
  DepthwiseConv2DOptions: (t) => ({
    type: 'DepthwiseConv2DOptions',
    ...window(t),
    depthMultiplier: t.int32(3, 0),
    activation: activation(t, 4),
    dilationW: t.int32(5, 1),
    dilationH: t.int32(6, 1),
  }),
  Pool2DOptions: (t) => ({
    type: 'Pool2DOptions',
    ...window(t),
    filterW: t.int32(3, 0),
    filterH: t.int32(4, 0),
    activation: activation(t, 5),
  }),
  SoftmaxOptions: (t) => ({ type: 'SoftmaxOptions', beta: t.float32(0, 0) }),
  ConcatenationOptions: (t) => ({
    type: 'ConcatenationOptions',
    axis: t.int32(0, 0),
    activation: activation(t, 1),
  }),
  AddOptions: (t) => ({ type: 'AddOptions', activation: activation(t, 0) }),
  ResizeBilinearOptions: (t) => ({
    type: 'ResizeBilinearOptions',
    alignCorners: t.bool(2, false),
    halfPixelCenters: t.bool(3, false),
  }),
  ReshapeOptions: (t) => ({ type: 'ReshapeOptions', newShape: t.int32s(0, 'new_shape') }),
  MulOptions: (t) => ({ type: 'MulOptions', activation: activation(t, 0) }),
  ReducerOptions: (t) => ({ type: 'ReducerOptions', keepDims: t.bool(0, false) }),
  SubOptions: (t) => ({ type: 'SubOptions', activation: activation(t, 0) }),
  DivOptions: (t) => ({ type: 'DivOptions', activation: activation(t, 0) }),
  TransposeConvOptions: (t) => ({ type: 'TransposeConvOptions', ...window(t), activation: activation(t, 3) }),
  LeakyReluOptions: (t) => ({ type: 'LeakyReluOptions', alpha: t.float32(0, 0) }),
};

const optionTableByCode = new Map<number, OptionTableName>(
  Object.entries(OPTION_TABLES).map(([name, code]) => [code, name as OptionTableName]),
);

/** What an operator runs with when its file carries no options table: every field at its default. */
export function defaultOptions<K extends OptionTableName>(name: K): OptionTables[K] {
  return optionDecoders[name](Table.absent(name));
}

function readOptions(op: Table): BuiltinOptions | undefined {
  const code = op.uint8(3, 0);
  if (code === 0) return undefined;
  const name = optionTableByCode.get(code);
  if (!name) return { type: 'undecoded', code };
  const table = op.table(4, 'builtin_options');
  if (!table) throw invalid(`${op.path}: builtin_options_type is ${code} but the table is missing`);
  return optionDecoders[name](table);
}

function safeInteger(value: bigint, path: string): number {
  if (value > BigInt(Number.MAX_SAFE_INTEGER) || value < BigInt(Number.MIN_SAFE_INTEGER)) {
    throw invalid(`${path}: ${value} is out of range`);
  }
  return Number(value);
}

function readQuantization(t: Table | undefined): TfliteQuantization | undefined {
  if (!t) return undefined;
  const scale = t.float32s(2, 'scale') ?? [];
  const custom = t.uint8(4, 0) !== 0;
  if (scale.length === 0 && !custom) return undefined;
  const zeroPoint = (t.int64s(3, 'zero_point') ?? []).map((z) => safeInteger(z, `${t.path}.zero_point`));
  return { scale, zeroPoint, quantizedDimension: t.int32(6, 0), custom };
}

interface BufferSource {
  bytes: Uint8Array;
  buffers: Table[];
}

/** Buffer `index`: inline data, or (for files over 2 GB) an offset and size from the file's start. */
function bufferData(source: BufferSource, index: number, path: string): Uint8Array | undefined {
  if (index === 0) return undefined;
  const buffer = source.buffers[index];
  if (!buffer) throw invalid(`${path}: buffer ${index} does not exist (${source.buffers.length} buffers)`);
  const inline = buffer.bytes(0, 'data');
  if (inline && inline.length > 0) return inline;
  const offset = buffer.uint64(1, 0n);
  const size = buffer.uint64(2, 0n);
  if (offset <= 1n) return undefined;
  if (offset + size > BigInt(source.bytes.length)) {
    throw invalid(`${buffer.path}: ${size} bytes at offset ${offset} run past the end of the file`);
  }
  return source.bytes.subarray(Number(offset), Number(offset + size));
}

function readTensor(t: Table, index: number, source: BufferSource): TfliteTensor {
  const typeCode = t.int8(1, 0);
  const [type, elementSize] = TENSOR_TYPES[typeCode] ?? [];
  if (!type) throw invalid(`${t.path}: unknown tensor type ${typeCode}`);
  const shape = t.int32s(0, 'shape') ?? [];
  if (shape.some((d) => d < 0)) throw invalid(`${t.path}: negative dimension in shape [${shape}]`);
  const data = bufferData(source, t.uint32(2, 0), t.path);
  const sparse = t.table(6, 'sparsity') !== undefined;
  const elements = shape.reduce((a, b) => a * b, 1);
  // A sparse constant stores only its non-zero values, so its size says nothing about its shape.
  if (data && !sparse && elementSize > 0 && data.length !== elements * elementSize) {
    throw invalid(
      `${t.path}: shape [${shape}] of ${type} needs ${elements * elementSize} bytes, its buffer holds ${data.length}`,
    );
  }
  return {
    index,
    name: t.string(3, 'name') ?? `tensor_${index}`,
    shape,
    type,
    data,
    quantization: readQuantization(t.table(4, 'quantization')),
    isVariable: t.bool(5, false),
    sparse,
  };
}

interface OperatorCode {
  builtinCode: number;
  customCode: string | undefined;
  version: number;
}

/**
 * Files before schema 3a hold the code in the byte-wide `deprecated_builtin_code`; newer ones also write
 * `builtin_code`, and codes past 127 exist only there (with the byte field at 127, the placeholder). The
 * larger of the two is the code in every case (what TFLite's own GetBuiltinCode does).
 */
function readOperatorCode(t: Table): OperatorCode {
  const builtinCode = Math.max(t.int8(0, 0), t.int32(3, 0));
  const customCode = t.string(1, 'custom_code');
  if (builtinCode === CUSTOM_CODE && !customCode)
    throw invalid(`${t.path}: custom operator without a custom_code`);
  return { builtinCode, customCode, version: t.int32(2, 1) };
}

function checkTensorIndices(indices: number[], count: number, optional: boolean, path: string): number[] {
  for (const i of indices) {
    if (i >= count || i < (optional ? -1 : 0))
      throw invalid(`${path}: tensor index ${i} out of range 0..${count - 1}`);
  }
  return indices;
}

function readOperator(t: Table, index: number, codes: OperatorCode[], tensorCount: number): TfliteOperator {
  const opcodeIndex = t.uint32(0, 0);
  const code = codes[opcodeIndex];
  if (!code)
    throw invalid(`${t.path}: opcode_index ${opcodeIndex} out of range (${codes.length} operator codes)`);
  const large = t.uint64(9, 0n);
  if (large > 1n) throw invalid(`${t.path}: custom options stored outside the FlatBuffer are not read`);
  return {
    index,
    builtinCode: code.builtinCode,
    name: code.builtinCode === CUSTOM_CODE ? code.customCode! : builtinOperatorName(code.builtinCode),
    customCode: code.customCode,
    version: code.version,
    inputs: checkTensorIndices(t.int32s(1, 'inputs') ?? [], tensorCount, true, `${t.path}.inputs`),
    outputs: checkTensorIndices(t.int32s(2, 'outputs') ?? [], tensorCount, false, `${t.path}.outputs`),
    options: readOptions(t),
    customOptions: t.bytes(5, 'custom_options'),
  };
}

function readSubgraph(t: Table, codes: OperatorCode[], source: BufferSource): TfliteSubgraph {
  const tensors = t.tables(0, 'tensors').map((tensor, i) => readTensor(tensor, i, source));
  return {
    name: t.string(4, 'name') ?? '',
    tensors,
    inputs: checkTensorIndices(t.int32s(1, 'inputs') ?? [], tensors.length, false, `${t.path}.inputs`),
    outputs: checkTensorIndices(t.int32s(2, 'outputs') ?? [], tensors.length, false, `${t.path}.outputs`),
    operators: t.tables(3, 'operators').map((op, i) => readOperator(op, i, codes, tensors.length)),
  };
}

/** Parses and checks a TFLite model; throws TFLITE_INVALID with the reason when the bytes are not one. */
export function readTflite(bytes: Uint8Array): TfliteModel {
  const model = Table.root(bytes, 'TFL3', 'model');
  const source: BufferSource = { bytes, buffers: model.tables(4, 'buffers') };
  const codes = model.tables(1, 'operator_codes').map(readOperatorCode);
  const subgraphs = model.tables(2, 'subgraphs').map((s) => readSubgraph(s, codes, source));
  if (subgraphs.length === 0) throw invalid('the model has no subgraphs');
  return {
    version: model.uint32(0, 0),
    description: model.string(3, 'description') ?? '',
    subgraphs,
  };
}
