/**
 * Tiny ONNX models for runtime and repository tests, written into a temporary folder. Every expected output
 * can be worked out by hand.
 */
import type { RuntimeOptions } from '../../src/runtime/runtime.js';
import { writeModel } from '../helpers/onnx-builder.js';

/** Options of a one-session runtime named "tiny" version 1 on the CPU, for `modelPath`. */
export function runtimeOptions(modelPath: string, overrides: Partial<RuntimeOptions> = {}): RuntimeOptions {
  return {
    modelPath,
    modelName: 'tiny',
    version: 1,
    instances: 1,
    intraOpThreads: 1,
    interOpThreads: 1,
    executionProvider: 'cpu',
    maxQueue: 4,
    ...overrides,
  };
}

/**
 * Conv 1x1 from 3 channels to 2: channel 0 = R + 2G, channel 1 = 3B - 1 (bias). Input images [1, 3, H, W] with
 * symbolic height and width.
 */
export function writeConvModel(path: string): Promise<string> {
  return writeModel(path, {
    inputs: [{ name: 'images', dims: [1, 3, 'height', 'width'] }],
    outputs: [{ name: 'scores', dims: [1, 2, 'height', 'width'] }],
    initializers: [
      { name: 'w', dims: [2, 3, 1, 1], values: [1, 2, 0, 0, 0, 3] },
      { name: 'b', dims: [2], values: [0, -1] },
    ],
    nodes: [{ op: 'Conv', inputs: ['images', 'w', 'b'], outputs: ['scores'] }],
  });
}

/** What writeConvModel computes, for checking outputs. */
export function convExpected(input: Float32Array, pixels: number): number[] {
  const out: number[] = [];
  for (let p = 0; p < pixels; p++) out.push(input[p] + 2 * input[pixels + p]);
  for (let p = 0; p < pixels; p++) out.push(3 * input[2 * pixels + p] - 1);
  return out;
}

export const HEAVY_ROWS = 1024;
export const HEAVY_SIZE = 512;

/**
 * A deliberately slow model: `steps` chained [1024 x 512] x [512 x 512] MatMuls (about 0.5 GFLOP each) on
 * one weight matrix, so one run keeps a core busy long enough to watch the main thread meanwhile
 * (60 steps took about 0.3 s on one thread here).
 */
export function writeHeavyModel(path: string, steps: number): Promise<string> {
  const nodes = Array.from({ length: steps }, (_, i) => ({
    op: 'MatMul',
    inputs: [i === 0 ? 'x' : `h${i}`, 'w'],
    outputs: [i === steps - 1 ? 'y' : `h${i + 1}`],
  }));
  return writeModel(path, {
    inputs: [{ name: 'x', dims: [HEAVY_ROWS, HEAVY_SIZE] }],
    outputs: [{ name: 'y', dims: [HEAVY_ROWS, HEAVY_SIZE] }],
    initializers: [
      {
        name: 'w',
        dims: [HEAVY_SIZE, HEAVY_SIZE],
        values: new Float32Array(HEAVY_SIZE * HEAVY_SIZE).fill(1 / HEAVY_SIZE),
      },
    ],
    nodes,
  });
}

export function heavyInput(): Float32Array {
  return new Float32Array(HEAVY_ROWS * HEAVY_SIZE).fill(1);
}

/** Two-class probabilities passed straight through: input [1, 2, H, W] -> output probs, same values. */
export function writeIdentityModel(path: string): Promise<string> {
  return writeModel(path, {
    inputs: [{ name: 'x', dims: [1, 2, 'height', 'width'] }],
    outputs: [{ name: 'probs', dims: [1, 2, 'height', 'width'] }],
    nodes: [{ op: 'Identity', inputs: ['x'], outputs: ['probs'] }],
  });
}
