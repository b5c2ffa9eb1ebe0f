/**
 * Which nodes of a float32 ONNX graph the int8 quantiser rewrites, and which activation tensors it must measure.
 * Covered: Conv, MatMul and Gemm whose weight is a constant float32 initializer (see COVERED_OPERATORS for the
 * exact conditions). Everything else stays float32 and is named in the plan's `skipped` list when it is one of
 * those operators, so a person sees why a layer was left out. A graph that is already quantised, that predates
 * per-channel DequantizeLinear (opset 13), or in which nothing is covered is refused by name.
 */
import { SegserveError } from '../../errors.js';
import {
  DataType,
  defaultOpset,
  dimsOf,
  floatAttribute,
  intAttribute,
  type ModelProto,
  type NodeProto,
  type TensorProto,
} from './onnx-model.js';

/** What the quantiser covers, for help texts, errors and the README. */
export const COVERED_OPERATORS = {
  Conv: 'constant float32 weight (any group count), optional constant bias',
  MatMul: 'constant float32 2-D weight as the second input',
  Gemm: 'constant float32 2-D B, alpha = beta = 1, transA = 0, optional constant 1-D C',
} as const;

/** Operators that show a graph was quantised already: quantising it again would quantise twice. */
const QUANTISED_OPERATORS = new Set([
  'QuantizeLinear',
  'DequantizeLinear',
  'DynamicQuantizeLinear',
  'ConvInteger',
  'MatMulInteger',
  'QLinearConv',
  'QLinearMatMul',
  'MatMulIntegerToFloat',
]);

/** Per-channel DequantizeLinear (its `axis`) exists from opset 13 on. */
export const MIN_OPSET = 13;

export interface PlannedNode {
  /** Index in graph.node. */
  index: number;
  name: string;
  op: keyof typeof COVERED_OPERATORS;
  /** The activation input (quantised per tensor, uint8). */
  activation: string;
  weight: string;
  /** Axis of the weight along which each output channel has its own scale. */
  weightAxis: number;
  bias?: string;
  output: string;
}

export interface QuantizationPlan {
  nodes: PlannedNode[];
  /** Activation tensors that get a QuantizeLinear/DequantizeLinear pair: the inputs and outputs of `nodes`. */
  activations: string[];
  /** Covered operator types left in float32, with the reason (excluded, or a condition not met). */
  skipped: Array<{ name: string; op: string; reason: string }>;
}

/** How a node is named in plans, errors and `--exclude`: its name, or `op:first output` when it has none. */
export function nodeName(node: NodeProto): string {
  return node.name || `${node.opType}:${node.output?.[0] ?? ''}`;
}

function unsupported(model: string, reason: string): SegserveError {
  return new SegserveError('QUANTIZE_UNSUPPORTED', { model, reason });
}

function opCounts(nodes: NodeProto[]): string {
  const counts = new Map<string, number>();
  for (const node of nodes) counts.set(node.opType ?? '', (counts.get(node.opType ?? '') ?? 0) + 1);
  return [...counts].map(([op, n]) => `${op} x${n}`).join(', ');
}

/** Why a covered node cannot be quantised, or its plan entry. */
function planNode(
  node: NodeProto,
  index: number,
  initializers: Map<string, TensorProto>,
): PlannedNode | string {
  const op = node.opType as PlannedNode['op'];
  const [activation, weight, bias] = node.input ?? [];
  const w = initializers.get(weight);
  if (!activation || initializers.has(activation)) return 'its first input is a constant, not an activation';
  if (!w || w.dataType !== DataType.FLOAT) return 'its weight is not a constant float32 initializer';
  const rank = dimsOf(w).length;
  const b = bias ? initializers.get(bias) : undefined;
  if (bias && (!b || b.dataType !== DataType.FLOAT || dimsOf(b).length !== 1)) {
    return 'its bias is not a constant 1-D float32 initializer';
  }
  const base = { index, name: nodeName(node), op, activation, weight, output: node.output?.[0] ?? '' };
  if (op === 'Conv') {
    if (rank < 3) return `its weight has rank ${rank}`;
    return { ...base, weightAxis: 0, ...(bias ? { bias } : {}) };
  }
  if (rank !== 2) return `its weight has rank ${rank}, not 2`;
  if (op === 'MatMul') return { ...base, weightAxis: 1 };
  if (floatAttribute(node, 'alpha', 1) !== 1 || floatAttribute(node, 'beta', 1) !== 1) {
    return 'alpha or beta is not 1';
  }
  if (intAttribute(node, 'transA', 0) !== 0) return 'transA is set';
  return { ...base, weightAxis: intAttribute(node, 'transB', 0) === 1 ? 0 : 1, ...(bias ? { bias } : {}) };
}

export interface PlanOptions {
  /** The model's name, for errors. */
  model: string;
  /** Node names (see nodeName) kept in float32. */
  exclude?: readonly string[];
}

export function planQuantization(graphModel: ModelProto, options: PlanOptions): QuantizationPlan {
  const { model } = options;
  const graph = graphModel.graph;
  if (!graph) throw unsupported(model, 'the file holds no graph');
  const nodes = graph.node ?? [];
  const quantised = nodes.filter((n) => QUANTISED_OPERATORS.has(n.opType ?? ''));
  if (quantised.length > 0) {
    throw unsupported(
      model,
      `it is quantised already (${opCounts(quantised)}); quantise its float32 version`,
    );
  }
  const opset = defaultOpset(graphModel);
  if (opset < MIN_OPSET) {
    throw unsupported(
      model,
      `it declares opset ${opset}; per-channel DequantizeLinear needs opset ${MIN_OPSET} or newer (re-export the model at opset ${MIN_OPSET}+)`,
    );
  }
  const names = new Set(nodes.map(nodeName));
  const unknown = (options.exclude ?? []).filter((name) => !names.has(name));
  if (unknown.length > 0) {
    throw new SegserveError('INVALID_ARGUMENT', {
      reason: `--exclude names no node of the graph: ${unknown.join(', ')} (a node is named by its ONNX name, or op:first-output when it has none)`,
    });
  }
  const excluded = new Set(options.exclude ?? []);
  const initializers = new Map((graph.initializer ?? []).map((t) => [t.name ?? '', t]));
  const planned: PlannedNode[] = [];
  const skipped: QuantizationPlan['skipped'] = [];
  nodes.forEach((node, index) => {
    const op = node.opType ?? '';
    if (!(op in COVERED_OPERATORS) || node.domain) return;
    const name = nodeName(node);
    if (excluded.has(name)) {
      skipped.push({ name, op, reason: 'excluded' });
      return;
    }
    const entry = planNode(node, index, initializers);
    if (typeof entry === 'string') skipped.push({ name, op, reason: entry });
    else planned.push(entry);
  });
  if (planned.length === 0) {
    const covered = Object.keys(COVERED_OPERATORS).join(', ');
    const why = skipped.map((s) => `${s.name}: ${s.reason}`).join('; ');
    throw unsupported(
      model,
      `no operator it quantises: it covers ${covered} with constant weights, and the graph has ${opCounts(nodes) || 'no nodes'}${why ? ` (${why})` : ''}`,
    );
  }
  const activations = new Set<string>();
  for (const node of planned) {
    activations.add(node.activation);
    activations.add(node.output);
  }
  return { nodes: planned, activations: [...activations], skipped };
}
