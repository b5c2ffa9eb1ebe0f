/**
 * The Runtime contract: one suite, run against every adapter (the worker-thread SessionPool and the in-process
 * runtime the tests use), as Hono runs one router suite against each router. An adapter that passes it can
 * stand behind the serving core.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { perceptualHash } from '../../src/image/perceptual-hash.js';
import { pixelStatistics } from '../../src/image/statistics.js';
import type { InputSpec, InputTransform } from '../../src/image/types.js';
import { parseModelConfig } from '../../src/models/config.js';
import { SessionPool } from '../../src/runtime/pool.js';
import type { Runtime, RuntimeOptions } from '../../src/runtime/runtime.js';
import type { NamedTensors } from '../../src/runtime/types.js';
import { InProcessRuntime } from '../helpers/in-process-runtime.js';
import {
  convExpected,
  HEAVY_ROWS,
  HEAVY_SIZE,
  heavyInput,
  runtimeOptions,
  writeConvModel,
  writeHeavyModel,
  writeIdentityModel,
} from './tiny-models.js';

type Model = 'conv' | 'identity' | 'slow';

interface Adapter {
  name: string;
  create(model: Model, overrides?: Partial<RuntimeOptions>): Promise<Runtime>;
  /** Feeds of the `slow` model: one run keeps a session busy long enough to queue others behind it. */
  slowFeeds(): NamedTensors;
}

let dir: string;
const paths = {} as Record<Model | 'heavy', string>;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'segserve-contract-'));
  paths.conv = await writeConvModel(join(dir, 'conv.onnx'));
  paths.identity = await writeIdentityModel(join(dir, 'identity.onnx'));
  paths.heavy = await writeHeavyModel(join(dir, 'heavy.onnx'), 60);
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function options(modelPath: string, overrides: Partial<RuntimeOptions> = {}): RuntimeOptions {
  return runtimeOptions(modelPath, { warmupShape: { width: 2, height: 2 }, ...overrides });
}

const convFeeds = (): NamedTensors => ({
  images: { type: 'float32', dims: [1, 3, 1, 1], data: Float32Array.of(1, 1, 1) },
});

const adapters: Adapter[] = [
  {
    name: 'SessionPool (worker threads)',
    create: (model, overrides) =>
      SessionPool.create(options(model === 'slow' ? paths.heavy : paths[model], overrides)),
    slowFeeds: () => ({ x: { type: 'float32', dims: [HEAVY_ROWS, HEAVY_SIZE], data: heavyInput() } }),
  },
  {
    name: 'InProcessRuntime (test adapter)',
    create: (model, overrides) =>
      model === 'slow'
        ? InProcessRuntime.create(options(paths.conv, overrides), 300)
        : InProcessRuntime.create(options(paths[model], overrides)),
    slowFeeds: convFeeds,
  },
];

const identityTransform = (width: number, height: number): InputTransform => ({
  sourceWidth: width,
  sourceHeight: height,
  inputWidth: width,
  inputHeight: height,
  scaleX: 1,
  scaleY: 1,
  padLeft: 0,
  padTop: 0,
  contentWidth: width,
  contentHeight: height,
});

describe.each(adapters)('Runtime contract: $name', (adapter) => {
  describe('a 1x1 convolution', () => {
    let runtime: Runtime;
    beforeAll(async () => {
      runtime = await adapter.create('conv');
    });
    afterAll(() => runtime.close());

    it('reports the model inputs and outputs with their symbolic dimensions', () => {
      expect(runtime.inputs).toEqual([{ name: 'images', type: 'float32', dims: [1, 3, 'height', 'width'] }]);
      expect(runtime.outputs).toEqual([{ name: 'scores', type: 'float32', dims: [1, 2, 'height', 'width'] }]);
    });

    it('computes exact outputs and reports its timings', async () => {
      const data = Float32Array.from({ length: 3 * 2 * 3 }, (_, i) => i - 4);
      const expected = convExpected(data.slice(), 6);
      const run = await runtime.run({ images: { type: 'float32', dims: [1, 3, 2, 3], data } });
      expect(run.outputs?.scores.dims).toEqual([1, 2, 2, 3]);
      expect(Array.from(run.outputs?.scores.data as Float32Array)).toEqual(expected);
      expect(run.result).toBeUndefined();
      expect(run.timings.infer).toBeGreaterThan(0);
      expect(run.timings).toMatchObject({ preprocess: 0, postprocess: 0 });
    });

    it('fills the input tensor from decoded pixels itself (layout, scale, colour order)', async () => {
      // Two RGB pixels; BGR order and scale 1 put B, G, R into channels 0, 1, 2.
      const content = { width: 2, height: 1, channels: 3 as const, data: Uint8Array.of(1, 2, 3, 4, 5, 6) };
      const input: InputSpec = {
        width: 2,
        height: 1,
        resize: 'stretch',
        pad_value: 0,
        layout: 'NCHW',
        color: 'BGR',
        scale: 1,
        mean: [0, 0, 0],
        std: [1, 1, 1],
      };
      // Before the run: a worker runtime takes the pixels' buffer.
      const statistics = pixelStatistics(content);
      const hash = perceptualHash(content);
      const run = await runtime.run(
        {},
        { image: { name: 'images', content, transform: identityTransform(2, 1), input } },
      );
      expect(Array.from(run.outputs?.scores.data as Float32Array)).toEqual(
        convExpected(Float32Array.of(3, 6, 2, 5, 1, 4), 2),
      );
      expect(run.timings.preprocess).toBeGreaterThan(0);
      // The pixels' statistics come back on every image job (drift's input signals); the hash only when asked.
      expect(run.statistics).toEqual(statistics);
      expect(run.hash).toBeUndefined();
      const again = { ...content, data: Uint8Array.of(1, 2, 3, 4, 5, 6) };
      const hashed = await runtime.run(
        {},
        { image: { name: 'images', content: again, transform: identityTransform(2, 1), input, hash: true } },
      );
      expect(hashed.hash).toBe(hash);
    });

    it('answers a bad request with INFERENCE_FAILED and keeps serving', async () => {
      const before = runtime.stats();
      await expect(
        runtime.run({ wrong: { type: 'float32', dims: [1, 3, 1, 1], data: new Float32Array(3) } }),
      ).rejects.toMatchObject({ code: 'INFERENCE_FAILED' });
      const run = await runtime.run(convFeeds());
      expect(Array.from(run.outputs?.scores.data as Float32Array)).toEqual([3, 2]);
      expect(runtime.stats()).toMatchObject({
        busy: 0,
        queued: 0,
        failed: before.failed + 1,
        completed: before.completed + 1,
      });
    });
  });

  it('runs the task decoder next to the session', async () => {
    const parsed = parseModelConfig({ task: 'binary', decoder: 'softmax', input: { width: 2, height: 2 } });
    if (!parsed.ok) throw new Error(JSON.stringify(parsed.issues));
    const runtime = await adapter.create('identity');
    try {
      // Channel 0 = background, channel 1 = person; pixels 1 and 3 are people.
      const probs = Float32Array.of(0.9, 0.2, 0.6, 0.1, 0.1, 0.8, 0.4, 0.9);
      const run = await runtime.run(
        { x: { type: 'float32', dims: [1, 2, 2, 2], data: probs } },
        {
          decode: {
            decoder: 'softmax',
            context: {
              config: parsed.config,
              labels: ['background', 'person'],
              transform: identityTransform(2, 2),
            },
          },
        },
      );
      expect(run.outputs).toBeUndefined();
      expect(run.result?.task).toBe('binary');
      if (run.result?.task !== 'binary') return;
      expect(Array.from(run.result.classMap)).toEqual([0, 1, 0, 1]);
      expect(run.timings.postprocess).toBeGreaterThan(0);
    } finally {
      await runtime.close();
    }
  });

  describe('under load', () => {
    it('refuses with QUEUE_FULL once maxQueue jobs are waiting, and serves the accepted ones', async () => {
      const runtime = await adapter.create('slow', { maxQueue: 1 });
      try {
        const running = runtime.run(adapter.slowFeeds());
        const queued = runtime.run(adapter.slowFeeds());
        expect(runtime.stats()).toMatchObject({ busy: 1, queued: 1 });
        await expect(runtime.run(adapter.slowFeeds())).rejects.toMatchObject({
          code: 'QUEUE_FULL',
          status: 503,
          details: { model: 'tiny', version: 1, in_flight: 2 },
        });
        const [, second] = await Promise.all([running, queued]);
        expect(second.timings.queue).toBeGreaterThan(0);
        expect(runtime.stats()).toMatchObject({ busy: 0, queued: 0, completed: 2, failed: 0 });
      } finally {
        await runtime.close();
      }
    });

    it('drops a job that waits longer than timeoutMs with INFERENCE_TIMEOUT', async () => {
      const runtime = await adapter.create('slow');
      try {
        const running = runtime.run(adapter.slowFeeds());
        await expect(runtime.run(adapter.slowFeeds(), { timeoutMs: 1 })).rejects.toMatchObject({
          code: 'INFERENCE_TIMEOUT',
          status: 504,
          details: { model: 'tiny', version: 1, timeout_ms: 1 },
        });
        expect(runtime.stats().queued).toBe(0);
        await running;
      } finally {
        await runtime.close();
      }
    });

    it('drops a queued job when its signal aborts, rejecting with the abort reason', async () => {
      const runtime = await adapter.create('slow');
      try {
        const running = runtime.run(adapter.slowFeeds());
        const controller = new AbortController();
        const queued = runtime.run(adapter.slowFeeds(), { signal: controller.signal });
        controller.abort(new Error('client went away'));
        await expect(queued).rejects.toThrow('client went away');
        expect(runtime.stats().queued).toBe(0);
        await running;
        await expect(runtime.run(adapter.slowFeeds(), { signal: controller.signal })).rejects.toThrow(
          'client went away',
        );
      } finally {
        await runtime.close();
      }
    });

    it('close() finishes running and queued jobs, then refuses new ones with RUNTIME_CLOSED', async () => {
      const runtime = await adapter.create('slow');
      const running = runtime.run(adapter.slowFeeds());
      const queued = runtime.run(adapter.slowFeeds());
      const closed = runtime.close();
      await expect(runtime.run(adapter.slowFeeds())).rejects.toMatchObject({
        code: 'RUNTIME_CLOSED',
        status: 503,
      });
      const [first, second] = await Promise.all([running, queued]);
      expect(first.outputs).toBeDefined();
      expect(second.outputs).toBeDefined();
      await closed;
      expect(runtime.stats()).toMatchObject({ instances: 0, busy: 0, queued: 0, completed: 2 });
      await expect(runtime.close()).resolves.toBeUndefined();
    });
  });
});
