/**
 * Reading and writing the ONNX protobuf for the quantiser (`onnx-proto`), and the few tensor conversions it
 * needs. Tensor bytes are little-endian in ONNX, as on every platform onnxruntime-node ships for, so typed
 * arrays are copied byte for byte.
 */
import onnxProto, { type onnx as OnnxTypes } from 'onnx-proto';

const { onnx } = onnxProto;

export type ModelProto = OnnxTypes.ModelProto;
export type NodeProto = OnnxTypes.INodeProto;
export type TensorProto = OnnxTypes.ITensorProto;

export const DataType = {
  FLOAT: onnx.TensorProto.DataType.FLOAT,
  UINT8: onnx.TensorProto.DataType.UINT8,
  INT8: onnx.TensorProto.DataType.INT8,
  INT32: onnx.TensorProto.DataType.INT32,
} as const;

export function decodeModel(bytes: Uint8Array): ModelProto {
  return onnx.ModelProto.decode(bytes);
}

export function encodeModel(model: ModelProto): Uint8Array {
  return onnx.ModelProto.encode(model).finish();
}

/** The opset of the default ONNX domain the model declares. */
export function defaultOpset(model: ModelProto): number {
  const entry = model.opsetImport.find((o) => !o.domain || o.domain === 'ai.onnx');
  return Number(entry?.version ?? 0);
}

/** A float32 initializer's values (raw bytes or `float_data`), or undefined for any other element type. */
export function floatValues(tensor: TensorProto): Float32Array | undefined {
  if (tensor.dataType !== DataType.FLOAT) return undefined;
  if (tensor.rawData && tensor.rawData.length > 0) {
    // A copy: rawData is a view into the decoded file (a Node Buffer, whose slice() is no copy), at an offset
    // that need not be a multiple of 4.
    const bytes = new Uint8Array(tensor.rawData.length);
    bytes.set(tensor.rawData);
    return new Float32Array(bytes.buffer);
  }
  return Float32Array.from(tensor.floatData ?? []);
}

export function dimsOf(tensor: TensorProto): number[] {
  return (tensor.dims ?? []).map(Number);
}

function bytesOf(values: Float32Array | Int8Array | Uint8Array | Int32Array): Uint8Array {
  return new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
}

export function tensor(
  name: string,
  dataType: (typeof DataType)[keyof typeof DataType],
  dims: number[],
  values: Float32Array | Int8Array | Uint8Array | Int32Array,
): TensorProto {
  return { name, dataType, dims, rawData: bytesOf(values) };
}

export function intAttribute(node: NodeProto, name: string, fallback: number): number {
  const attribute = node.attribute?.find((a) => a.name === name);
  return attribute?.i === undefined || attribute.i === null ? fallback : Number(attribute.i);
}

export function floatAttribute(node: NodeProto, name: string, fallback: number): number {
  const attribute = node.attribute?.find((a) => a.name === name);
  return attribute?.f === undefined || attribute.f === null ? fallback : attribute.f;
}

/** A float32 graph output of unknown shape: enough for onnxruntime to return the tensor. */
export function floatOutput(name: string): OnnxTypes.IValueInfoProto {
  return { name, type: { tensorType: { elemType: DataType.FLOAT } } };
}

export function intAttributeProto(name: string, value: number): OnnxTypes.IAttributeProto {
  return { name, type: onnx.AttributeProto.AttributeType.INT, i: value };
}
