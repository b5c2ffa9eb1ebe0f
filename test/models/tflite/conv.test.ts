/**
 * Convolutions against hand-computed results. Most cases are one image row, so each output is a short sum
 * that can be checked by eye: with kernel [1, 10, 100] the digits of an output tell which inputs (and which
 * padding) it saw.
 */
import { describe, expect, it } from 'vitest';
import { convertSpec, expectClose, oneOp, onnxOperators, runSpec } from './harness.js';
import {
  type Activation,
  type ModelSpec,
  options,
  type Padding,
  transposeConvBiasOptions,
} from './tflite-writer.js';

/** CONV_2D over one row of `input.length` pixels (1 channel) with a 1 x k kernel. */
function rowConv(
  input: number[],
  kernel: number[],
  outWidth: number,
  o: { padding: Padding; stride?: number; dilation?: number; activation?: Activation },
): ModelSpec {
  return oneOp({
    op: 'CONV_2D',
    input: [1, 1, input.length, 1],
    output: [1, 1, outWidth, 1],
    constants: [{ shape: [1, 1, kernel.length, 1], data: kernel }],
    options: options.conv2d({
      padding: o.padding,
      stride: o.stride,
      dilationW: o.dilation,
      activation: o.activation,
    }),
  });
}

describe('CONV_2D padding (TFLite puts the odd padding pixel at the end)', () => {
  it('SAME, stride 1, kernel 2: total 1 -> 0 before, 1 after', async () => {
    // out[x] = in[x] + 10 in[x + 1]
    expectClose(
      await runSpec(rowConv([1, 2, 3, 4], [1, 10], 4, { padding: 'SAME' }), [1, 2, 3, 4]),
      [21, 32, 43, 4],
    );
  });

  it('SAME, stride 1, kernel 3: total 2 -> 1 before, 1 after', async () => {
    expectClose(
      await runSpec(rowConv([1, 2, 3, 4], [1, 10, 100], 4, { padding: 'SAME' }), [1, 2, 3, 4]),
      [210, 321, 432, 43],
    );
  });

  it('SAME, stride 2, odd input 5, kernel 3: 3 outputs, total 2 -> windows start at -1, 1, 3', async () => {
    expectClose(
      await runSpec(
        rowConv([1, 2, 3, 4, 5], [1, 10, 100], 3, { padding: 'SAME', stride: 2 }),
        [1, 2, 3, 4, 5],
      ),
      [210, 432, 54],
    );
  });

  it('SAME, stride 2, even input 4, kernel 3: 2 outputs, total 1 -> windows start at 0, 2', async () => {
    expectClose(
      await runSpec(rowConv([1, 2, 3, 4], [1, 10, 100], 2, { padding: 'SAME', stride: 2 }), [1, 2, 3, 4]),
      [321, 43],
    );
  });

  it('VALID, stride 2: no padding, the last input no window reaches is dropped', async () => {
    expectClose(
      await runSpec(rowConv([1, 2, 3, 4, 5], [1, 10], 2, { padding: 'VALID', stride: 2 }), [1, 2, 3, 4, 5]),
      [21, 43],
    );
  });

  it('SAME with dilation 2: kernel taps at x - 1 and x + 1', async () => {
    expectClose(
      await runSpec(rowConv([1, 2, 3, 4, 5], [1, 10], 5, { padding: 'SAME', dilation: 2 }), [1, 2, 3, 4, 5]),
      [20, 31, 42, 53, 4],
    );
  });

  it('pads rows the same way as columns (SAME, kernel 2 tall)', async () => {
    const spec = oneOp({
      op: 'CONV_2D',
      input: [1, 4, 1, 1],
      output: [1, 4, 1, 1],
      constants: [{ shape: [1, 2, 1, 1], data: [1, 10] }],
      options: options.conv2d(),
    });
    expectClose(await runSpec(spec, [1, 2, 3, 4]), [21, 32, 43, 4]);
  });

  it('refuses a file whose declared output size is not what TFLite computes', () => {
    expect(() => convertSpec(rowConv([1, 2, 3, 4], [1, 10, 100], 3, { padding: 'SAME' }))).toThrow(
      /TFLite computes \[1,1,4,1\]/,
    );
  });
});

describe('CONV_2D channels, bias and fused activations', () => {
  it('reads the filter as [out, h, w, in] and adds the bias per output channel', async () => {
    const spec = oneOp({
      op: 'CONV_2D',
      input: [1, 1, 2, 2],
      output: [1, 1, 2, 3],
      constants: [
        { shape: [3, 1, 1, 2], data: [1, 0, 0, 1, 1, 1] },
        { shape: [3], data: [0.5, 0, -1] },
      ],
      options: options.conv2d(),
    });
    // Pixel 0 = (1, 2), pixel 1 = (3, 4): outputs (c0 + 0.5, c1, c0 + c1 - 1) per pixel, NHWC.
    expectClose(await runSpec(spec, [1, 2, 3, 4]), [1.5, 2, 2, 3.5, 4, 6]);
  });

  it('runs a grouped convolution when the input has a multiple of the filter channels', async () => {
    const spec = oneOp({
      op: 'CONV_2D',
      input: [1, 1, 1, 4],
      output: [1, 1, 1, 2],
      // Two groups of two channels: out0 = in0 + 2 in1, out1 = 3 in2 + 4 in3.
      constants: [{ shape: [2, 1, 1, 2], data: [1, 2, 3, 4] }],
      options: options.conv2d(),
    });
    expectClose(await runSpec(spec, [1, 10, 100, 1000]), [21, 4300]);
  });

  const inputs = [-2, -0.5, 0.5, 3, 7];
  const cases: Array<[Activation, number[]]> = [
    ['NONE', inputs],
    ['RELU', [0, 0, 0.5, 3, 7]],
    ['RELU6', [0, 0, 0.5, 3, 6]],
    ['RELU_N1_TO_1', [-1, -0.5, 0.5, 1, 1]],
  ];
  for (const [activation, expected] of cases) {
    it(`applies fused ${activation}`, async () => {
      expectClose(await runSpec(rowConv(inputs, [1], 5, { padding: 'VALID', activation }), inputs), expected);
    });
  }

  it('refuses fused TANH, whose meaning differs between TFLite runtimes, naming the operator', () => {
    try {
      convertSpec(rowConv(inputs, [1], 5, { padding: 'VALID', activation: 'TANH' }));
      expect.unreachable();
    } catch (error) {
      expect(error).toMatchObject({
        code: 'TFLITE_UNSUPPORTED_OPERATOR',
        details: { index: 0, operator: 'CONV_2D' },
      });
      expect((error as Error).message).toMatch(/fused activation TANH/);
    }
  });
});

describe('DEPTHWISE_CONV_2D', () => {
  it('maps output channel c * multiplier + m to input channel c (multiplier 2)', async () => {
    const spec = oneOp({
      op: 'DEPTHWISE_CONV_2D',
      input: [1, 1, 2, 2],
      output: [1, 1, 2, 4],
      constants: [
        { shape: [1, 1, 1, 4], data: [1, 10, 100, 1000] },
        { shape: [4], data: [0, 0, 0, 0.5] },
      ],
      options: options.depthwise({ depthMultiplier: 2 }),
    });
    expectClose(await runSpec(spec, [1, 2, 3, 4]), [1, 10, 200, 2000.5, 3, 30, 400, 4000.5]);
  });

  it('3x3 SAME stride 2 keeps channels apart and pads like CONV_2D', async () => {
    // 2 channels over a 3x3 image; channel 0 sums its window, channel 1 takes its centre tap only.
    const ones = [1, 1, 1, 1, 1, 1, 1, 1, 1];
    const centre = [0, 0, 0, 0, 1, 0, 0, 0, 0];
    const filter = ones.flatMap((one, i) => [one, centre[i]]);
    const spec = oneOp({
      op: 'DEPTHWISE_CONV_2D',
      input: [1, 3, 3, 2],
      output: [1, 2, 2, 2],
      constants: [{ shape: [1, 3, 3, 2], data: filter }],
      options: options.depthwise({ stride: 2 }),
    });
    // Channel 0 = 1..9, channel 1 = 10 x that. SAME, 3 -> 2 outputs: total 2, windows start at -1 and 1.
    const image = [1, 2, 3, 4, 5, 6, 7, 8, 9].flatMap((v) => [v, 10 * v]);
    // Channel 0 window sums: (0,0) 1+2+4+5 = 12; (0,1) 2+3+5+6 = 16; (1,0) 4+5+7+8 = 24; (1,1) 5+6+8+9 = 28.
    // Channel 1 centres: pixels (0,0) = 10, (0,2) = 30, (2,0) = 70, (2,2) = 90.
    expectClose(await runSpec(spec, image), [12, 10, 16, 30, 24, 70, 28, 90]);
  });

  it('refuses a depth_multiplier option that contradicts the filter', () => {
    const spec = oneOp({
      op: 'DEPTHWISE_CONV_2D',
      input: [1, 1, 1, 2],
      output: [1, 1, 1, 4],
      constants: [{ shape: [1, 1, 1, 4], data: [1, 2, 3, 4] }],
      options: options.depthwise({ depthMultiplier: 3 }),
    });
    expect(() => convertSpec(spec)).toThrow(/operator 0 \(DEPTHWISE_CONV_2D\).*depth_multiplier 3/);
  });
});

/** MediaPipe's Convolution2DTransposeBias over one row: filter [1, 1, k, 1], bias 0.5. */
function rowTransposeConvBias(
  input: number[],
  kernel: number[],
  padding: number,
  stride: number,
  out: number,
) {
  return oneOp({
    op: 'CUSTOM',
    custom: 'Convolution2DTransposeBias',
    input: [1, 1, input.length, 1],
    output: [1, 1, out, 1],
    constants: [
      { shape: [1, 1, kernel.length, 1], data: kernel },
      { shape: [1], data: [0.5] },
    ],
    customOptions: transposeConvBiasOptions(padding, stride, 1),
  });
}

describe('Convolution2DTransposeBias (MediaPipe custom operator)', () => {
  it('2x2 stride 2 SAME: each input pixel becomes a scaled 2x2 block, plus bias', async () => {
    const spec = oneOp({
      op: 'CUSTOM',
      custom: 'Convolution2DTransposeBias',
      input: [1, 2, 2, 1],
      output: [1, 4, 4, 1],
      constants: [
        { shape: [1, 2, 2, 1], data: [1, 10, 100, 1000] },
        { shape: [1], data: [0.5] },
      ],
      customOptions: transposeConvBiasOptions(1, 2, 2),
    });
    const expected = [
      [1, 10, 2, 20],
      [100, 1000, 200, 2000],
      [3, 30, 4, 40],
      [300, 3000, 400, 4000],
    ].flatMap((row) => row.map((v) => v + 0.5));
    expectClose(await runSpec(spec, [1, 2, 3, 4]), expected);
  });

  it('SAME, kernel 3, stride 2, input 2: total padding 1, all of it at the end', async () => {
    // Full output [1, 10, 100 + 2, 20, 200]; total = 3 - (1 % 2) - 1 = 1: out = 4, cropped at the end.
    expectClose(
      await runSpec(rowTransposeConvBias([1, 2], [1, 10, 100], 1, 2, 4), [1, 2]),
      [1.5, 10.5, 102.5, 20.5],
    );
  });

  it('SAME, kernel 4, stride 2, input 3: total padding 3, 1 before and 2 after', async () => {
    // Full output [1, 10, 102, 1020, 203, 2030, 300, 3000]; out = 2 * 2 + 4 - 3 = 5 starting at 1.
    expectClose(
      await runSpec(rowTransposeConvBias([1, 2, 3], [1, 10, 100, 1000], 1, 2, 5), [1, 2, 3]),
      [10.5, 102.5, 1020.5, 203.5, 2030.5],
    );
  });

  it('VALID keeps the whole output', async () => {
    expectClose(
      await runSpec(rowTransposeConvBias([1, 2], [1, 10, 100], 2, 2, 5), [1, 2]),
      [1.5, 10.5, 102.5, 20.5, 200.5],
    );
  });

  it('refuses a padding code that is neither SAME nor VALID', () => {
    expect(() => convertSpec(rowTransposeConvBias([1, 2], [1, 10, 100], 0, 2, 5))).toThrow(
      /operator 0 \(Convolution2DTransposeBias\).*padding code 0/,
    );
  });

  it('refuses missing custom options as an invalid file', () => {
    const spec = rowTransposeConvBias([1, 2], [1, 10, 100], 1, 2, 4);
    spec.operators[0].customOptions = undefined;
    expect(() => convertSpec(spec)).toThrow(expect.objectContaining({ code: 'TFLITE_INVALID' }));
  });
});

describe('TRANSPOSE_CONV (builtin)', () => {
  /** Inputs: output shape, filter, input, bias (tensors 2, 3, 0, 4). */
  function rowTransposeConv(input: number[], out: number, padding: Padding) {
    return oneOp({
      op: 'TRANSPOSE_CONV',
      input: [1, 1, input.length, 1],
      output: [1, 1, out, 1],
      constants: [
        { shape: [4], type: 'int32', data: [1, 1, out, 1] },
        { shape: [1, 1, 3, 1], data: [1, 10, 100] },
        { shape: [1], data: [0.5] },
      ],
      inputs: [2, 3, 0, 4],
      options: options.transposeConv({ padding, stride: 2 }),
    });
  }

  it('SAME to 4 outputs: padding taken from the forward window of the output, floor half before', async () => {
    expectClose(await runSpec(rowTransposeConv([1, 2], 4, 'SAME'), [1, 2]), [1.5, 10.5, 102.5, 20.5]);
  });

  it('VALID to 6 outputs: cells no input reaches get the bias only', async () => {
    expectClose(
      await runSpec(rowTransposeConv([1, 2], 6, 'VALID'), [1, 2]),
      [1.5, 10.5, 102.5, 20.5, 200.5, 0.5],
    );
  });
});

describe('layout', () => {
  it('keeps a chain of convolutions in NCHW: one transpose in, one out', () => {
    const identity = { shape: [2, 1, 1, 2], data: [1, 0, 0, 1] };
    const spec: ModelSpec = {
      tensors: [
        { shape: [1, 4, 4, 2] },
        { shape: [1, 4, 4, 2] },
        { shape: [1, 4, 4, 2] },
        { shape: [1, 4, 4, 2] },
        identity,
      ],
      operators: [
        { op: 'CONV_2D', inputs: [0, 4], outputs: [1], options: options.conv2d() },
        { op: 'RELU', inputs: [1], outputs: [2] },
        { op: 'CONV_2D', inputs: [2, 4], outputs: [3], options: options.conv2d() },
      ],
      inputs: [0],
      outputs: [3],
    };
    expect(onnxOperators(convertSpec(spec))).toEqual({ Transpose: 2, Conv: 2, Relu: 1 });
  });
});
