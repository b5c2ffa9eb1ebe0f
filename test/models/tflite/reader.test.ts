/** The TFLite reader: what it reads, the operator-code rule of schema 3a, and corrupt files. */
import { describe, expect, it } from 'vitest';
import { SegserveError } from '../../../src/errors.js';
import { convertTflite } from '../../../src/models/tflite/convert.js';
import { readTflite } from '../../../src/models/tflite/reader.js';
import { convertSpec, expectClose, oneOp, runSpec } from './harness.js';
import { type ModelSpec, options, writeTflite } from './tflite-writer.js';

const CONV: ModelSpec = {
  tensors: [
    { name: 'image', shape: [1, 2, 2, 3] },
    { name: 'scores', shape: [1, 2, 2, 1] },
    { name: 'kernel', shape: [1, 1, 1, 3], data: [0.25, 0.5, 1] },
    { name: 'bias', shape: [1], data: [-1] },
    {
      name: 'quantised',
      shape: [2],
      type: 'int8',
      data: [1, 2],
      quantization: { scale: [0.5, 0.25], zeroPoint: [0, 3], quantizedDimension: 0 },
    },
  ],
  operators: [
    {
      op: 'CONV_2D',
      inputs: [0, 2, 3],
      outputs: [1],
      options: options.conv2d({ padding: 'VALID', stride: 2 }),
    },
  ],
  inputs: [0],
  outputs: [1],
  description: 'a test model',
};

describe('readTflite', () => {
  it('reads tensors, constants, quantisation, operators and options', () => {
    const model = readTflite(writeTflite(CONV));
    expect(model.description).toBe('a test model');
    const [graph] = model.subgraphs;
    expect(graph.inputs).toEqual([0]);
    expect(graph.outputs).toEqual([1]);
    expect(graph.tensors.map((t) => [t.name, t.shape, t.type])).toEqual([
      ['image', [1, 2, 2, 3], 'float32'],
      ['scores', [1, 2, 2, 1], 'float32'],
      ['kernel', [1, 1, 1, 3], 'float32'],
      ['bias', [1], 'float32'],
      ['quantised', [2], 'int8'],
    ]);
    expect(graph.tensors[0].data).toBeUndefined();
    expect(Array.from(new Float32Array(graph.tensors[2].data!.slice().buffer))).toEqual([0.25, 0.5, 1]);
    expect(graph.tensors[4].quantization).toEqual({
      scale: [0.5, 0.25],
      zeroPoint: [0, 3],
      quantizedDimension: 0,
      custom: false,
    });
    expect(graph.operators).toEqual([
      expect.objectContaining({
        index: 0,
        name: 'CONV_2D',
        builtinCode: 3,
        inputs: [0, 2, 3],
        outputs: [1],
        options: {
          type: 'Conv2DOptions',
          padding: 'VALID',
          strideW: 2,
          strideH: 2,
          activation: 'NONE',
          dilationW: 1,
          dilationH: 1,
        },
      }),
    ]);
  });

  describe('operator codes: the larger of deprecated_builtin_code and builtin_code', () => {
    const relu = (opcode: 'legacy' | 'extended' | 'both'): ModelSpec => ({
      ...oneOp({ op: 'HARD_SWISH', input: [1, 3], output: [1, 3] }),
      operators: [{ op: 'HARD_SWISH', inputs: [0], outputs: [1], opcode }],
    });

    it('files before schema 3a store the code only in the byte-wide field', () => {
      expect(readTflite(writeTflite(relu('legacy'))).subgraphs[0].operators[0].name).toBe('HARD_SWISH');
    });

    it('files may store it only in the int32 field', () => {
      expect(readTflite(writeTflite(relu('extended'))).subgraphs[0].operators[0].name).toBe('HARD_SWISH');
    });

    it('codes past 127 have the placeholder 127 in the byte-wide field', () => {
      const spec = oneOp({ op: 'CUMSUM', input: [1, 3], output: [1, 3] });
      const [op] = readTflite(writeTflite(spec)).subgraphs[0].operators;
      expect([op.builtinCode, op.name]).toEqual([128, 'CUMSUM']);
      expect(() => convertSpec(spec)).toThrow(/operator 0 \(CUMSUM\)/);
    });
  });

  it('an operator stored without its options table runs with the defaults (no fused activation)', async () => {
    const spec = oneOp({
      op: 'ADD',
      input: [1, 2],
      output: [1, 2],
      constants: [{ shape: [2], data: [-5, 5] }],
    });
    expectClose(await runSpec(spec, [1, 2]), [-4, 7]);
  });

  it('options of the wrong table are an invalid file', () => {
    const spec = oneOp({
      op: 'ADD',
      input: [1, 2],
      output: [1, 2],
      constants: [{ shape: [2], data: [1, 1] }],
    });
    spec.operators[0].options = options.softmax(1);
    expect(() => convertSpec(spec)).toThrow(
      /operator 0 \(ADD\): carries SoftmaxOptions, expected AddOptions/,
    );
  });
});

function expectInvalid(bytes: Uint8Array, reason: RegExp): void {
  expect(() => readTflite(bytes)).toThrow(
    expect.objectContaining({ code: 'TFLITE_INVALID', message: expect.stringMatching(reason) }),
  );
}

/** xorshift32: the same "random" corruptions on every run. */
function random(seed: number): () => number {
  let state = seed;
  return () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 2 ** 32;
  };
}

describe('corrupt files are TFLITE_INVALID with a reason', () => {
  const valid = writeTflite(CONV);

  it('too short, or not a TFLite file', () => {
    expectInvalid(new Uint8Array(0), /too few/);
    expectInvalid(new TextEncoder().encode('{"name": "not a model"}'), /identifier is .*expected "TFL3"/);
  });

  it('a root offset past the end', () => {
    const bytes = valid.slice();
    new DataView(bytes.buffer).setUint32(0, bytes.length + 100, true);
    expectInvalid(bytes, /outside the file/);
  });

  it('a constant whose buffer does not hold its shape', () => {
    const spec = structuredClone(CONV);
    spec.tensors[2].shape = [1, 1, 1, 4];
    expectInvalid(writeTflite(spec), /tensors\[2\].*needs 16 bytes, its buffer holds 12/);
  });

  it('an operator reading a tensor that does not exist', () => {
    const spec = structuredClone(CONV);
    spec.operators[0].inputs = [0, 2, 9];
    expectInvalid(writeTflite(spec), /operators\[0\]\.inputs: tensor index 9 out of range/);
  });

  it('every truncation of a valid file', () => {
    for (let length = 0; length < valid.length; length++) {
      expect(() => readTflite(valid.subarray(0, length)), `first ${length} bytes`).toThrow(SegserveError);
    }
  });

  it('random byte corruptions: reading and converting fail with a TFLite error or succeed, never crash', () => {
    const next = random(0x5e65e7);
    for (let round = 0; round < 3000; round++) {
      const bytes = valid.slice();
      const changes = 1 + Math.floor(next() * 4);
      for (let c = 0; c < changes; c++) bytes[Math.floor(next() * bytes.length)] = Math.floor(next() * 256);
      try {
        convertTflite(readTflite(bytes));
      } catch (error) {
        expect(error, `round ${round}: ${(error as Error).stack}`).toBeInstanceOf(SegserveError);
        expect((error as SegserveError).code).toMatch(/^TFLITE_/);
      }
    }
  });
});
