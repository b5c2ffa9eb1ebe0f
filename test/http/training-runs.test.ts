/**
 * The training-run history over HTTP (src/http/routes/training.ts) on the embedded database: what `segserve train`
 * reports through the admin routes (start, an epoch at a time, finish with the version it produced) and what
 * anyone reads back per model. Every refusal is checked for its status and stable code, and that it stored nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AdminKeys } from '../../src/http/admin-auth.js';
import type { TrainingRunJson, TrainingRunListJson } from '../../src/learning/training/wire-types.js';
import { openTestStores, type TestStores } from '../helpers/dataset-stores.js';
import { ADMIN_KEY, adminHeaders } from '../helpers/lifecycle.js';
import { openedStores } from '../helpers/samples.js';
import { tinySoftmaxModel } from '../helpers/tiny-models.js';
import { errorOf, listen, type RunningApp, type TinyRepository, tinyRepository } from './helpers.js';

let stores: TestStores;
let repo: TinyRepository;
let server: RunningApp;
let noKeys: RunningApp;

/** A POST to an admin route: the test's admin key unless `key` says otherwise (null: no Authorization header). */
function post(path: string, body: unknown, options: { key?: string | null; base?: string } = {}) {
  const { key = ADMIN_KEY, base = server.base } = options;
  return fetch(`${base}${path}`, {
    method: 'POST',
    headers: key === null ? { 'content-type': 'application/json' } : adminHeaders(key),
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

async function refusal(response: Promise<Response>, status: number, code: string): Promise<void> {
  const answered = await response;
  const error = await errorOf(answered);
  expect({ status: answered.status, code: error.code }, error.message).toEqual({ status, code });
}

async function runsOf(model: string, query = ''): Promise<TrainingRunJson[]> {
  const response = await fetch(`${server.base}/v1/models/${model}/training-runs${query}`);
  expect(response.status).toBe(200);
  return ((await response.json()) as TrainingRunListJson).runs;
}

async function start(body: Record<string, unknown>): Promise<TrainingRunJson> {
  const response = await post('/v1/admin/training-runs', body);
  expect(response.status).toBe(201);
  return (await response.json()) as TrainingRunJson;
}

const epoch = (n: number, loss: number) => ({
  event: 'epoch',
  epoch: n,
  epochs: 3,
  iteration: n * 10,
  iterations: 30,
  loss,
  val: { pixel_accuracy: 0.8 + n / 100, mean_iou: 0.6 + n / 100, dice: { membrane: 0.7 + n / 100 } },
});

beforeAll(async () => {
  stores = await openTestStores();
  repo = await tinyRepository({ softmax: tinySoftmaxModel() });
  const storage = openedStores(stores.db, stores.blobs);
  const adminKeys = AdminKeys.fromEntries([{ text: `trainer ${ADMIN_KEY}`, where: 'test' }]);
  server = await listen({ repository: repo.repository, stores: storage, adminKeys });
  noKeys = await listen({ repository: repo.repository, stores: storage });
});

afterAll(async () => {
  await Promise.all([server?.app.close(), noKeys?.app.close()]);
  await repo?.close();
  await stores?.close();
});

describe('training runs over HTTP', () => {
  it('records a run: started running, epochs appended in order, finished with the version it produced', async () => {
    const run = await start({
      model: 'membrane',
      kind: 'unet',
      dataset: 'isbi',
      dataset_version: 'v-0123456789abcdef',
      params: { epochs: 3, seed: 7 },
    });
    expect(run).toMatchObject({
      model: 'membrane',
      kind: 'unet',
      state: 'running',
      dataset: 'isbi',
      dataset_version: 'v-0123456789abcdef',
      params: { epochs: 3, seed: 7 },
      epochs: [],
    });
    expect(run.finished_at).toBeUndefined();
    expect(Date.parse(run.started_at)).not.toBeNaN();

    for (const [n, loss] of [
      [1, 0.61],
      [2, 0.42],
      [3, 0.33],
    ]) {
      const response = await post(`/v1/admin/training-runs/${run.id}/epochs`, epoch(n, loss));
      expect(response.status).toBe(200);
      expect(await response.json()).toEqual({ ok: true });
    }
    const midway = (await (
      await fetch(`${server.base}/v1/training-runs/${run.id}`)
    ).json()) as TrainingRunJson;
    expect(midway.state).toBe('running');
    expect(midway.epochs).toEqual([epoch(1, 0.61), epoch(2, 0.42), epoch(3, 0.33)]);

    const finished = await post(`/v1/admin/training-runs/${run.id}/finish`, {
      state: 'succeeded',
      metrics: { pixel_accuracy: 0.83, mean_iou: 0.63, dice: { membrane: 0.73 } },
      code_version: 'abc1234',
      produced: { version: 4, gate: { accepted: true } },
    });
    expect(finished.status).toBe(200);
    const done = (await finished.json()) as TrainingRunJson;
    expect(done).toMatchObject({
      id: run.id,
      state: 'succeeded',
      code_version: 'abc1234',
      metrics: { pixel_accuracy: 0.83, mean_iou: 0.63, dice: { membrane: 0.73 } },
      produced: { version: 4, gate: { accepted: true } },
    });
    expect(done.epochs).toHaveLength(3);
    expect(Date.parse(done.finished_at ?? '')).toBeGreaterThanOrEqual(Date.parse(done.started_at));
    expect(await runsOf('membrane')).toEqual([done]);
  });

  it('records a failed run with its error and the epochs it got through; lists runs newest first', async () => {
    const run = await start({ model: 'membrane', kind: 'classifier' });
    expect((await post(`/v1/admin/training-runs/${run.id}/epochs`, epoch(1, 0.9))).status).toBe(200);
    const finished = await post(`/v1/admin/training-runs/${run.id}/finish`, {
      state: 'failed',
      error: 'trainer exited with code 1 at epoch 2',
    });
    expect(finished.status).toBe(200);
    const failed = (await finished.json()) as TrainingRunJson;
    expect(failed).toMatchObject({ state: 'failed', error: 'trainer exited with code 1 at epoch 2' });
    expect(failed.produced).toBeUndefined();
    expect(failed.metrics).toBeUndefined();
    expect(failed.epochs).toEqual([epoch(1, 0.9)]);

    const runs = await runsOf('membrane');
    expect(runs.map((r) => [r.kind, r.state])).toEqual([
      ['classifier', 'failed'],
      ['unet', 'succeeded'],
    ]);
    expect((await runsOf('membrane', '?limit=1')).map((r) => r.id)).toEqual([run.id]);
    expect(await runsOf('no-such-model')).toEqual([]);
  });

  it('refuses to record without a valid admin key, and with no admin keys configured at all', async () => {
    const [run] = await runsOf('membrane');
    const before = await runsOf('membrane');
    const routes: Array<[string, unknown]> = [
      ['/v1/admin/training-runs', { model: 'membrane', kind: 'unet' }],
      [`/v1/admin/training-runs/${run.id}/epochs`, epoch(2, 0.5)],
      [`/v1/admin/training-runs/${run.id}/finish`, { state: 'succeeded' }],
    ];
    for (const [path, body] of routes) {
      await refusal(post(path, body, { key: null }), 401, 'ADMIN_KEY_MISSING');
      await refusal(post(path, body, { key: 'not-the-key-0123456789' }), 401, 'ADMIN_KEY_INVALID');
      await refusal(post(path, body, { base: noKeys.base }), 403, 'ADMIN_API_DISABLED');
    }
    const missing = await post('/v1/admin/training-runs', {}, { key: null });
    expect(missing.headers.get('www-authenticate')).toBe('Bearer realm="segserve-admin"');
    expect(await runsOf('membrane')).toEqual(before);
    // Reading needs no key.
    expect((await fetch(`${noKeys.base}/v1/models/membrane/training-runs`)).status).toBe(200);
  });

  it('refuses bad bodies with 400 and stores nothing', async () => {
    const [run] = await runsOf('membrane');
    const before = await runsOf('membrane');
    const starts: unknown[] = [
      {},
      { model: 'membrane' },
      { model: 'membrane', kind: 'gan' },
      { model: '', kind: 'unet' },
      { model: 'membrane', kind: 'unet', params: 'fast' },
    ];
    for (const body of starts) await refusal(post('/v1/admin/training-runs', body), 400, 'INVALID_ARGUMENT');
    await refusal(post('/v1/admin/training-runs', '{"model":'), 400, 'INVALID_JSON');
    await refusal(post(`/v1/admin/training-runs/${run.id}/epochs`, [1, 2]), 400, 'INVALID_ARGUMENT');
    const finishes: unknown[] = [
      {},
      { state: 'running' },
      { state: 'succeeded', produced: { version: 0 } },
      { state: 'succeeded', produced: { gate: { accepted: true } } },
      { state: 'succeeded', produced: { version: 2, gate: { reason: 'no verdict' } } },
      { state: 'failed', error: 'x'.repeat(4001) },
    ];
    for (const body of finishes)
      await refusal(post(`/v1/admin/training-runs/${run.id}/finish`, body), 400, 'INVALID_ARGUMENT');
    expect(await runsOf('membrane')).toEqual(before);
    await refusal(fetch(`${server.base}/v1/models/membrane/training-runs?limit=0`), 400, 'INVALID_ARGUMENT');
  });

  it('answers 404 TRAINING_RUN_NOT_FOUND for a run it does not know, on every route', async () => {
    await refusal(fetch(`${server.base}/v1/training-runs/no-such-run`), 404, 'TRAINING_RUN_NOT_FOUND');
    await refusal(
      post('/v1/admin/training-runs/no-such-run/epochs', epoch(1, 0.5)),
      404,
      'TRAINING_RUN_NOT_FOUND',
    );
    await refusal(
      post('/v1/admin/training-runs/no-such-run/finish', { state: 'succeeded' }),
      404,
      'TRAINING_RUN_NOT_FOUND',
    );
    expect((await runsOf('membrane')).length).toBe(2);
  });
});
