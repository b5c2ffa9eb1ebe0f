/**
 * The int8 rewrite: QuantizeLinear/DequantizeLinear (QDQ) pairs as ONNX Runtime's QDQ format expects them, so
 * that its graph optimiser fuses `DQ -> Conv -> Q` into QLinearConv (and MatMul/Gemm likewise) with int8 kernels:
 *
 * - weights: int8, symmetric (zero point 0), one scale per output channel (max |w| / 127 of the channel; 127, not
 *   128, keeps the range symmetric), dequantised by a per-channel DequantizeLinear;
 * - biases: int32 at scale activation_scale x weight_scale[c], the layout the fused kernels read;
 * - activations (each planned node's input and output): uint8, asymmetric over the calibrated range widened to
 *   hold 0 (so zero padding is exact). Every consumer of a quantised tensor reads its DequantizeLinear, which is
 *   what lets the producer's QuantizeLinear fuse into the producer.
 *
 * uint8 activations with int8 weights (U8S8) is the combination ONNX Runtime's x86 and Arm int8 kernels are
 * fastest with.
 */

import {
  DataType,
  dimsOf,
  floatValues,
  intAttributeProto,
  type ModelProto,
  type NodeProto,
  type TensorProto,
  tensor,
} from './onnx-model.js';
import type { PlannedNode, QuantizationPlan } from './plan.js';

export interface ActivationRange {
  min: number;
  max: number;
}

export interface UInt8Parameters {
  scale: number;
  zeroPoint: number;
}

/** uint8 scale and zero point of a float range; the range is widened to hold 0. */
export function uint8Parameters({ min, max }: ActivationRange): UInt8Parameters {
  const lo = Math.min(min, 0);
  const hi = Math.max(max, 0);
  if (!(hi > lo)) return { scale: 1, zeroPoint: 0 };
  // Math.fround: the scale is stored as float32, and the zero point must be computed from that same value.
  const scale = Math.fround((hi - lo) / 255);
  return { scale, zeroPoint: Math.min(255, Math.max(0, Math.round(-lo / scale))) };
}

export interface QuantizedWeight {
  values: Int8Array;
  /** One per channel along the axis. */
  scales: Float32Array;
}

/** Symmetric per-channel int8: channel c is scaled by max |w_c| / 127. */
export function quantizeWeight(values: Float32Array, dims: number[], axis: number): QuantizedWeight {
  const channels = dims[axis];
  const inner = dims.slice(axis + 1).reduce((a, b) => a * b, 1);
  const channelOf = (i: number) => Math.floor(i / inner) % channels;
  const maxAbs = new Float32Array(channels);
  for (let i = 0; i < values.length; i++) {
    const c = channelOf(i);
    const v = Math.abs(values[i]);
    if (v > maxAbs[c]) maxAbs[c] = v;
  }
  const scales = maxAbs.map((m) => (m > 0 ? m / 127 : 1));
  const quantized = new Int8Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const q = Math.round(values[i] / scales[channelOf(i)]);
    quantized[i] = Math.max(-127, Math.min(127, q));
  }
  return { values: quantized, scales };
}

const INT32_MAX = 2 ** 31 - 1;

function quantizeBias(bias: Float32Array, inputScale: number, weightScales: Float32Array) {
  const scales = weightScales.map((s) => s * inputScale);
  const values = new Int32Array(bias.length);
  for (let c = 0; c < bias.length; c++) {
    values[c] = Math.max(-INT32_MAX, Math.min(INT32_MAX, Math.round(bias[c] / scales[c])));
  }
  return { values, scales };
}

class Names {
  readonly #taken: Set<string>;
  constructor(model: ModelProto) {
    const graph = model.graph;
    this.#taken = new Set([
      ...(graph?.node ?? []).flatMap((n) => [...(n.input ?? []), ...(n.output ?? []), n.name ?? '']),
      ...(graph?.initializer ?? []).map((t) => t.name ?? ''),
      ...(graph?.input ?? []).map((v) => v.name ?? ''),
    ]);
  }
  unique(hint: string): string {
    let name = hint;
    for (let i = 1; this.#taken.has(name); i++) name = `${hint}_${i}`;
    this.#taken.add(name);
    return name;
  }
}

function qdqNode(op: 'QuantizeLinear' | 'DequantizeLinear', inputs: string[], output: string, axis?: number) {
  const node: NodeProto = { opType: op, name: `${op}:${output}`, input: inputs, output: [output] };
  if (axis !== undefined) node.attribute = [intAttributeProto('axis', axis)];
  return node;
}

/**
 * The quantised model: `model` is changed in place and returned. `ranges` holds a calibrated range for every
 * tensor of `plan.activations`.
 */
export function applyQdq(
  model: ModelProto,
  plan: QuantizationPlan,
  ranges: ReadonlyMap<string, ActivationRange>,
): ModelProto {
  const graph = model.graph;
  if (!graph) throw new Error('the model has no graph');
  const names = new Names(model);
  const initializers = new Map((graph.initializer ?? []).map((t) => [t.name ?? '', t]));
  const added: TensorProto[] = [];

  // Activations: Q -> DQ right after the tensor is made; consumers read the DQ output.
  const activation = new Map<
    string,
    { dequantized: string; parameters: UInt8Parameters; nodes: NodeProto[] }
  >();
  for (const name of plan.activations) {
    const range = ranges.get(name);
    if (!range) throw new Error(`no calibrated range for ${name}`);
    const parameters = uint8Parameters(range);
    const scale = names.unique(`${name}_scale`);
    const zeroPoint = names.unique(`${name}_zero_point`);
    const quantized = names.unique(`${name}_quantized`);
    const dequantized = names.unique(`${name}_dequantized`);
    added.push(
      tensor(scale, DataType.FLOAT, [], Float32Array.of(parameters.scale)),
      tensor(zeroPoint, DataType.UINT8, [], Uint8Array.of(parameters.zeroPoint)),
    );
    activation.set(name, {
      dequantized,
      parameters,
      nodes: [
        qdqNode('QuantizeLinear', [name, scale, zeroPoint], quantized),
        qdqNode('DequantizeLinear', [quantized, scale, zeroPoint], dequantized),
      ],
    });
  }
  const planned = new Map(plan.nodes.map((p) => [p.index, p]));
  const weightNodes = new Map<number, NodeProto[]>();
  for (const entry of plan.nodes) {
    const input = activation.get(entry.activation);
    if (!input) throw new Error(`activation ${entry.activation} was not planned`);
    weightNodes.set(
      entry.index,
      quantizeConstants(entry, input.parameters.scale, initializers, names, added),
    );
  }

  const nodes: NodeProto[] = [];
  const emitQdqFor = (tensors: readonly string[]) => {
    for (const t of tensors) {
      const a = activation.get(t);
      if (a) nodes.push(...a.nodes);
    }
  };
  emitQdqFor((graph.input ?? []).map((v) => v.name ?? ''));
  (graph.node ?? []).forEach((node, index) => {
    // The Q/DQ nodes are not in graph.node yet, so only the model's own nodes are rewired.
    node.input = (node.input ?? []).map((i) => activation.get(i)?.dequantized ?? i);
    const entry = planned.get(index);
    if (entry) {
      const [weight, bias] = weightNodes.get(index) ?? [];
      nodes.push(weight);
      node.input[1] = weight.output?.[0] ?? '';
      if (bias) {
        nodes.push(bias);
        node.input[2] = bias.output?.[0] ?? '';
      }
    }
    nodes.push(node);
    emitQdqFor(node.output ?? []);
  });
  graph.node = nodes;
  graph.initializer = [...(graph.initializer ?? []), ...added];
  dropUnused(model);
  return model;
}

/** The DequantizeLinear nodes of a planned node's weight and bias, their int8/int32 initializers added. */
function quantizeConstants(
  entry: PlannedNode,
  inputScale: number,
  initializers: Map<string, TensorProto>,
  names: Names,
  added: TensorProto[],
): NodeProto[] {
  const w = initializers.get(entry.weight);
  const values = w && floatValues(w);
  if (!w || !values) throw new Error(`weight ${entry.weight} is not a float32 initializer`);
  const dims = dimsOf(w);
  const { values: q, scales } = quantizeWeight(values, dims, entry.weightAxis);
  const base = names.unique(`${entry.weight}_${entry.name}`);
  const [wq, ws, wz, wdq] = ['quantized', 'scale', 'zero_point', 'dequantized'].map((s) =>
    names.unique(`${base}_${s}`),
  );
  added.push(
    tensor(wq, DataType.INT8, dims, q),
    tensor(ws, DataType.FLOAT, [scales.length], scales),
    tensor(wz, DataType.INT8, [scales.length], new Int8Array(scales.length)),
  );
  const out = [qdqNode('DequantizeLinear', [wq, ws, wz], wdq, entry.weightAxis)];
  if (entry.bias) {
    const b = initializers.get(entry.bias);
    const bias = b && floatValues(b);
    if (!bias || bias.length !== scales.length) {
      throw new Error(`bias ${entry.bias} does not have one value per output channel`);
    }
    const { values: bq, scales: bs } = quantizeBias(bias, inputScale, scales);
    const [q32, s32, z32, dq32] = ['quantized', 'scale', 'zero_point', 'dequantized'].map((s) =>
      names.unique(`${entry.bias}_${entry.name}_${s}`),
    );
    added.push(
      tensor(q32, DataType.INT32, [bq.length], bq),
      tensor(s32, DataType.FLOAT, [bs.length], bs),
      tensor(z32, DataType.INT32, [bq.length], new Int32Array(bq.length)),
    );
    out.push(qdqNode('DequantizeLinear', [q32, s32, z32], dq32, 0));
  }
  return out;
}

/** Removes initializers no node reads any more (the float weights that were replaced), and their graph inputs. */
function dropUnused(model: ModelProto): void {
  const graph = model.graph;
  if (!graph) return;
  const read = new Set((graph.node ?? []).flatMap((n) => n.input ?? []));
  for (const output of graph.output ?? []) read.add(output.name ?? '');
  const dropped = new Set(
    (graph.initializer ?? []).filter((t) => !read.has(t.name ?? '')).map((t) => t.name ?? ''),
  );
  graph.initializer = (graph.initializer ?? []).filter((t) => !dropped.has(t.name ?? ''));
  graph.input = (graph.input ?? []).filter((v) => !dropped.has(v.name ?? ''));
}
