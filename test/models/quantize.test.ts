/**
 * The int8 quantiser on tiny graphs built here: which nodes it plans and which it refuses by name, the weight and
 * range arithmetic, and a quantised Conv/MatMul/Gemm graph that ONNX Runtime loads and whose outputs stay
 * within the quantisation step of the float32 ones.
 */
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import {
  applyQdq,
  decodeModel,
  encodeModel,
  percentileRange,
  planQuantization,
  quantizeWeight,
  RangeCollector,
  uint8Parameters,
  withActivationOutputs,
} from '../../src/models/quantize/index.js';
import { buildModel, type GraphSpec } from '../helpers/onnx-builder.js';

/** Conv 3->4 (3x3, bias) -> Relu -> MatMul 4x2 over the channel axis -> Gemm 2x3 (transB). */
function layeredSpec(): GraphSpec {
  const values = (n: number, scale: number) => Array.from({ length: n }, (_, i) => Math.sin(i * 1.7) * scale);
  return {
    inputs: [{ name: 'x', dims: [1, 3, 4, 4] }],
    outputs: [{ name: 'y', dims: [16, 3] }],
    nodes: [
      {
        op: 'Conv',
        inputs: ['x', 'w', 'b'],
        outputs: ['c'],
        attributes: { pads: [1, 1, 1, 1] },
        name: 'conv',
      },
      { op: 'Relu', inputs: ['c'], outputs: ['r'] },
      { op: 'Transpose', inputs: ['r'], outputs: ['t'], attributes: { perm: [0, 2, 3, 1] } },
      { op: 'Reshape', inputs: ['t', 'shape'], outputs: ['flat'] },
      { op: 'MatMul', inputs: ['flat', 'm'], outputs: ['mm'], name: 'matmul' },
      { op: 'Gemm', inputs: ['mm', 'g', 'gb'], outputs: ['y'], attributes: { transB: 1 }, name: 'gemm' },
    ],
    initializers: [
      { name: 'w', dims: [4, 3, 3, 3], values: values(108, 0.5) },
      { name: 'b', dims: [4], values: [0.1, -0.2, 0.3, 0] },
      { name: 'shape', dims: [2], values: [16, 4], type: 'int64' },
      { name: 'm', dims: [4, 2], values: values(8, 1) },
      { name: 'g', dims: [3, 2], values: values(6, 2) },
      { name: 'gb', dims: [3], values: [0.5, 0, -0.5] },
    ],
  };
}

/** What `action` throws (the planner throws synchronously). */
function caught(action: () => unknown): unknown {
  try {
    action();
  } catch (error) {
    return error;
  }
  throw new Error('nothing was thrown');
}

const input = Float32Array.from({ length: 48 }, (_, i) => ((i * 37) % 48) / 48);

async function run(bytes: Uint8Array, outputs?: string[]): Promise<Record<string, Float32Array>> {
  const session = await ort.InferenceSession.create(bytes, { logSeverityLevel: 3 });
  try {
    const feeds = { x: new ort.Tensor('float32', input, [1, 3, 4, 4]) };
    const result = await (outputs ? session.run(feeds, outputs) : session.run(feeds));
    return Object.fromEntries(Object.entries(result).map(([k, v]) => [k, v.data as Float32Array]));
  } finally {
    await session.release();
  }
}

describe('int8 quantisation plan', () => {
  it('plans Conv, MatMul and Gemm with constant weights, and their activations', () => {
    const plan = planQuantization(decodeModel(buildModel(layeredSpec())), { model: 'm' });
    expect(plan.nodes.map((n) => [n.name, n.op, n.weightAxis])).toEqual([
      ['conv', 'Conv', 0],
      ['matmul', 'MatMul', 1],
      ['gemm', 'Gemm', 0],
    ]);
    expect(plan.activations.sort()).toEqual(['c', 'flat', 'mm', 'x', 'y']);
    expect(plan.skipped).toEqual([]);
  });

  it('keeps excluded nodes in float32 and refuses names that are not in the graph', () => {
    const model = decodeModel(buildModel(layeredSpec()));
    const plan = planQuantization(model, { model: 'm', exclude: ['matmul'] });
    expect(plan.nodes.map((n) => n.name)).toEqual(['conv', 'gemm']);
    expect(plan.skipped).toEqual([{ name: 'matmul', op: 'MatMul', reason: 'excluded' }]);
    const error = caught(() => planQuantization(model, { model: 'm', exclude: ['nope'] }));
    expect(error).toMatchObject({ code: 'INVALID_ARGUMENT' });
    expect(String(error)).toContain('nope');
  });

  it('refuses a graph with nothing it covers, naming the operators it has', () => {
    const spec: GraphSpec = {
      inputs: [{ name: 'x', dims: [1, 3, 4, 4] }],
      outputs: [{ name: 'y', dims: [1, 3, 4, 4] }],
      nodes: [
        { op: 'Sigmoid', inputs: ['x'], outputs: ['s'] },
        { op: 'Mul', inputs: ['s', 'x'], outputs: ['y'] },
      ],
    };
    const error = caught(() => planQuantization(decodeModel(buildModel(spec)), { model: 'tiny' }));
    expect(error).toMatchObject({ code: 'QUANTIZE_UNSUPPORTED' });
    expect(String((error as Error).message)).toMatch(/covers Conv, MatMul, Gemm.*Sigmoid x1, Mul x1/);
  });

  it('refuses a covered operator whose weight is not constant, saying why', () => {
    const spec: GraphSpec = {
      inputs: [
        { name: 'a', dims: [2, 2] },
        { name: 'b', dims: [2, 2] },
      ],
      outputs: [{ name: 'y', dims: [2, 2] }],
      nodes: [{ op: 'MatMul', inputs: ['a', 'b'], outputs: ['y'], name: 'mm' }],
    };
    const error = caught(() => planQuantization(decodeModel(buildModel(spec)), { model: 'tiny' }));
    expect(error).toMatchObject({ code: 'QUANTIZE_UNSUPPORTED' });
    expect((error as Error).message).toContain('mm: its weight is not a constant float32 initializer');
  });

  it('refuses a graph that is quantised already, and one older than opset 13', () => {
    const quantised: GraphSpec = {
      inputs: [{ name: 'x', dims: [2] }],
      outputs: [{ name: 'y', dims: [2] }],
      nodes: [{ op: 'DynamicQuantizeLinear', inputs: ['x'], outputs: ['y', 's', 'z'] }],
    };
    expect(
      (caught(() => planQuantization(decodeModel(buildModel(quantised)), { model: 'q' })) as Error).message,
    ).toContain('quantised already (DynamicQuantizeLinear x1)');
    const old = decodeModel(buildModel({ ...layeredSpec(), opset: 12 }));
    expect((caught(() => planQuantization(old, { model: 'o' })) as Error).message).toContain('opset 12');
  });
});

describe('int8 arithmetic', () => {
  it('scales weights per output channel, symmetrically, to -127..127', () => {
    const { values, scales } = quantizeWeight(Float32Array.of(1, -0.5, 0.25, 0, 0, 0, -2, 1), [4, 2], 0);
    expect(Array.from(scales)).toEqual([1 / 127, 0.25 / 127, 1, 2 / 127].map(Math.fround));
    expect(Array.from(values)).toEqual([127, -64, 127, 0, 0, 0, -127, 64]);
  });

  it('widens an activation range to hold 0 and maps 0 exactly', () => {
    expect(uint8Parameters({ min: 1, max: 3 })).toEqual({ scale: Math.fround(3 / 255), zeroPoint: 0 });
    expect(uint8Parameters({ min: -1, max: 3 }).zeroPoint).toBe(64);
    expect(uint8Parameters({ min: 0, max: 0 })).toEqual({ scale: 1, zeroPoint: 0 });
  });

  it('clips to percentiles per image, and min-max keeps the extremes', () => {
    const values = new Float32Array(10_000).map((_, i) => i / 10_000);
    values[0] = -50;
    values[1] = 80;
    const clipped = percentileRange(values, 99.9);
    expect(clipped.min).toBeGreaterThan(-1);
    expect(clipped.max).toBeLessThan(2);
    const minmax = new RangeCollector({ kind: 'minmax' });
    minmax.add(new Map([['t', values]]));
    minmax.add(new Map([['t', Float32Array.of(-60, 0)]]));
    expect(minmax.ranges().get('t')).toEqual({ min: -60, max: 80 });
  });
});

describe('the int8 graph', () => {
  it('runs in ONNX Runtime with QDQ around every planned node, close to the float32 answer', async () => {
    const bytes = buildModel(layeredSpec());
    const plan = planQuantization(decodeModel(bytes), { model: 'm' });
    // Calibration: the activations as outputs of the float graph, on the one input.
    const calibration = encodeModel(withActivationOutputs(decodeModel(bytes), plan.activations));
    const collector = new RangeCollector({ kind: 'minmax' });
    collector.add(new Map(Object.entries(await run(calibration, plan.activations))));
    const quantised = applyQdq(decodeModel(bytes), plan, collector.ranges());
    const ops = quantised.graph?.node?.map((n) => n.opType) ?? [];
    expect(ops.filter((op) => op === 'QuantizeLinear')).toHaveLength(plan.activations.length);
    // One DequantizeLinear per activation, per weight, and per bias (Conv and Gemm).
    expect(ops.filter((op) => op === 'DequantizeLinear')).toHaveLength(plan.activations.length + 3 + 2);
    // int8 weights and their zero points.
    const int8Tensors = quantised.graph?.initializer?.filter((t) => t.dataType === 3) ?? [];
    expect(int8Tensors.filter((t) => t.name?.endsWith('_quantized'))).toHaveLength(3);
    const float = (await run(bytes)).y;
    const int8 = (await run(encodeModel(quantised))).y;
    const range = Math.max(...float) - Math.min(...float);
    const worst = Math.max(...float.map((v, i) => Math.abs(v - int8[i])));
    expect(worst).toBeGreaterThan(0);
    expect(worst).toBeLessThan(range * 0.03);
  });
});
