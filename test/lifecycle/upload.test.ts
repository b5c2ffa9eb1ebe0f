/**
 * Uploading versions to a running server (`POST /v1/admin/models/{m}/versions`, `segserve models push`): what is
 * let in serves, what is refused says why and leaves nothing behind, and an upload takes no traffic until it is
 * promoted. A real server over the machine's PostgreSQL and a repository of tiny models.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { type RunningServer, startServer } from '../../src/host/server.js';
import { AdminKeys } from '../../src/http/admin-auth.js';
import type { ModelHistoryJson } from '../../src/lifecycle/wire-types.js';
import { resolveStorageSettings } from '../../src/storage/settings.js';
import { runCli } from '../helpers/cli.js';
import { ADMIN_KEY } from '../helpers/lifecycle.js';
import { type FreshDatabase, freshDatabase, postgresProblem } from '../helpers/postgres.js';
import {
  failsAtWidthModel,
  semanticScene,
  tinySigmoidModel,
  tinySoftmaxModel,
} from '../helpers/tiny-models.js';
import { png, writeRepository } from '../http/helpers.js';

const problem = await postgresProblem();
if (problem) console.log(`SKIPPED model uploads: PostgreSQL unreachable (${problem})`);

describe.skipIf(problem !== undefined)('model uploads', () => {
  let fresh: FreshDatabase;
  let dir: string;
  let work: string;
  let server: RunningServer;
  let image: Uint8Array;
  const softmax = tinySoftmaxModel();

  beforeAll(async () => {
    fresh = await freshDatabase();
    dir = await writeRepository({ softmax });
    work = await mkdtemp(join(tmpdir(), 'segserve-upload-'));
    server = await startServer({
      modelsDir: dir,
      port: 0,
      host: '127.0.0.1',
      logger: process.env.UPLOAD_TEST_LOG ? { level: 'error' } : false,
      predictionLog: 'off',
      storage: resolveStorageSettings({ dataDir: join(work, 'data'), databaseUrl: fresh.url }, {}),
      adminKeys: AdminKeys.fromEntries([{ text: `ci ${ADMIN_KEY}`, where: 'test' }]),
      limits: { modelUploadBytes: 64 * 1024 },
    });
    image = await png(semanticScene());
  });

  afterAll(async () => {
    await server?.close();
    await fresh?.drop();
    await rm(dir, { recursive: true, force: true });
    await rm(work, { recursive: true, force: true });
  });

  function upload(model: string, parts: Record<string, Uint8Array | string>, key = ADMIN_KEY) {
    const form = new FormData();
    for (const [name, value] of Object.entries(parts)) {
      if (typeof value === 'string') form.append(name, value);
      else form.append(name, new Blob([value]), name === 'model' ? 'model.onnx' : name);
    }
    return fetch(`${server.url}/v1/admin/models/${model}/versions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}` },
      body: form,
    });
  }

  async function refusal(response: Response): Promise<[number, string, string]> {
    const body = (await response.json()) as { error: { code: string; message: string } };
    return [response.status, body.error.code, body.error.message];
  }

  async function answeredVersion(path = '/v1/models/softmax/segment'): Promise<number> {
    const response = await fetch(`${server.url}${path}`, { method: 'POST', body: image });
    expect(response.status).toBe(200);
    return ((await response.json()) as { version: number }).version;
  }

  /** Nothing of a refused upload stays: no new version folder, an empty staging folder. */
  async function nothingLeft(model: string, version: number): Promise<void> {
    expect(existsSync(join(dir, model, String(version)))).toBe(false);
    const staging = join(dir, '.uploads');
    expect(existsSync(staging) ? await readdir(staging) : []).toEqual([]);
  }

  it('lets in a version that loads, warms up and decodes, without giving it traffic', async () => {
    const response = await upload('softmax', { model: softmax.bytes });
    expect(response.status).toBe(201);
    const outcome = (await response.json()) as Record<string, unknown>;
    expect(outcome).toMatchObject({ model: 'softmax', version: 2, created: false, keptStableAt: 1 });
    expect(outcome.validation).toMatchObject({ outputs: { scores: expect.any(Array) } });
    expect(await answeredVersion()).toBe(1);
    expect(await answeredVersion('/v1/models/softmax/versions/2/segment')).toBe(2);
    const history = (await (
      await fetch(`${server.url}/v1/models/softmax/history`)
    ).json()) as ModelHistoryJson;
    expect(history.history.map((h) => `${h.kind}:${h.version}:${h.actor}`)).toEqual([
      'promoted:1:ci',
      'uploaded:2:ci',
    ]);
  });

  it('refuses a file that is not ONNX', async () => {
    const [status, code, message] = await refusal(
      await upload('softmax', { model: new TextEncoder().encode('not a model') }),
    );
    expect([status, code]).toEqual([422, 'UPLOAD_REFUSED']);
    expect(message).toMatch(/does not load/);
    await nothingLeft('softmax', 3);
  });

  it('refuses a model whose outputs its decoder cannot read', async () => {
    // Two channels where the softmax model's config has four classes.
    const [status, code, message] = await refusal(
      await upload('softmax', { model: tinySigmoidModel({ channels: 2 }).bytes }),
    );
    expect([status, code]).toEqual([422, 'UPLOAD_REFUSED']);
    expect(message).toMatch(/warm-up inference failed/);
    await nothingLeft('softmax', 3);
  });

  it('refuses a model that fails its warm-up inference', async () => {
    const [status, code, message] = await refusal(await upload('softmax', { model: failsAtWidthModel() }));
    expect([status, code]).toEqual([422, 'UPLOAD_REFUSED']);
    expect(message).toMatch(/does not load|warm-up/);
    await nothingLeft('softmax', 3);
  });

  it('creates a new model from a config and labels, and serves it', async () => {
    const sigmoid = tinySigmoidModel();
    const { name: _name, labels: _labels, ...config } = sigmoid.config as Record<string, unknown>;
    const response = await upload('red', {
      model: sigmoid.bytes,
      config: stringify(config),
      labels: sigmoid.labels.join('\n'),
    });
    expect(response.status).toBe(201);
    expect(await response.json()).toMatchObject({ model: 'red', version: 1, created: true });
    expect(await answeredVersion('/v1/models/red/segment')).toBe(1);
  });

  it('refuses what a version cannot bring or name', async () => {
    expect((await refusal(await upload('newcomer', { model: softmax.bytes }))).slice(0, 2)).toEqual([
      422,
      'UPLOAD_REFUSED',
    ]);
    await nothingLeft('newcomer', 1);
    const withConfig = await refusal(
      await upload('softmax', { model: softmax.bytes, config: 'task: semantic' }),
    );
    expect(withConfig[2]).toMatch(/shared by all its versions/);
    expect(
      (await refusal(await upload('softmax', { model: softmax.bytes, version: '1' }))).slice(0, 2),
    ).toEqual([409, 'MODEL_VERSION_EXISTS']);
    const badConfig = await refusal(
      await upload('broken', { model: softmax.bytes, config: 'task: semantic\ndecoder: nope\n' }),
    );
    expect(badConfig.slice(0, 2)).toEqual([422, 'UPLOAD_REFUSED']);
    expect(badConfig[2]).toMatch(/decoder/);
    await nothingLeft('broken', 1);
  });

  it('refuses an upload over the size limit, and one without the admin key', async () => {
    const big = new Uint8Array(64 * 1024 + 1);
    expect((await refusal(await upload('softmax', { model: big }))).slice(0, 2)).toEqual([
      413,
      'INPUT_TOO_LARGE',
    ]);
    await nothingLeft('softmax', 3);
    expect(
      (await refusal(await upload('softmax', { model: softmax.bytes }, 'wrong-key-0123456789abc'))).slice(
        0,
        2,
      ),
    ).toEqual([401, 'ADMIN_KEY_INVALID']);
  });

  it('pushes a version from the command line', async () => {
    const file = join(work, 'model.onnx');
    await writeFile(file, softmax.bytes);
    const run = await runCli(['models', 'push', file, '--model', 'softmax', '--server', server.url], {
      SEGSERVE_ADMIN_KEY: ADMIN_KEY,
    });
    expect(run.stderr).toContain('push model.onnx');
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('model softmax: version 3 is served');
    expect(await answeredVersion('/v1/models/softmax/versions/3/segment')).toBe(3);
    const refused = await runCli(['models', 'push', file, '--model', 'softmax', '--server', server.url], {
      SEGSERVE_ADMIN_KEY: 'wrong-key-0123456789abc',
    });
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('error ADMIN_KEY_INVALID');
  });
});
