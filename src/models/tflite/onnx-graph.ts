/**
 * The ONNX graph being built: nodes in execution order, initializers, and unique value names. Serialised with
 * `onnx-proto`. Attributes are tagged by kind (`{ ints }`, `{ float }`, ...) because a JavaScript number does
 * not say whether `1` is an INT or a FLOAT attribute, and ONNX Runtime rejects the wrong one.
 */
import onnxProto, { type onnx as OnnxTypes } from 'onnx-proto';

const { onnx } = onnxProto;

/** Opset 17: HardSwish (14+) exists, ReduceMean still takes `axes` as an attribute (before 18). */
export const OPSET = 17;
const IR_VERSION = 8;

export type Attribute = { int: number } | { ints: number[] } | { float: number } | { string: string };

export class OnnxGraph {
  readonly #nodes: OnnxTypes.INodeProto[] = [];
  readonly #initializers: OnnxTypes.ITensorProto[] = [];
  readonly #inputs: OnnxTypes.IValueInfoProto[] = [];
  readonly #outputs: OnnxTypes.IValueInfoProto[] = [];
  readonly #taken = new Set<string>();

  /** `hint` if unused, else `hint_1`, `hint_2`, ... */
  uniqueName(hint: string): string {
    let name = hint;
    for (let i = 1; this.#taken.has(name); i++) name = `${hint}_${i}`;
    this.#taken.add(name);
    return name;
  }

  /** Appends a node writing the given (already unique) output names. */
  nodes(op: string, inputs: string[], attributes: Record<string, Attribute>, outputs: string[]): void {
    this.#nodes.push({
      name: this.uniqueName(`${op}:${outputs[0]}`),
      opType: op,
      input: inputs,
      output: outputs,
      attribute: Object.entries(attributes).map(([name, value]) => encodeAttribute(name, value)),
    });
  }

  /** Appends a one-output node; its output is named after `hint`. */
  node(op: string, inputs: string[], attributes: Record<string, Attribute>, hint: string): string {
    const output = this.uniqueName(hint);
    this.nodes(op, inputs, attributes, [output]);
    return output;
  }

  floatInitializer(hint: string, dims: number[], values: Float32Array): string {
    const name = this.uniqueName(hint);
    this.#initializers.push({
      name,
      dims,
      dataType: onnx.TensorProto.DataType.FLOAT,
      rawData: littleEndian(values),
    });
    return name;
  }

  int64Initializer(hint: string, values: number[]): string {
    const name = this.uniqueName(hint);
    const data = BigInt64Array.from(values, (v) => BigInt(v));
    this.#initializers.push({
      name,
      dims: [values.length],
      dataType: onnx.TensorProto.DataType.INT64,
      rawData: littleEndian(data),
    });
    return name;
  }

  /** A float32 graph input or output of a fixed shape; `name` must come from uniqueName. */
  addInput(name: string, dims: number[]): void {
    this.#inputs.push(floatValueInfo(name, dims));
  }

  addOutput(name: string, dims: number[]): void {
    this.#outputs.push(floatValueInfo(name, dims));
  }

  /** The model bytes, with `metadata` as ONNX metadata_props. */
  serialize(graphName: string, metadata: Record<string, string>): Uint8Array {
    const model: OnnxTypes.IModelProto = {
      irVersion: IR_VERSION,
      producerName: 'segserve tflite importer',
      opsetImport: [{ domain: '', version: OPSET }],
      metadataProps: Object.entries(metadata).map(([key, value]) => ({ key, value })),
      graph: {
        name: graphName,
        node: this.#nodes,
        initializer: this.#initializers,
        input: this.#inputs,
        output: this.#outputs,
      },
    };
    return onnx.ModelProto.encode(onnx.ModelProto.create(model)).finish();
  }
}

/** ONNX raw_data is little-endian whatever the machine. */
function littleEndian(values: Float32Array | BigInt64Array): Uint8Array {
  const out = new Uint8Array(values.byteLength);
  const view = new DataView(out.buffer);
  if (values instanceof Float32Array) {
    for (let i = 0; i < values.length; i++) view.setFloat32(4 * i, values[i], true);
  } else {
    for (let i = 0; i < values.length; i++) view.setBigInt64(8 * i, values[i], true);
  }
  return out;
}

function floatValueInfo(name: string, dims: number[]): OnnxTypes.IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType: onnx.TensorProto.DataType.FLOAT,
        shape: { dim: dims.map((d) => ({ dimValue: d })) },
      },
    },
  };
}

function encodeAttribute(name: string, value: Attribute): OnnxTypes.IAttributeProto {
  const A = onnx.AttributeProto.AttributeType;
  if ('int' in value) return { name, type: A.INT, i: value.int };
  if ('ints' in value) return { name, type: A.INTS, ints: value.ints };
  if ('float' in value) return { name, type: A.FLOAT, f: value.float };
  return { name, type: A.STRING, s: new TextEncoder().encode(value.string) };
}
