/**
 * The model repository extension as Triton clients call it (`/v2/repository/index`, `.../load`, `.../unload`),
 * the model configuration extension (`/v2/models/{m}/config`), and segserve's admin routes for the same
 * operations (`/v1/admin/models/...`, `/v1/admin/repository/rescan`): answers, the /v2 and /v1 error shapes,
 * and the admin key (missing, wrong, none configured).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AdminKeys } from '../../../src/http/admin-auth.js';
import { ADMIN_KEY } from '../../helpers/lifecycle.js';
import { semanticScene, tinySoftmaxModel } from '../../helpers/tiny-models.js';
import { BROKEN_ONNX, RepositoryFolder } from '../../models/registry-folders.js';
import {
  errorOf,
  listen,
  openTemporaryRepository,
  png,
  type RunningApp,
  type TinyRepository,
} from '../helpers.js';

const KEYS = AdminKeys.fromEntries([{ text: `ops ${ADMIN_KEY}`, where: 'test' }]);
const auth = { authorization: `Bearer ${ADMIN_KEY}` };

let folder: RepositoryFolder;
let repo: TinyRepository;
let server: RunningApp;
let closed: RunningApp;
let scene: Buffer;

beforeAll(async () => {
  folder = await RepositoryFolder.create();
  await folder.model('seg', [1, 2], { version_policy: { all: true } });
  await folder.model('other', [1]);
  await folder.model('broken', [1]);
  await folder.version('broken', 1, BROKEN_ONNX);
  repo = await openTemporaryRepository(folder.root);
  server = await listen({ repository: repo.repository, adminKeys: KEYS });
  closed = await listen({ repository: repo.repository });
  scene = await png(semanticScene());
});

afterAll(async () => {
  await server?.app.close();
  await closed?.app.close();
  await repo?.close();
});

function post(path: string, body?: unknown, headers: Record<string, string> = auth, base = server.base) {
  return fetch(`${base}${path}`, {
    method: 'POST',
    headers: body === undefined ? headers : { ...headers, 'content-type': 'application/json' },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
}

async function v2Error(response: Response): Promise<string> {
  const body = (await response.json()) as { error: unknown };
  expect(typeof body.error).toBe('string');
  return body.error as string;
}

async function index(body?: unknown) {
  const response = await post('/v2/repository/index', body);
  expect(response.status).toBe(200);
  return (await response.json()) as Array<{ name: string; version?: string; state: string; reason: string }>;
}

describe('the admin key', () => {
  it('is required by every repository and admin route: 401 without one or with a wrong one', async () => {
    const routes = [
      '/v2/repository/index',
      '/v2/repository/models/seg/load',
      '/v2/repository/models/seg/unload',
      '/v1/admin/models/seg/load',
      '/v1/admin/models/seg/unload',
      '/v1/admin/models/seg/reload',
      '/v1/admin/models/seg/versions/1/load',
      '/v1/admin/models/seg/versions/1/unload',
      '/v1/admin/repository/rescan',
    ];
    for (const route of routes) {
      const missing = await post(route, undefined, {});
      expect(missing.status, route).toBe(401);
      expect(missing.headers.get('www-authenticate')).toContain('Bearer');
      const wrong = await post(route, undefined, { authorization: 'Bearer not-the-key-0123456789' });
      expect(wrong.status, route).toBe(401);
      if (route.startsWith('/v2')) {
        expect(await v2Error(missing)).toContain('needs an admin key');
        expect(await v2Error(wrong)).toContain('not one this server accepts');
      } else {
        expect((await errorOf(missing)).code).toBe('ADMIN_KEY_MISSING');
        expect((await errorOf(wrong)).code).toBe('ADMIN_KEY_INVALID');
      }
    }
    // Nothing was unloaded by the refused calls.
    expect(repo.repository.resolve('seg').version).toBe(2);
  });

  it('answers 403 on a server started without admin keys: the admin API is off', async () => {
    const v2 = await post('/v2/repository/index', undefined, auth, closed.base);
    expect(v2.status).toBe(403);
    expect(await v2Error(v2)).toContain('admin API is off');
    const v1 = await post('/v1/admin/repository/rescan', undefined, auth, closed.base);
    expect(v1.status).toBe(403);
    expect((await errorOf(v1)).code).toBe('ADMIN_API_DISABLED');
  });
});

describe('the model repository extension', () => {
  it('announces itself and the configuration extension in the server metadata', async () => {
    const metadata = (await (await fetch(`${server.base}/v2`)).json()) as { extensions: string[] };
    expect(metadata.extensions).toEqual(
      expect.arrayContaining([
        'model_repository',
        'model_repository(unload_dependents)',
        'model_configuration',
      ]),
    );
  });

  it('indexes every model and version with its Triton state, or only the ready ones', async () => {
    const all = await index();
    expect(all).toEqual([
      {
        name: 'broken',
        version: '1',
        state: 'UNAVAILABLE',
        reason: expect.stringContaining('broken/1/model.onnx'),
      },
      { name: 'other', version: '1', state: 'READY', reason: '' },
      { name: 'seg', version: '2', state: 'READY', reason: '' },
      { name: 'seg', version: '1', state: 'READY', reason: '' },
    ]);
    expect(await index({ ready: true })).toEqual(all.filter((entry) => entry.state === 'READY'));
    expect(await index('')).toEqual(all);
  });

  it('unloads a model (then unknown to inference, UNAVAILABLE in the index) and loads it again', async () => {
    const unload = await post('/v2/repository/models/other/unload', {
      parameters: { unload_dependents: false },
    });
    expect(unload.status).toBe(200);
    expect(await unload.text()).toBe('');
    expect(await index()).toContainEqual({ name: 'other', state: 'UNAVAILABLE', reason: 'unloaded' });
    const refused = await fetch(`${server.base}/v1/models/other/segment`, { method: 'POST', body: scene });
    expect(refused.status).toBe(404);
    expect((await errorOf(refused)).code).toBe('MODEL_UNLOADED');
    expect((await fetch(`${server.base}/v2/models/other/ready`)).status).toBe(404);
    // Unloading again is no error.
    expect((await post('/v2/repository/models/other/unload')).status).toBe(200);

    const load = await post('/v2/repository/models/other/load', {});
    expect(load.status).toBe(200);
    expect((await fetch(`${server.base}/v2/models/other/ready`)).status).toBe(200);
    expect((await post('/v2/repository/models/other/load')).status).toBe(200);
  });

  it('refuses load parameters it would not apply, and malformed bodies, without touching the model', async () => {
    const config = await post('/v2/repository/models/seg/load', {
      parameters: { config: '{"max_batch_size":8}' },
    });
    expect(config.status).toBe(400);
    expect(await v2Error(config)).toBe(
      `The load parameter "config" is not supported: segserve reads a model's configuration from its config.yaml; change the file, then load the model`,
    );
    const file = await post('/v2/repository/models/seg/load', {
      parameters: { 'file:1/model.onnx': Buffer.from('x').toString('base64') },
    });
    expect(file.status).toBe(400);
    expect(await v2Error(file)).toContain('"file:1/model.onnx" is not supported');
    const dependents = await post('/v2/repository/models/seg/unload', {
      parameters: { unload_dependents: 'yes' },
    });
    expect(dependents.status).toBe(400);
    expect(await v2Error(dependents)).toContain('unload_dependents must be true or false');
    const other = await post('/v2/repository/models/seg/unload', { parameters: { force: true } });
    expect(other.status).toBe(400);
    const notJson = await post('/v2/repository/models/seg/load', '{"parameters": ');
    expect(notJson.status).toBe(400);
    expect(await v2Error(notJson)).toContain('not valid JSON');
    const notIndex = await post('/v2/repository/index', { ready: 'yes' });
    expect(notIndex.status).toBe(400);
    expect(repo.repository.resolve('seg').version).toBe(2);
  });

  it('answers a load that fails with the reason, and an unknown model with 404', async () => {
    const broken = await post('/v2/repository/models/broken/load');
    expect(broken.status).toBe(422);
    expect(await v2Error(broken)).toMatch(
      /^Loading model "broken" did not succeed: .*broken\/1\/model\.onnx/,
    );
    const unknown = await post('/v2/repository/models/nope/load');
    expect(unknown.status).toBe(404);
    expect(await v2Error(unknown)).toBe('No model named "nope".');
    expect((await post('/v2/repository/models/nope/unload')).status).toBe(404);
  });
});

describe('the model configuration extension', () => {
  it("answers the model's configuration in Triton's form, for the default version or the one named", async () => {
    const response = await fetch(`${server.base}/v2/models/seg/config`);
    expect(response.status).toBe(200);
    const config = await response.json();
    const tiny = tinySoftmaxModel();
    expect(config).toEqual({
      name: 'seg',
      platform: 'onnxruntime_onnx',
      backend: 'onnxruntime',
      version_policy: { all: {} },
      max_batch_size: 0,
      input: [{ name: 'image', data_type: 'TYPE_FP32', dims: [1, 3, tiny.height, tiny.width] }],
      output: [{ name: 'scores', data_type: 'TYPE_FP32', dims: [1, 4, tiny.height, tiny.width] }],
      instance_group: [{ name: 'seg', kind: 'KIND_CPU', count: 1 }],
      default_model_filename: 'model.onnx',
      parameters: {
        segserve_version: { string_value: '2' },
        segserve_task: { string_value: 'semantic' },
        segserve_decoder: { string_value: 'softmax' },
        segserve_input_name: { string_value: 'image' },
        segserve_input_layout: { string_value: 'NCHW' },
        segserve_input_size: { string_value: `${tiny.width}x${tiny.height}` },
        segserve_max_queue: { string_value: '64' },
      },
    });
    const one = (await (await fetch(`${server.base}/v2/models/seg/versions/1/config`)).json()) as {
      parameters: { segserve_version: { string_value: string } };
    };
    expect(one.parameters.segserve_version.string_value).toBe('1');
    const policy = (await (await fetch(`${server.base}/v2/models/other/config`)).json()) as {
      version_policy: unknown;
    };
    expect(policy.version_policy).toEqual({ latest: { num_versions: 1 } });
    const unknown = await fetch(`${server.base}/v2/models/nope/config`);
    expect(unknown.status).toBe(404);
    expect(await v2Error(unknown)).toBe('No model named "nope".');
  });
});

describe("segserve's admin routes", () => {
  it('unloads and loads a version, answering what changed and the status', async () => {
    const unload = await post('/v1/admin/models/seg/versions/2/unload');
    expect(unload.status).toBe(200);
    expect(await unload.json()).toMatchObject({
      model: 'seg',
      changes: [{ model: 'seg', version: 2, change: 'unloaded', reason: 'requested' }],
      status: { name: 'seg', state: 'ready', versions: [{ version: 1, state: 'ready' }] },
    });
    expect(repo.repository.resolve('seg').version).toBe(1);

    const load = await post('/v1/admin/models/seg/versions/2/load');
    expect(load.status).toBe(200);
    expect(await load.json()).toMatchObject({ changes: [{ version: 2, change: 'loaded' }] });
    expect(repo.repository.resolve('seg').version).toBe(2);

    const missing = await post('/v1/admin/models/seg/versions/7/load');
    expect(missing.status).toBe(404);
    expect((await errorOf(missing)).code).toBe('MODEL_VERSION_NOT_FOUND');
    const badVersion = await post('/v1/admin/models/seg/versions/02/load');
    expect(badVersion.status).toBe(400);
  });

  it('reloads a model and rescans the repository', async () => {
    const before = repo.repository.resolve('seg', 1);
    const reload = await post('/v1/admin/models/seg/reload');
    expect(reload.status).toBe(200);
    const body = (await reload.json()) as { changes: Array<{ change: string }> };
    expect(body.changes.map((c) => c.change)).toEqual(['reloaded', 'reloaded']);
    expect(repo.repository.resolve('seg', 1)).not.toBe(before);

    await folder.model('fresh', [1]);
    const rescan = await post('/v1/admin/repository/rescan');
    expect(rescan.status).toBe(200);
    expect(await rescan.json()).toEqual({ changes: [{ model: 'fresh', version: 1, change: 'loaded' }] });
    const unload = await post('/v1/admin/models/fresh/unload');
    expect(await unload.json()).toMatchObject({
      changes: [{ change: 'unloaded' }, { change: 'model-unloaded' }],
    });
    expect((await post('/v1/admin/models/fresh/load')).status).toBe(200);
  });

  it('answers REPOSITORY_LOAD_FAILED for a model that does not load, naming each failure', async () => {
    const response = await post('/v1/admin/models/broken/reload');
    expect(response.status).toBe(422);
    const error = await errorOf(response);
    expect(error.code).toBe('REPOSITORY_LOAD_FAILED');
    expect(error.message).toContain('version 1: ');
  });
});
