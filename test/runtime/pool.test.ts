import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { InputTransform } from '../../src/image/types.js';
import { parseModelConfig } from '../../src/models/config.js';
import { SessionPool } from '../../src/runtime/pool.js';
import type { RuntimeOptions } from '../../src/runtime/runtime.js';
import {
  convExpected,
  HEAVY_ROWS,
  HEAVY_SIZE,
  heavyInput,
  writeConvModel,
  writeHeavyModel,
  writeIdentityModel,
} from './tiny-models.js';

let dir: string;
let convPath: string;
let heavyPath: string;
let identityPath: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'segserve-pool-'));
  convPath = await writeConvModel(join(dir, 'conv.onnx'));
  heavyPath = await writeHeavyModel(join(dir, 'heavy.onnx'), 60);
  identityPath = await writeIdentityModel(join(dir, 'identity.onnx'));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function options(modelPath: string, overrides: Partial<RuntimeOptions> = {}): RuntimeOptions {
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

function heavyFeeds() {
  return { x: { type: 'float32' as const, dims: [HEAVY_ROWS, HEAVY_SIZE], data: heavyInput() } };
}

describe('SessionPool with a 1x1 convolution', () => {
  let pool: SessionPool;

  beforeAll(async () => {
    pool = await SessionPool.create(options(convPath, { warmupShape: { width: 5, height: 4 } }));
  });
  afterAll(() => pool.close());

  it('reports the model inputs and outputs with their symbolic dimensions', () => {
    expect(pool.inputs).toEqual([{ name: 'images', type: 'float32', dims: [1, 3, 'height', 'width'] }]);
    expect(pool.outputs).toEqual([{ name: 'scores', type: 'float32', dims: [1, 2, 'height', 'width'] }]);
  });

  it('computes exact outputs in a worker and reports its timings', async () => {
    const data = Float32Array.from({ length: 3 * 2 * 3 }, (_, i) => i - 4);
    const expected = convExpected(data, 6);
    const run = await pool.run({ images: { type: 'float32', dims: [1, 3, 2, 3], data } });
    expect(run.outputs?.scores.dims).toEqual([1, 2, 2, 3]);
    expect(run.outputs?.scores.type).toBe('float32');
    expect(Array.from(run.outputs?.scores.data as Float32Array)).toEqual(expected);
    expect(run.result).toBeUndefined();
    expect(run.timings.infer).toBeGreaterThan(0);
    expect(run.timings.queue).toBeGreaterThanOrEqual(0);
    expect(run.timings.postprocess).toBe(0);
  });

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

  it('answers a bad request with INFERENCE_FAILED and keeps serving', async () => {
    const before = pool.stats();
    await expect(
      pool.run({ wrong: { type: 'float32', dims: [1, 3, 1, 1], data: new Float32Array(3) } }),
    ).rejects.toMatchObject({ code: 'INFERENCE_FAILED' });
    const run = await pool.run({
      images: { type: 'float32', dims: [1, 3, 1, 1], data: Float32Array.of(1, 1, 1) },
    });
    expect(Array.from(run.outputs?.scores.data as Float32Array)).toEqual([3, 2]);
    expect(pool.stats()).toMatchObject({
      instances: 1,
      busy: 0,
      queued: 0,
      failed: before.failed + 1,
      completed: before.completed + 1,
    });
  });
});

describe('SessionPool decoding in the worker', () => {
  it('runs the task decoder next to the session and transfers the class map back', async () => {
    const parsed = parseModelConfig({ task: 'binary', decoder: 'softmax', input: { width: 2, height: 2 } });
    if (!parsed.ok) throw new Error(JSON.stringify(parsed.issues));
    const transform: InputTransform = {
      sourceWidth: 2,
      sourceHeight: 2,
      inputWidth: 2,
      inputHeight: 2,
      scaleX: 1,
      scaleY: 1,
      padLeft: 0,
      padTop: 0,
      contentWidth: 2,
      contentHeight: 2,
    };
    const pool = await SessionPool.create(options(identityPath, { warmupShape: { width: 2, height: 2 } }));
    try {
      // Channel 0 = background, channel 1 = person; pixels 1 and 3 are people.
      const probs = Float32Array.of(0.9, 0.2, 0.6, 0.1, 0.1, 0.8, 0.4, 0.9);
      const run = await pool.run(
        { x: { type: 'float32', dims: [1, 2, 2, 2], data: probs } },
        {
          decode: {
            decoder: 'softmax',
            context: { config: parsed.config, labels: ['background', 'person'], transform },
          },
        },
      );
      expect(run.outputs).toBeUndefined();
      expect(run.result?.task).toBe('binary');
      if (run.result?.task !== 'binary') return;
      expect(Array.from(run.result.classMap)).toEqual([0, 1, 0, 1]);
      expect(run.result.classMap.buffer.byteLength).toBe(run.result.classMap.byteLength);
      expect(run.timings.postprocess).toBeGreaterThan(0);
    } finally {
      await pool.close();
    }
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

  it('refuses with QUEUE_FULL once maxQueue jobs are waiting, and serves the accepted ones', async () => {
    const pool = await SessionPool.create(options(heavyPath, { maxQueue: 1 }));
    try {
      const running = pool.run(heavyFeeds());
      const queued = pool.run(heavyFeeds());
      expect(pool.stats()).toMatchObject({ busy: 1, queued: 1 });
      await expect(pool.run(heavyFeeds())).rejects.toMatchObject({
        code: 'QUEUE_FULL',
        status: 503,
        details: { model: 'tiny', version: 1, in_flight: 2 },
      });
      const [first, second] = await Promise.all([running, queued]);
      expect(first.outputs?.y.dims).toEqual([HEAVY_ROWS, HEAVY_SIZE]);
      expect(second.timings.queue).toBeGreaterThan(0);
      expect(pool.stats()).toMatchObject({ busy: 0, queued: 0, completed: 2, failed: 0 });
    } finally {
      await pool.close();
    }
  });

  it('drops a job that waits longer than timeoutMs with INFERENCE_TIMEOUT', async () => {
    const pool = await SessionPool.create(options(heavyPath));
    try {
      const running = pool.run(heavyFeeds());
      const feeds = heavyFeeds();
      await expect(pool.run(feeds, { timeoutMs: 1 })).rejects.toMatchObject({
        code: 'INFERENCE_TIMEOUT',
        status: 504,
        details: { model: 'tiny', version: 1, timeout_ms: 1 },
      });
      // The dropped job never reached a worker: its buffer is still the caller's.
      expect(feeds.x.data.length).toBe(HEAVY_ROWS * HEAVY_SIZE);
      expect(pool.stats().queued).toBe(0);
      await running;
    } finally {
      await pool.close();
    }
  });

  it('drops a queued job when its signal aborts, rejecting with the abort reason', async () => {
    const pool = await SessionPool.create(options(heavyPath));
    try {
      const running = pool.run(heavyFeeds());
      const controller = new AbortController();
      const queued = pool.run(heavyFeeds(), { signal: controller.signal });
      controller.abort(new Error('client went away'));
      await expect(queued).rejects.toThrow('client went away');
      expect(pool.stats().queued).toBe(0);
      await running;
      await expect(pool.run(heavyFeeds(), { signal: controller.signal })).rejects.toThrow('client went away');
    } finally {
      await pool.close();
    }
  });

  it('close() finishes running and queued jobs, refuses new ones with RUNTIME_CLOSED, then ends the workers', async () => {
    const pool = await SessionPool.create(options(heavyPath));
    const running = pool.run(heavyFeeds());
    const queued = pool.run(heavyFeeds());
    const closed = pool.close();
    await expect(pool.run(heavyFeeds())).rejects.toMatchObject({ code: 'RUNTIME_CLOSED', status: 503 });
    const [first, second] = await Promise.all([running, queued]);
    expect(first.outputs?.y).toBeDefined();
    expect(second.outputs?.y).toBeDefined();
    await closed;
    expect(pool.stats()).toMatchObject({ instances: 0, busy: 0, queued: 0, completed: 2 });
    await expect(pool.close()).resolves.toBeUndefined();
  });

  it('replaces a worker that crashes, failing only its in-flight job with INFERENCE_FAILED', async () => {
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
