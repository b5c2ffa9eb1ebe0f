/**
 * What the v2 routes answer when the server cannot serve: a model that failed to load (503 on readiness,
 * metadata and inference), a full queue (503 with Retry-After), a queue wait over the limit (504), a client
 * that hangs up while queued, and an inference that fails inside onnxruntime (500). Liveness stays fast while
 * the only worker of a model is busy.
 */
import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { LoadedVersion } from '../../../src/models/repository.js';
import {
  type Answer,
  broken,
  expectError,
  GOLDEN_INPUT,
  GOLDEN_SHAPE,
  golden,
  postBinary,
  postJson,
  SLOW_SIZE,
  send,
  serveModels,
  slow,
  startServer,
} from './fixtures.js';

const v2 = serveModels({ golden, slow, broken });
let slowModel: LoadedVersion;

beforeAll(() => {
  slowModel = v2.repo.repository.resolve('slow');
});

/** An inference on the slow model; `size` other than SLOW_SIZE fails inside onnxruntime. */
function slowInfer(url: string, size = SLOW_SIZE, signal?: AbortSignal): Promise<Answer> {
  const values = new Float32Array(3 * size * size).fill(1);
  const header = {
    inputs: [
      {
        name: 'image',
        shape: [1, 3, size, size],
        datatype: 'FP32',
        parameters: { binary_data_size: values.byteLength },
      },
    ],
  };
  if (!signal) return postBinary(`${url}/v2/models/slow/infer`, header, values);
  const json = Buffer.from(JSON.stringify(header));
  return send(`${url}/v2/models/slow/infer`, {
    method: 'POST',
    headers: { 'inference-header-content-length': String(json.length) },
    body: Buffer.concat([json, Buffer.from(values.buffer)]),
    signal,
  });
}

async function until(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

describe('a model that failed to load', () => {
  it('makes the server unready (503, JSON body naming it, Retry-After) while liveness stays 200', async () => {
    const ready = await send(`${v2.server.url}/v2/health/ready`);
    expect([ready.status, ready.contentType]).toEqual([503, 'application/json']);
    expect(ready.headers.get('retry-after')).toBe('1');
    const body = JSON.parse(ready.text) as { ready: boolean; error: string };
    expect(body.ready).toBe(false);
    expect(body.error).toMatch(
      /^not ready: model "broken" version 1 failed: Model "broken" version 1 failed to load/,
    );
    expect(body.error).not.toMatch(/golden|slow/);
    const live = await send(`${v2.server.url}/v2/health/live`);
    expect([live.status, live.text]).toEqual([200, '{"live":true}']);
  });

  it('answers 503 on its readiness, metadata and inference; the other models serve', async () => {
    const ready = await send(`${v2.server.url}/v2/models/broken/ready`);
    expect([ready.status, ready.contentType]).toEqual([503, 'application/json']);
    expect(JSON.parse(ready.text)).toMatchObject({ name: 'broken', ready: false });
    const notReady =
      /^Model "broken" version (latest|1) is not ready: Model "broken" version 1 failed to load/;
    expectError(await send(`${v2.server.url}/v2/models/broken`), 503, notReady);
    const versionReady = await send(`${v2.server.url}/v2/models/broken/versions/1/ready`);
    expect(versionReady.status).toBe(503);
    expect(JSON.parse(versionReady.text)).toMatchObject({ name: 'broken', ready: false });
    const infer = await postJson(`${v2.server.url}/v2/models/broken/infer`, { inputs: [] });
    expectError(infer, 503, notReady);
    expect(infer.headers.get('retry-after')).toBe('1');

    const golden = await send(`${v2.server.url}/v2/models/golden/ready`);
    expect(golden.status).toBe(200);
  });
});

describe('overload', () => {
  // A test that fails midway must not leave jobs behind for the next one.
  beforeEach(async () => {
    await until(() => {
      const stats = slowModel.runtime.stats();
      return stats.busy === 0 && stats.queued === 0;
    }, 'the slow model is idle');
  });

  it('answers 503 with Retry-After when the queue is full, and finishes the accepted jobs', async () => {
    const running = slowInfer(v2.server.url);
    await until(() => slowModel.runtime.stats().busy === 1, 'the first job runs');
    const { completed } = slowModel.runtime.stats();
    const queued = slowInfer(v2.server.url);
    try {
      await until(() => slowModel.runtime.stats().queued === 1, 'the second job waits');
      const refused = await slowInfer(v2.server.url);
      // The wait is estimated from the measured inference time and the two requests ahead.
      const retryAfter = Number(refused.headers.get('retry-after'));
      expect(retryAfter).toBeGreaterThanOrEqual(1);
      expectError(
        refused,
        503,
        `Model "slow" version 1 has 2 requests in flight, its limit; try again in ${retryAfter} s.`,
      );

      // Liveness answers at once while the model's only worker is busy: inference is off the main thread. Only
      // probes answered while the first job still ran count (on a loaded machine it may finish early).
      const times: number[] = [];
      for (let i = 0; i < 20 && slowModel.runtime.stats().completed === completed; i++) {
        const started = performance.now();
        const live = await send(`${v2.server.url}/v2/health/live`);
        const busy = slowModel.runtime.stats().completed === completed;
        if (busy) times.push(performance.now() - started);
        expect(live.status).toBe(200);
      }
      expect(times.length, 'probes answered while the first job ran').toBeGreaterThanOrEqual(3);
      expect(times.sort((a, b) => a - b)[Math.floor(times.length / 2)]).toBeLessThan(50);
    } finally {
      await Promise.allSettled([running, queued]);
    }
    for (const answer of await Promise.all([running, queued])) {
      expect(answer.status, answer.text).toBe(200);
      expect(answer.text).toBe(
        '{"model_name":"slow","model_version":"1","outputs":[{"name":"mean","datatype":"FP32","shape":[],"data":[1]}]}',
      );
    }
  });

  it('answers 504 when a job waits longer than queueTimeoutMs', async () => {
    const impatient = await startServer(v2.repo.repository, { queueTimeoutMs: 20 });
    const running = slowInfer(impatient.url);
    try {
      await until(() => slowModel.runtime.stats().busy === 1, 'the first job runs');
      const late = await slowInfer(impatient.url);
      expectError(late, 504, 'Model "slow" version 1 had no free worker within 20 ms.');
    } finally {
      await Promise.allSettled([running]);
      await impatient.app.close();
    }
    expect((await running).status).toBe(200);
  });

  it('takes the job of a client that hangs up out of the queue', async () => {
    const running = slowInfer(v2.server.url);
    const started: Promise<unknown>[] = [running];
    try {
      await until(() => slowModel.runtime.stats().busy === 1, 'the first job runs');
      const controller = new AbortController();
      const abandoned = slowInfer(v2.server.url, SLOW_SIZE, controller.signal).catch((error: Error) => error);
      await until(() => slowModel.runtime.stats().queued === 1, 'the second job waits');
      const before = slowModel.runtime.stats();
      controller.abort();
      expect(await abandoned).toBeInstanceOf(Error);
      await until(() => slowModel.runtime.stats().queued === 0, 'the abandoned job leaves the queue');
      // Still the first job on the worker: the second left the queue, it did not start.
      expect(slowModel.runtime.stats()).toMatchObject({ busy: 1, completed: before.completed });
      // The place is free again: the next request waits instead of being refused.
      const next = slowInfer(v2.server.url);
      started.push(next);
      await until(() => slowModel.runtime.stats().queued === 1, 'the next job waits');
      expect((await next).status).toBe(200);
    } finally {
      await Promise.allSettled(started);
    }
    expect((await running).status).toBe(200);
  });
});

describe('inference failures', () => {
  it('answers 500 with the reason when onnxruntime fails, and keeps serving', async () => {
    // 128x128 passes the protocol (the height and width are dynamic) but not the model's fixed Reshape.
    const failed = await slowInfer(v2.server.url, 128);
    expectError(failed, 500, /^Inference failed: .*Reshape/);
    const answer = await postJson(`${v2.server.url}/v2/models/golden/versions/1/infer`, {
      inputs: [{ name: 'image', shape: GOLDEN_SHAPE, datatype: 'FP32', data: GOLDEN_INPUT }],
      outputs: [{ name: 'classes' }],
    });
    expect(answer.status).toBe(200);
  });
});

describe('a version without running workers', () => {
  it('is unready, and refuses inference with 503, once its pool has shut down', async () => {
    await v2.repo.repository.resolve('golden', 1).runtime.close();
    const ready = await send(`${v2.server.url}/v2/models/golden/versions/1/ready`);
    expect(ready.status).toBe(503);
    expect(JSON.parse(ready.text)).toEqual({
      name: 'golden',
      ready: false,
      error: 'Model "golden" version 1 is not ready: it has no running worker',
    });
    const server503 = await send(`${v2.server.url}/v2/health/ready`);
    expect(JSON.parse(server503.text).error).toContain('model "golden" version 1: it has no running worker');
    const infer = await postJson(`${v2.server.url}/v2/models/golden/versions/1/infer`, {
      inputs: [{ name: 'image', shape: GOLDEN_SHAPE, datatype: 'FP32', data: GOLDEN_INPUT }],
    });
    expectError(infer, 503, 'Model "golden" version 1 is not ready: it has no running worker');
    expect(infer.headers.get('retry-after')).toBe('1');
    expect((await send(`${v2.server.url}/v2/models/golden/versions/2/ready`)).status).toBe(200);
  });
});
