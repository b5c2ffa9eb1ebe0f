/**
 * The worker's side of batching (executeBatch) with a fake model: how feeds are stacked along the batch
 * dimension, how outputs are split back, and what a model that does not answer per item gets.
 */
import { describe, expect, it } from 'vitest';
import { batchKey, executeBatch } from '../../src/runtime/batch.js';
import type { Infer, JobOutcome } from '../../src/runtime/job.js';
import type { NamedTensors } from '../../src/runtime/types.js';

const feeds = (value: number): NamedTensors => ({
  x: { type: 'float32', dims: [1, 2], data: Float32Array.of(value, value + 1) },
  k: { type: 'int64', dims: [1, 1], data: BigInt64Array.of(BigInt(value)) },
});

describe('executeBatch', () => {
  it('stacks every feed along the batch dimension and gives each job its own slice of every output', async () => {
    let seen: NamedTensors = {};
    // Doubles x and echoes k: per item, so each job's answer depends only on its own feeds.
    const infer: Infer = async (batch) => {
      seen = batch;
      const x = batch.x.data as Float32Array;
      return {
        y: { type: 'float32', dims: batch.x.dims, data: x.map((v) => v * 2) },
        k: batch.k,
      };
    };
    const outcomes = (await executeBatch(
      [{ feeds: feeds(1) }, { feeds: feeds(10) }, { feeds: feeds(100) }],
      infer,
    )) as JobOutcome[];
    expect(seen.x.dims).toEqual([3, 2]);
    expect(Array.from(seen.x.data as Float32Array)).toEqual([1, 2, 10, 11, 100, 101]);
    expect(Array.from(seen.k.data as BigInt64Array)).toEqual([1n, 10n, 100n]);
    expect(outcomes.map((o) => Array.from(o.outputs?.y.data as Float32Array))).toEqual([
      [2, 4],
      [20, 22],
      [200, 202],
    ]);
    expect(outcomes.map((o) => o.outputs?.k.dims)).toEqual([
      [1, 1],
      [1, 1],
      [1, 1],
    ]);
    // Each slice owns its buffer, so it can be transferred on its own.
    expect(outcomes[1].outputs?.y.data.byteOffset).toBe(0);
  });

  it('fails the whole batch when an output does not have the batch first', async () => {
    const infer: Infer = async () => ({ y: { type: 'float32', dims: [1, 4], data: new Float32Array(4) } });
    await expect(executeBatch([{ feeds: feeds(1) }, { feeds: feeds(2) }], infer)).rejects.toMatchObject({
      code: 'INFERENCE_FAILED',
      message: expect.stringContaining('output "y" of a batch of 2 has shape [1, 4]'),
    });
  });
});

describe('batchKey', () => {
  it('is equal for jobs of the same shapes and outputs, different otherwise, and absent for several items', () => {
    expect(batchKey(feeds(1), {})).toBe(batchKey(feeds(2), {}));
    expect(batchKey(feeds(1), { outputNames: ['y'] })).not.toBe(batchKey(feeds(1), {}));
    const wider = { ...feeds(1), x: { type: 'float32' as const, dims: [1, 3], data: new Float32Array(3) } };
    expect(batchKey(wider, {})).not.toBe(batchKey(feeds(1), {}));
    const two = { x: { type: 'float32' as const, dims: [2, 2], data: new Float32Array(4) } };
    expect(batchKey(two, {})).toBeUndefined();
  });
});
