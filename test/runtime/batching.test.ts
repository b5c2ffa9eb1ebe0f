/**
 * Dynamic batching in the SessionPool, on a 1x1 convolution with symbolic batch, height and width: concurrent
 * jobs form batches (seen through each answer's `batchSize`, not through timing) and every job gets exactly the
 * values it gets alone; jobs of different shapes are never stacked together (no padding), each runs in a batch
 * of its own shape.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SessionPool } from '../../src/runtime/pool.js';
import type { RunResult } from '../../src/runtime/runtime.js';
import { writeModel } from '../helpers/onnx-builder.js';
import { convExpected, runtimeOptions } from './tiny-models.js';

let dir: string;
let convPath: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'segserve-batching-'));
  // writeConvModel's graph (channel 0 = R + 2G, channel 1 = 3B - 1) with a symbolic batch dimension.
  convPath = await writeModel(join(dir, 'conv.onnx'), {
    inputs: [{ name: 'images', dims: ['batch', 3, 'height', 'width'] }],
    outputs: [{ name: 'scores', dims: ['batch', 2, 'height', 'width'] }],
    initializers: [
      { name: 'w', dims: [2, 3, 1, 1], values: [1, 2, 0, 0, 0, 3] },
      { name: 'b', dims: [2], values: [0, -1] },
    ],
    nodes: [{ op: 'Conv', inputs: ['images', 'w', 'b'], outputs: ['scores'] }],
  });
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A [count, 3, height, width] input whose values differ per job (`seed`), and what the model answers for it. */
function job(seed: number, width: number, height: number, count = 1) {
  const pixels = width * height;
  const data = Float32Array.from({ length: count * 3 * pixels }, (_, i) => ((i * 7 + seed * 13) % 17) / 4);
  const expected: number[] = [];
  for (let item = 0; item < count; item++)
    expected.push(...convExpected(data.subarray(item * 3 * pixels, (item + 1) * 3 * pixels), pixels));
  return {
    feeds: { images: { type: 'float32' as const, dims: [count, 3, height, width], data: data.slice() } },
    expected,
  };
}

function scores(run: RunResult): number[] {
  return Array.from(run.outputs?.scores.data as Float32Array);
}

describe('SessionPool with batching', () => {
  let pool: SessionPool;

  beforeAll(async () => {
    pool = await SessionPool.create(
      runtimeOptions(convPath, {
        maxQueue: 16,
        warmupShape: { width: 2, height: 2 },
        // A long delay, so that every job of a burst is queued before the first batch leaves.
        batching: { maxBatchSize: 4, maxDelayMs: 200 },
      }),
    );
  });
  afterAll(() => pool.close());

  it('runs concurrent jobs as batches of up to max_batch_size, each answered with its own values', async () => {
    const jobs = Array.from({ length: 6 }, (_, seed) => job(seed, 3, 2));
    const runs = await Promise.all(jobs.map((j) => pool.run(j.feeds)));
    runs.forEach((run, i) => {
      expect(run.outputs?.scores.dims).toEqual([1, 2, 2, 3]);
      expect(scores(run)).toEqual(jobs[i].expected);
    });
    // The first 4 fill a batch at once; the last 2 leave together when the delay is up.
    expect(runs.map((r) => r.batchSize)).toEqual([4, 4, 4, 4, 2, 2]);
  });

  it('never stacks jobs of different shapes: each shape runs as its own batch, nothing padded', async () => {
    const small = [0, 1, 2].map((seed) => job(seed, 2, 2));
    const large = [3, 4, 5].map((seed) => job(seed, 5, 4));
    const mixed = [small[0], large[0], small[1], large[1], small[2], large[2]];
    const runs = await Promise.all(mixed.map((j) => pool.run(j.feeds)));
    runs.forEach((run, i) => {
      const [, , height, width] = mixed[i].feeds.images.dims;
      expect(run.outputs?.scores.dims).toEqual([1, 2, height, width]);
      expect(scores(run)).toEqual(mixed[i].expected);
      expect(run.batchSize).toBe(3);
    });
  });

  it('runs a job whose tensors already hold several items on its own', async () => {
    const several = job(9, 2, 2, 2);
    const run = await pool.run(several.feeds);
    expect(run.batchSize).toBe(1);
    expect(run.outputs?.scores.dims).toEqual([2, 2, 2, 2]);
    expect(scores(run)).toEqual(several.expected);
  });

  it('counts the batching delay as queue time, and the shared run as each job’s inference', async () => {
    const runs = await Promise.all([job(1, 2, 2), job(2, 2, 2)].map((j) => pool.run(j.feeds)));
    for (const run of runs) {
      expect(run.batchSize).toBe(2);
      expect(run.timings.queue).toBeGreaterThanOrEqual(150);
    }
    expect(runs[0].timings.infer).toBe(runs[1].timings.infer);
    expect(pool.stats()).toMatchObject({ busy: 0, queued: 0 });
  });
});

describe('SessionPool with batching, when jobs leave or the pool closes', () => {
  const batching = { maxBatchSize: 4, maxDelayMs: 200 };

  it('drops an aborted job from the batch it was waiting for; the others run without it', async () => {
    const pool = await SessionPool.create(runtimeOptions(convPath, { maxQueue: 8, batching }));
    try {
      const jobs = [0, 1, 2].map((seed) => job(seed, 2, 2));
      const controller = new AbortController();
      const runs = jobs.map((j, i) => pool.run(j.feeds, i === 1 ? { signal: controller.signal } : {}));
      controller.abort(new Error('client went away'));
      await expect(runs[1]).rejects.toThrow('client went away');
      const [first, third] = await Promise.all([runs[0], runs[2]]);
      expect(scores(first)).toEqual(jobs[0].expected);
      expect(scores(third)).toEqual(jobs[2].expected);
      expect([first.batchSize, third.batchSize]).toEqual([2, 2]);
    } finally {
      await pool.close();
    }
  });

  it('waits at most half a job’s queue timeout for company, so the batching delay never times it out', async () => {
    const pool = await SessionPool.create(
      runtimeOptions(convPath, { maxQueue: 8, batching: { maxBatchSize: 4, maxDelayMs: 1000 } }),
    );
    try {
      const alone = job(6, 2, 2);
      const run = await pool.run(alone.feeds, { timeoutMs: 100 });
      expect(scores(run)).toEqual(alone.expected);
      expect(run.timings.queue).toBeLessThan(100);
    } finally {
      await pool.close();
    }
  });

  it('runs the jobs still waiting for their batch before it closes', async () => {
    const pool = await SessionPool.create(runtimeOptions(convPath, { maxQueue: 8, batching }));
    const waiting = job(4, 2, 2);
    const run = pool.run(waiting.feeds);
    const closed = pool.close();
    await expect(pool.run(job(5, 2, 2).feeds)).rejects.toMatchObject({ code: 'RUNTIME_CLOSED' });
    expect(scores(await run)).toEqual(waiting.expected);
    await closed;
  });
});

describe('SessionPool without batching (the default)', () => {
  it('runs concurrent jobs one at a time', async () => {
    const pool = await SessionPool.create(runtimeOptions(convPath, { maxQueue: 8 }));
    try {
      const jobs = Array.from({ length: 4 }, (_, seed) => job(seed, 2, 2));
      const runs = await Promise.all(jobs.map((j) => pool.run(j.feeds)));
      runs.forEach((run, i) => {
        expect(scores(run)).toEqual(jobs[i].expected);
      });
      expect(runs.map((r) => r.batchSize)).toEqual([1, 1, 1, 1]);
    } finally {
      await pool.close();
    }
  });
});
