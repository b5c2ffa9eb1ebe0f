import { describe, expect, it } from 'vitest';
import { isSegserveError } from '../../src/errors.js';
import type { NamedTensors, TensorData } from '../../src/runtime/types.js';
import { resolveRoles, toFloat32, toIntegers } from '../../src/tasks/outputs.js';
import type { DecodeContext } from '../../src/tasks/types.js';
import { configOf, identity } from './support.js';

function tensor(dims: number[]): TensorData {
  return { type: 'float32', dims, data: new Float32Array(dims.reduce((a, b) => a * b, 1)) };
}

function context(names: Record<string, string> = {}): DecodeContext {
  return {
    config: configOf({
      name: 'm',
      task: 'instance',
      decoder: 'rcnn',
      input: { width: 4, height: 4 },
      output: { names },
    }),
    labels: ['a'],
    transform: identity(4, 4),
  };
}

const roles = ['boxes', 'labels', 'scores', 'masks'] as const;

describe('resolveRoles', () => {
  it('takes unnamed roles from the outputs in record order', () => {
    const outputs: NamedTensors = { b: tensor([1]), a: tensor([2]), c: tensor([3]), d: tensor([4]) };
    const picked = resolveRoles(outputs, roles, context(), 'rcnn');
    expect(roles.map((r) => picked[r].dims[0])).toEqual([1, 2, 3, 4]);
  });

  it('gives named roles their outputs and the rest the remaining ones in order', () => {
    const outputs: NamedTensors = { b: tensor([1]), a: tensor([2]), c: tensor([3]), d: tensor([4]) };
    const picked = resolveRoles(outputs, roles, context({ masks: 'b', boxes: 'c' }), 'rcnn');
    expect(roles.map((r) => picked[r].dims[0])).toEqual([3, 2, 4, 1]);
  });

  it('puts numeric output names first, as JavaScript orders keys (so name such roles in config)', () => {
    const outputs: NamedTensors = { boxes: tensor([1]), '2': tensor([2]) };
    expect(Object.keys(outputs)).toEqual(['2', 'boxes']);
    const picked = resolveRoles(outputs, ['boxes', 'labels'], context(), 'rcnn');
    expect(picked.boxes.dims[0]).toBe(2);
  });

  it('rejects data whose length does not match the dims', () => {
    const bad: NamedTensors = { x: { type: 'float32', dims: [2, 3], data: new Float32Array(5) } };
    try {
      resolveRoles(bad, ['boxes'], context(), 'rcnn');
      throw new Error('expected a mismatch');
    } catch (error) {
      expect(isSegserveError(error) && error.code).toBe('MODEL_OUTPUT_MISMATCH');
      expect(String(isSegserveError(error) && error.details.reason)).toMatch(/5 values for dims \[2, 3\]/);
      expect(String(error)).toMatch(/Model "m" returned outputs that decoder "rcnn" cannot read/);
    }
  });
});

describe('numeric views', () => {
  it('passes float32 through and converts float16, float64, ints and int64', () => {
    const f32 = new Float32Array([1.5]);
    expect(toFloat32({ type: 'float32', dims: [1], data: f32 })).toBe(f32);
    // 0x3c00 = 1, 0xc000 = -2, 0x3555 = 0.33325, 0x0001 = 2^-24 (subnormal), 0x7c00 = Infinity.
    const half = toFloat32({
      type: 'float16',
      dims: [5],
      data: Uint16Array.of(0x3c00, 0xc000, 0x3555, 0x0001, 0x7c00),
    });
    expect(Array.from(half.subarray(0, 2))).toEqual([1, -2]);
    expect(half[2]).toBeCloseTo(0.33325, 5);
    expect(half[3]).toBeCloseTo(2 ** -24, 12);
    expect(half[4]).toBe(Number.POSITIVE_INFINITY);
    expect(Array.from(toFloat32({ type: 'float64', dims: [1], data: Float64Array.of(0.25) }))).toEqual([
      0.25,
    ]);
    expect(Array.from(toFloat32({ type: 'int64', dims: [2], data: BigInt64Array.of(3n, -1n) }))).toEqual([
      3, -1,
    ]);
    expect(Array.from(toIntegers({ type: 'int64', dims: [2], data: BigInt64Array.of(90n, 0n) }))).toEqual([
      90, 0,
    ]);
    expect(
      Array.from(toIntegers({ type: 'float32', dims: [2], data: Float32Array.of(2, 0.9999999) })),
    ).toEqual([2, 1]);
  });
});
