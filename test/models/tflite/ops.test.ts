/** Pools, element-wise operators, resize, shape operators and dequantisation against hand-computed results. */
import { describe, expect, it } from 'vitest';
import { convertSpec, expectClose, oneOp, onnxOperators, runSpec } from './harness.js';
import {
  type ModelSpec,
  type OpName,
  type OptionsSpec,
  options,
  type TensorSpec,
  toHalf,
} from './tflite-writer.js';

const IMAGE_3X3 = [1, 2, 3, 4, 5, 6, 7, 8, 9];

/** A 1x1 identity convolution over `channels` first, so the operator under test sees an NCHW-held input. */
function afterConv(
  op: OpName,
  shape: number[],
  output: number[],
  extra: TensorSpec[] = [],
  opts?: OptionsSpec,
) {
  const channels = shape[3];
  const identity = Array.from({ length: channels * channels }, (_, i) => (i % (channels + 1) === 0 ? 1 : 0));
  const spec: ModelSpec = {
    tensors: [
      { name: 'input', shape },
      { name: 'conv', shape },
      { name: 'output', shape: output },
      { shape: [channels, 1, 1, channels], data: identity },
      ...extra,
    ],
    operators: [
      { op: 'CONV_2D', inputs: [0, 3], outputs: [1], options: options.conv2d() },
      { op, inputs: [1, ...extra.map((_, i) => 4 + i)], outputs: [2], options: opts },
    ],
    inputs: [0],
    outputs: [2],
  };
  return spec;
}

describe('pools', () => {
  const pool = (op: OpName, padding: 'SAME' | 'VALID', stride: number, out: number) =>
    oneOp({
      op,
      input: [1, 3, 3, 1],
      output: [1, out, out, 1],
      options: options.pool({ padding, stride, filterW: 2, filterH: 2 }),
    });

  it('AVERAGE_POOL_2D SAME 2x2 stride 2: the padding cell at the end is not counted', async () => {
    // Windows (0,0): 1 2 4 5; (0,1): 3 6; (1,0): 7 8; (1,1): 9.
    expectClose(await runSpec(pool('AVERAGE_POOL_2D', 'SAME', 2, 2), IMAGE_3X3), [3, 4.5, 7.5, 9]);
  });

  it('MAX_POOL_2D SAME 2x2 stride 2', async () => {
    expectClose(await runSpec(pool('MAX_POOL_2D', 'SAME', 2, 2), IMAGE_3X3), [5, 6, 8, 9]);
  });

  it('AVERAGE_POOL_2D VALID 2x2 stride 1', async () => {
    expectClose(await runSpec(pool('AVERAGE_POOL_2D', 'VALID', 1, 2), IMAGE_3X3), [3, 4, 6, 7]);
  });

  it('applies a fused RELU6 after pooling', async () => {
    const spec = oneOp({
      op: 'MAX_POOL_2D',
      input: [1, 1, 2, 1],
      output: [1, 1, 1, 1],
      options: options.pool({ padding: 'VALID', filterW: 2, filterH: 1, activation: 'RELU6' }),
    });
    expectClose(await runSpec(spec, [3, 9]), [6]);
  });
});

describe('element-wise operators', () => {
  const values = [-4, -3, -1, 0, 1, 3, 4];
  const unary = (op: OpName, opts?: OptionsSpec) =>
    oneOp({ op, input: [1, 1, values.length, 1], output: [1, 1, values.length, 1], options: opts });

  const cases: Array<[OpName, number[], OptionsSpec?]> = [
    ['RELU', [0, 0, 0, 0, 1, 3, 4]],
    ['RELU6', [0, 0, 0, 0, 1, 3, 4]],
    ['RELU_N1_TO_1', [-1, -1, -1, 0, 1, 1, 1]],
    // x * relu6(x + 3) / 6
    ['HARD_SWISH', [0, 0, -1 / 3, 0, 4 / 6, 3, 4]],
    ['LOGISTIC', values.map((x) => 1 / (1 + Math.exp(-x)))],
    ['TANH', values.map(Math.tanh)],
    ['LEAKY_RELU', [-0.8, -0.6, -0.2, 0, 1, 3, 4], options.leakyRelu(0.2)],
  ];
  for (const [op, expected, opts] of cases) {
    it(op, async () => {
      expectClose(await runSpec(unary(op, opts), values), expected);
    });
  }

  it('SOFTMAX over the channels, with beta', async () => {
    const spec = oneOp({
      op: 'SOFTMAX',
      input: [1, 1, 1, 3],
      output: [1, 1, 1, 3],
      options: options.softmax(2),
    });
    const e = [Math.exp(0), Math.exp(2), Math.exp(4)];
    const sum = e[0] + e[1] + e[2];
    expectClose(
      await runSpec(spec, [0, 1, 2]),
      e.map((v) => v / sum),
    );
  });

  it('SOFTMAX over the channels of an NCHW-held input', async () => {
    const spec = afterConv('SOFTMAX', [1, 1, 2, 2], [1, 1, 2, 2], [], options.softmax(1));
    const p = 1 / (1 + Math.exp(-1));
    expectClose(await runSpec(spec, [0, 1, 5, 4]), [1 - p, p, p, 1 - p]);
  });

  const binaryCases: Array<[string, OpName, OptionsSpec | undefined, number[]]> = [
    ['ADD', 'ADD', options.add(), [11, 22, 13, 24]],
    ['SUB', 'SUB', options.sub(), [-9, -18, -7, -16]],
    ['MUL', 'MUL', options.mul(), [10, 40, 30, 80]],
    ['DIV', 'DIV', options.div(), [0.1, 0.1, 0.3, 0.2]],
    ['MAXIMUM', 'MAXIMUM', undefined, [10, 20, 10, 20]],
    ['MINIMUM', 'MINIMUM', undefined, [1, 2, 3, 4]],
    ['ADD with fused RELU6', 'ADD', options.add('RELU6'), [6, 6, 6, 6]],
  ];
  for (const [name, op, opts, expected] of binaryCases) {
    it(`${name} broadcasts a per-channel constant in NCHW`, async () => {
      // Pixels (1, 2) and (3, 4); the constant is [10, 20] per channel.
      const spec = afterConv(op, [1, 1, 2, 2], [1, 1, 2, 2], [{ shape: [2], data: [10, 20] }], opts);
      expectClose(await runSpec(spec, [1, 2, 3, 4]), expected);
    });
  }

  it('MUL of an image by a [1, 1, 1, C] activation (squeeze-and-excitation) needs no transposes', async () => {
    const spec: ModelSpec = {
      tensors: [
        { shape: [1, 2, 2, 2] },
        { shape: [1, 2, 2, 2] },
        { shape: [1, 1, 1, 2] },
        { shape: [1, 2, 2, 2] },
        { shape: [2, 1, 1, 2], data: [1, 0, 0, 1] },
      ],
      operators: [
        { op: 'CONV_2D', inputs: [0, 4], outputs: [1], options: options.conv2d() },
        {
          op: 'AVERAGE_POOL_2D',
          inputs: [1],
          outputs: [2],
          options: options.pool({ padding: 'VALID', stride: 2, filterW: 2, filterH: 2 }),
        },
        { op: 'MUL', inputs: [1, 2], outputs: [3], options: options.mul() },
      ],
      inputs: [0],
      outputs: [3],
    };
    expect(onnxOperators(convertSpec(spec)).Transpose).toBe(2);
    // Channel means: (1 + 3 + 5 + 7) / 4 = 4, (2 + 4 + 6 + 8) / 4 = 5.
    expectClose(await runSpec(spec, [1, 2, 3, 4, 5, 6, 7, 8]), [4, 10, 12, 20, 20, 30, 28, 40]);
  });
});

describe('RESIZE_BILINEAR', () => {
  const resize = (alignCorners: boolean, halfPixelCenters: boolean) =>
    oneOp({
      op: 'RESIZE_BILINEAR',
      input: [1, 1, 2, 1],
      output: [1, 1, 4, 1],
      constants: [{ shape: [2], type: 'int32', data: [1, 4] }],
      options: options.resizeBilinear(alignCorners, halfPixelCenters),
    });

  it('neither flag: x_in = x * in / out, clamped at the last column', async () => {
    // x_in = 0, 0.5, 1, 1.5
    expectClose(await runSpec(resize(false, false), [0, 10]), [0, 5, 10, 10]);
  });

  it('half_pixel_centers: x_in = (x + 0.5) * in / out - 0.5, negative clamped to 0', async () => {
    // x_in = -0.25, 0.25, 0.75, 1.25
    expectClose(await runSpec(resize(false, true), [0, 10]), [0, 2.5, 7.5, 10]);
  });

  it('align_corners: x_in = x * (in - 1) / (out - 1)', async () => {
    expectClose(await runSpec(resize(true, false), [0, 10]), [0, 10 / 3, 20 / 3, 10]);
  });

  it('half_pixel_centers in two dimensions, 2x2 -> 4x4', async () => {
    const spec = oneOp({
      op: 'RESIZE_BILINEAR',
      input: [1, 2, 2, 1],
      output: [1, 4, 4, 1],
      constants: [{ shape: [2], type: 'int32', data: [4, 4] }],
      options: options.resizeBilinear(false, true),
    });
    // Rows interpolate [0, 10] -> [0, 2.5, 7.5, 10]; columns add [0, 100] -> [0, 25, 75, 100].
    const rows = [0, 25, 75, 100];
    const cols = [0, 2.5, 7.5, 10];
    expectClose(
      await runSpec(spec, [0, 10, 100, 110]),
      rows.flatMap((r) => cols.map((c) => r + c)),
    );
  });

  it('refuses align_corners together with half_pixel_centers', () => {
    expect(() => convertSpec(resize(true, true))).toThrow(
      expect.objectContaining({
        code: 'TFLITE_UNSUPPORTED_OPERATOR',
        details: expect.objectContaining({ index: 0 }),
      }),
    );
  });
});

describe('shape operators', () => {
  it('RESHAPE of an NCHW-held tensor keeps the TFLite (NHWC) element order', async () => {
    const spec = afterConv('RESHAPE', [1, 1, 2, 2], [1, 4], [{ shape: [2], type: 'int32', data: [1, 4] }]);
    expectClose(await runSpec(spec, [1, 2, 3, 4]), [1, 2, 3, 4]);
  });

  it('CONCATENATION along the channels of NCHW-held inputs, negative axis, fused RELU', async () => {
    const spec: ModelSpec = {
      tensors: [
        { shape: [1, 1, 2, 1] },
        { shape: [1, 1, 2, 1] },
        { shape: [1, 1, 2, 2] },
        { shape: [1, 1, 1, 1], data: [-1] },
        { shape: [1, 1, 2, 1], data: [5, -5] },
      ],
      operators: [
        { op: 'CONV_2D', inputs: [0, 3], outputs: [1], options: options.conv2d() },
        { op: 'CONCATENATION', inputs: [1, 4], outputs: [2], options: options.concatenation(-1, 'RELU') },
      ],
      inputs: [0],
      outputs: [2],
    };
    // conv negates: (-1, 2) -> (1, -2); concatenated per pixel with (5, -5), then RELU.
    expectClose(await runSpec(spec, [-1, 2]), [1, 5, 0, 0]);
  });

  it('CONCATENATION along the width', async () => {
    const spec = oneOp({
      op: 'CONCATENATION',
      input: [1, 1, 2, 1],
      output: [1, 1, 3, 1],
      constants: [{ shape: [1, 1, 1, 1], data: [7] }],
      options: options.concatenation(2),
    });
    expectClose(await runSpec(spec, [1, 2]), [1, 2, 7]);
  });

  it('MEAN over height and width, keeping dimensions, in NCHW', async () => {
    const spec = afterConv(
      'MEAN',
      [1, 2, 2, 2],
      [1, 1, 1, 2],
      [{ shape: [2], type: 'int32', data: [1, 2] }],
      options.reducer(true),
    );
    expect(onnxOperators(convertSpec(spec)).Transpose).toBe(2);
    expectClose(await runSpec(spec, [1, 2, 3, 4, 5, 6, 7, 8]), [4, 5]);
  });

  it('MEAN over the channels without keeping dimensions', async () => {
    const spec = oneOp({
      op: 'MEAN',
      input: [1, 1, 2, 2],
      output: [1, 1, 2],
      constants: [{ shape: [1], type: 'int32', data: [-1] }],
      options: options.reducer(false),
    });
    expectClose(await runSpec(spec, [1, 2, 3, 5]), [1.5, 4]);
  });

  it('PAD with zeros, before and after, along the width of an NCHW-held input', async () => {
    const spec = afterConv(
      'PAD',
      [1, 1, 2, 1],
      [1, 1, 5, 1],
      [{ shape: [4, 2], type: 'int32', data: [0, 0, 0, 0, 1, 2, 0, 0] }],
    );
    expectClose(await runSpec(spec, [1, 2]), [0, 1, 2, 0, 0]);
  });
});

describe('DEQUANTIZE of constant weights', () => {
  it('float16 weights become the exact float32 values', async () => {
    const spec: ModelSpec = {
      tensors: [
        { shape: [1, 1, 1, 2] },
        { shape: [1, 1, 1, 1] },
        { shape: [1, 1, 1, 2], type: 'float16', data: [1.5, -0.0999755859375] },
        { shape: [1, 1, 1, 2] },
      ],
      operators: [
        { op: 'DEQUANTIZE', inputs: [2], outputs: [3] },
        { op: 'CONV_2D', inputs: [0, 3], outputs: [1], options: options.conv2d() },
      ],
      inputs: [0],
      outputs: [1],
    };
    expect(toHalf(-0.0999755859375)).toBe(0xae66);
    expectClose(await runSpec(spec, [2, 10]), [2.000244140625], 0);
  });

  it('int8 weights with per-channel scales: scale * (q - zero_point) along the quantised dimension', async () => {
    const spec: ModelSpec = {
      tensors: [
        { shape: [1, 1, 1, 1] },
        { shape: [1, 1, 1, 2] },
        {
          shape: [2, 1, 1, 1],
          type: 'int8',
          data: [3, -4],
          quantization: { scale: [0.5, 0.25], zeroPoint: [1, 0], quantizedDimension: 0 },
        },
        { shape: [2, 1, 1, 1] },
      ],
      operators: [
        { op: 'DEQUANTIZE', inputs: [2], outputs: [3] },
        { op: 'CONV_2D', inputs: [0, 3], outputs: [1], options: options.conv2d() },
      ],
      inputs: [0],
      outputs: [1],
    };
    // Weights 0.5 * (3 - 1) = 1 and 0.25 * (-4 - 0) = -1.
    expectClose(await runSpec(spec, [7]), [7, -7]);
  });
});

describe('refusals', () => {
  it('an operator without a converter, by name and index', () => {
    const spec: ModelSpec = {
      tensors: [{ shape: [1, 2] }, { shape: [1, 2] }, { shape: [1, 2] }],
      operators: [
        { op: 'RELU', inputs: [0], outputs: [1] },
        { op: 'SQUARED_DIFFERENCE', inputs: [1, 0], outputs: [2] },
      ],
      inputs: [0],
      outputs: [2],
    };
    expect(() => convertSpec(spec)).toThrow(
      expect.objectContaining({
        code: 'TFLITE_UNSUPPORTED_OPERATOR',
        details: expect.objectContaining({ index: 1, operator: 'SQUARED_DIFFERENCE' }),
        message: expect.stringMatching(/operator 1 \(SQUARED_DIFFERENCE\)/),
      }),
    );
  });

  it('an unknown custom operator, by its custom code', () => {
    const spec = oneOp({ op: 'CUSTOM', custom: 'FlexErf', input: [1, 2], output: [1, 2] });
    expect(() => convertSpec(spec)).toThrow(/operator 0 \(FlexErf\) cannot be imported: custom operator/);
  });

  it('a quantised graph: integer activations', () => {
    const spec: ModelSpec = {
      tensors: [{ shape: [1, 2] }, { shape: [1, 2], type: 'int8' }, { shape: [1, 2], type: 'int8' }],
      operators: [
        { op: 'RELU', inputs: [0], outputs: [1] },
        { op: 'RELU', inputs: [1], outputs: [2] },
      ],
      inputs: [0],
      outputs: [2],
    };
    expect(() => convertSpec(spec)).toThrow(/operator 0 \(RELU\).*int8; only float32 models/);
  });

  it('a quantised input', () => {
    const spec = oneOp({ op: 'RELU', input: [1, 2], output: [1, 2] });
    spec.tensors[0].type = 'uint8';
    expect(() => convertSpec(spec)).toThrow(expect.objectContaining({ code: 'TFLITE_UNSUPPORTED_MODEL' }));
  });

  it('an operator reading a tensor nothing computes', () => {
    const spec: ModelSpec = {
      tensors: [{ shape: [1, 2] }, { shape: [1, 2] }, { shape: [1, 2] }],
      operators: [{ op: 'ADD', inputs: [0, 2], outputs: [1], options: options.add() }],
      inputs: [0],
      outputs: [1],
    };
    expect(() => convertSpec(spec)).toThrow(expect.objectContaining({ code: 'TFLITE_INVALID' }));
  });
});
