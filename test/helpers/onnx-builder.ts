/**
 * Builds tiny ONNX models in memory for tests: a handful of nodes with known weights, so every expected output
 * can be worked out by hand. Nothing here is downloaded; the bytes are written with `onnx-proto`.
 */
import { writeFile } from 'node:fs/promises';
import onnxProto, { type onnx as OnnxTypes } from 'onnx-proto';

const { onnx } = onnxProto;

export type ElemType = 'float32' | 'int64' | 'uint8';

const elemTypeCode: Record<ElemType, number> = {
  float32: onnx.TensorProto.DataType.FLOAT,
  int64: onnx.TensorProto.DataType.INT64,
  uint8: onnx.TensorProto.DataType.UINT8,
};

export interface ValueSpec {
  name: string;
  type?: ElemType;
  /** A number is a fixed dimension, a string a symbolic one (e.g. 'N'). */
  dims: (number | string)[];
}

export interface Initializer {
  name: string;
  dims: number[];
  /** float32 values, or int64 values given as numbers. */
  values: number[] | Float32Array;
  type?: 'float32' | 'int64';
}

type AttributeValue = number | number[] | string | { tensor: Initializer };

export interface NodeSpec {
  op: string;
  inputs: string[];
  outputs: string[];
  attributes?: Record<string, AttributeValue>;
  name?: string;
}

export interface GraphSpec {
  inputs: ValueSpec[];
  outputs: ValueSpec[];
  nodes: NodeSpec[];
  initializers?: Initializer[];
  opset?: number;
}

function valueInfo(spec: ValueSpec): OnnxTypes.IValueInfoProto {
  return {
    name: spec.name,
    type: {
      tensorType: {
        elemType: elemTypeCode[spec.type ?? 'float32'],
        shape: {
          dim: spec.dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })),
        },
      },
    },
  };
}

function tensorProto(init: Initializer): OnnxTypes.ITensorProto {
  if (init.type === 'int64') {
    return {
      name: init.name,
      dims: init.dims,
      dataType: onnx.TensorProto.DataType.INT64,
      int64Data: Array.from(init.values),
    };
  }
  return {
    name: init.name,
    dims: init.dims,
    dataType: onnx.TensorProto.DataType.FLOAT,
    rawData: new Uint8Array(Float32Array.from(init.values).buffer),
  };
}

function attribute(name: string, value: AttributeValue): OnnxTypes.IAttributeProto {
  const A = onnx.AttributeProto.AttributeType;
  if (typeof value === 'string') return { name, type: A.STRING, s: new TextEncoder().encode(value) };
  if (typeof value === 'number') {
    return Number.isInteger(value) ? { name, type: A.INT, i: value } : { name, type: A.FLOAT, f: value };
  }
  if (Array.isArray(value)) {
    return value.every(Number.isInteger)
      ? { name, type: A.INTS, ints: value }
      : { name, type: A.FLOATS, floats: value };
  }
  return { name, type: A.TENSOR, t: tensorProto(value.tensor) };
}

/** Serialises a graph to ONNX model bytes (IR 8, default opset 13). */
export function buildModel(spec: GraphSpec): Uint8Array {
  const model: OnnxTypes.IModelProto = {
    irVersion: 8,
    producerName: 'segserve-tests',
    opsetImport: [{ domain: '', version: spec.opset ?? 13 }],
    graph: {
      name: 'tiny',
      input: spec.inputs.map(valueInfo),
      output: spec.outputs.map(valueInfo),
      initializer: (spec.initializers ?? []).map(tensorProto),
      node: spec.nodes.map((n, i) => ({
        name: n.name ?? `${n.op}_${i}`,
        opType: n.op,
        input: n.inputs,
        output: n.outputs,
        attribute: Object.entries(n.attributes ?? {}).map(([k, v]) => attribute(k, v)),
      })),
    },
  };
  return onnx.ModelProto.encode(onnx.ModelProto.create(model)).finish();
}

export async function writeModel(path: string, spec: GraphSpec): Promise<string> {
  await writeFile(path, buildModel(spec));
  return path;
}
