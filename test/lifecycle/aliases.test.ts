/**
 * Aliases, the promotion gate and rollback through the admin API, over the machine's PostgreSQL: which version
 * answers requests naming an alias or no version, what the gate refuses, what the history records. The gate's
 * evaluator is a table of figures per version here: what is tested is the comparison and its records (the
 * evaluator itself is tested in test/lifecycle/evaluation*).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AdminKeys } from '../../src/http/admin-auth.js';
import { AliasTable } from '../../src/lifecycle/aliases.js';
import type { GateEvaluator } from '../../src/lifecycle/lifecycle.js';
import type { ModelHistoryJson } from '../../src/lifecycle/wire-types.js';
import { FsBlobStore } from '../../src/storage/fs-blob-store.js';
import { type Database, openDatabase } from '../../src/storage/index.js';
import { ADMIN_KEY, adminHeaders, type LifecycleApp, lifecycleApp } from '../helpers/lifecycle.js';
import { type FreshDatabase, freshDatabase, postgresProblem } from '../helpers/postgres.js';
import { semanticScene, tinySoftmaxModel } from '../helpers/tiny-models.js';
import { listenOnLoopback, png, type TinyRepository, tinyRepository } from '../http/helpers.js';

const problem = await postgresProblem();
if (problem) console.log(`SKIPPED model aliases: PostgreSQL unreachable (${problem})`);

describe.skipIf(problem !== undefined)('aliases, promotion gate and rollback', () => {
  let fresh: FreshDatabase;
  let db: Database;
  let blobDir: string;
  let repo: TinyRepository;
  let served: LifecycleApp;
  let base: string;
  let image: Uint8Array;
  const figures: Record<number, number> = { 1: 0.8, 2: 0.7, 3: 0.82 };
  const evaluated: number[] = [];
  const evaluate: GateEvaluator = async (_model, version) => {
    evaluated.push(version);
    return {
      dataset: 'dataset:gate@v1',
      metric: 'miou',
      value: figures[version],
      tolerance: 0.02,
      report: { version },
    };
  };

  beforeAll(async () => {
    fresh = await freshDatabase();
    db = await openDatabase({ kind: 'postgres', url: fresh.url });
    blobDir = await mkdtemp(join(tmpdir(), 'segserve-aliases-'));
    repo = await tinyRepository({ softmax: { ...tinySoftmaxModel(), versions: [1, 2, 3] } });
    served = await lifecycleApp({
      repository: repo.repository,
      db,
      blobs: await FsBlobStore.open(blobDir),
      evaluate,
    });
    base = await listenOnLoopback(served.app);
    image = await png(semanticScene());
  });

  afterAll(async () => {
    await served?.app.close();
    await repo?.close();
    await db?.close();
    await fresh?.drop();
    await rm(blobDir, { recursive: true, force: true });
  });

  async function answeredVersion(version?: string): Promise<number | string> {
    const query = version === undefined ? '' : `?version=${version}`;
    const response = await fetch(`${base}/v1/models/softmax/segment${query}`, {
      method: 'POST',
      body: image,
    });
    const body = (await response.json()) as { version?: number; error?: { code: string } };
    return response.status === 200 ? (body.version as number) : (body.error?.code ?? response.status);
  }

  const putAlias = (alias: string, body: object, key = ADMIN_KEY) =>
    fetch(`${base}/v1/admin/models/softmax/aliases/${alias}`, {
      method: 'PUT',
      headers: adminHeaders(key),
      body: JSON.stringify(body),
    });
  const rollback = () =>
    fetch(`${base}/v1/admin/models/softmax/rollback`, {
      method: 'POST',
      headers: adminHeaders(),
      body: '{}',
    });

  it('serves the newest version to requests naming none while the model has no stable alias', async () => {
    expect(await answeredVersion()).toBe(3);
    expect(await answeredVersion('stable')).toBe('ALIAS_NOT_FOUND');
  });

  it('promotes a first stable version through the gate (nothing to compare with yet)', async () => {
    const response = await putAlias('stable', { version: 1 });
    expect(response.status).toBe(200);
    const body = (await response.json()) as { gate?: unknown };
    expect(body).toMatchObject({ model: 'softmax', alias: 'stable', version: 1, previous_version: null });
    expect(body.gate).toMatchObject({ metric: 'miou', candidate: 0.8, current: null, tolerance: 0.02 });
    expect(await answeredVersion()).toBe(1);
    expect(await answeredVersion('stable')).toBe(1);
    expect(await answeredVersion('3')).toBe(3);
  });

  it('refuses a worse version at the gate and keeps serving the stable one', async () => {
    const response = await putAlias('stable', { version: 2 });
    expect(response.status).toBe(409);
    const body = (await response.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe('PROMOTION_REFUSED');
    expect(body.error.message).toContain('0.7000');
    expect(body.error.message).toContain('0.8000');
    expect(await answeredVersion()).toBe(1);
  });

  it('promotes a better version, comparing with the recorded evaluation of the current one', async () => {
    evaluated.length = 0;
    const response = await putAlias('stable', { version: 3 });
    expect(response.status).toBe(200);
    expect(((await response.json()) as { gate: unknown }).gate).toMatchObject({
      candidate: 0.82,
      current: 0.8,
    });
    // Version 1's figure was recorded at its own promotion: only the candidate is evaluated.
    expect(evaluated).toEqual([3]);
    expect(await answeredVersion()).toBe(3);
  });

  it('rolls stable back for the next request, and forward again on a second rollback', async () => {
    const back = await rollback();
    expect(back.status).toBe(200);
    expect(await back.json()).toMatchObject({ alias: 'stable', version: 1, previous_version: 3 });
    expect(await answeredVersion()).toBe(1);
    const forward = await rollback();
    expect(await forward.json()).toMatchObject({ version: 3, previous_version: 1 });
    expect(await answeredVersion()).toBe(3);
  });

  it('moves other aliases without the gate, and forgets a removed one', async () => {
    evaluated.length = 0;
    expect((await putAlias('canary', { version: 2 })).status).toBe(200);
    expect(evaluated).toEqual([]);
    expect(await answeredVersion('canary')).toBe(2);
    const removed = await fetch(`${base}/v1/admin/models/softmax/aliases/canary`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${ADMIN_KEY}` },
    });
    expect(removed.status).toBe(204);
    expect(await answeredVersion('canary')).toBe('ALIAS_NOT_FOUND');
  });

  it('forces a promotion past the gate only when asked, and says so in the history', async () => {
    const forced = await putAlias('stable', { version: 2, force: true });
    expect(forced.status).toBe(200);
    expect(await answeredVersion()).toBe(2);
    expect((await putAlias('stable', { version: 3, force: true })).status).toBe(200);
  });

  it('records who did what in the history, open to read', async () => {
    const response = await fetch(`${base}/v1/models/softmax/history`);
    expect(response.status).toBe(200);
    const body = (await response.json()) as ModelHistoryJson;
    expect(body.aliases).toEqual([
      expect.objectContaining({ alias: 'stable', version: 3, updated_by: 'alice' }),
    ]);
    expect(body.history.map((h) => `${h.kind}:${h.version}`)).toEqual([
      'evaluated:1',
      'promoted:1',
      'evaluated:2',
      'promotion_refused:2',
      'evaluated:3',
      'promoted:3',
      'rolled_back:1',
      'rolled_back:3',
      'alias_set:2',
      'alias_removed:2',
      'promoted:2',
      'promoted:3',
    ]);
    expect(body.history.every((h) => h.actor === 'alice')).toBe(true);
    expect(body.history[10].details).toMatchObject({ gated: false, why: 'forced' });
    expect(body.evaluations.map((e) => [e.version, e.value])).toEqual(
      expect.arrayContaining([
        [1, 0.8],
        [2, 0.7],
        [3, 0.82],
      ]),
    );
  });

  it('lets another replica read the aliases from the database', async () => {
    const replica = new AliasTable();
    await replica.refresh(db);
    expect(replica.lookup('softmax', 'stable')).toBe(3);
    expect(replica.versionsOf('softmax')).toEqual([2, 3]);
  });

  it('refuses bad requests with stable codes', async () => {
    const codeOf = async (response: Response) => [
      response.status,
      ((await response.json()) as { error: { code: string } }).error.code,
    ];
    expect(await codeOf(await putAlias('stable', { version: 9 }))).toEqual([404, 'MODEL_VERSION_NOT_FOUND']);
    expect(await codeOf(await putAlias('stable', { version: 0 }))).toEqual([400, 'INVALID_ARGUMENT']);
    expect(await codeOf(await putAlias('Bad Alias', { version: 1 }))).toEqual([400, 'INVALID_ARGUMENT']);
    expect(await codeOf(await putAlias('stable', { version: 1 }, 'not-the-admin-key-at-all'))).toEqual([
      401,
      'ADMIN_KEY_INVALID',
    ]);
    const noKey = await fetch(`${base}/v1/admin/models/softmax/rollback`, { method: 'POST' });
    expect(noKey.headers.get('www-authenticate')).toContain('Bearer');
    expect(await codeOf(noKey)).toEqual([401, 'ADMIN_KEY_MISSING']);
    const unknown = await fetch(`${base}/v1/admin/models/nope/aliases/stable`, {
      method: 'PUT',
      headers: adminHeaders(),
      body: JSON.stringify({ version: 1 }),
    });
    expect(await codeOf(unknown)).toEqual([404, 'MODEL_NOT_FOUND']);
    const noRollback = await fetch(`${base}/v1/admin/models/softmax/rollback`, {
      method: 'POST',
      headers: adminHeaders(),
      body: JSON.stringify({ alias: 'never-set' }),
    });
    expect(await codeOf(noRollback)).toEqual([409, 'ROLLBACK_UNAVAILABLE']);
    expect(await answeredVersion('0x2')).toBe('INVALID_ARGUMENT');
  });

  it('answers ADMIN_API_DISABLED when the server has no admin keys', async () => {
    const off = await lifecycleApp({
      repository: repo.repository,
      db,
      blobs: await FsBlobStore.open(blobDir),
      evaluate,
      adminKeys: null,
    });
    try {
      const response = await off.app.inject({ method: 'POST', url: '/v1/admin/models/softmax/rollback' });
      expect(response.statusCode).toBe(403);
      expect(response.json<{ error: { code: string } }>().error.code).toBe('ADMIN_API_DISABLED');
    } finally {
      await off.app.close();
    }
  });
});

describe('admin keys', () => {
  it('keeps only hashes, accepts hashed entries and names the actor', () => {
    const hashed = `sha256:${'ab'.repeat(32)}`;
    const keys = AdminKeys.fromEntries([
      { text: 'bob 0123456789abcdef0123', where: 'a' },
      { text: hashed, where: 'b' },
    ]);
    expect(keys.check('0123456789abcdef0123')).toEqual({ outcome: 'ok', actor: 'bob' });
    expect(keys.check('0123456789abcdef0124')).toEqual({ outcome: 'invalid' });
    expect(keys.check(undefined)).toEqual({ outcome: 'missing' });
  });

  it('refuses short keys and malformed lines, naming where, never the key', () => {
    expect(() =>
      AdminKeys.fromEntries([
        { text: 'short', where: 'line 1' },
        { text: 'a b c', where: 'line 2' },
      ]),
    ).toThrow(/line 1: an admin key must have at least 16 characters; line 2: expected a key/);
  });

  it('is off without any key, and reads the variable and the key file', async () => {
    expect(AdminKeys.fromSettings({}, {})).toBeUndefined();
    expect(
      AdminKeys.fromSettings({}, { SEGSERVE_ADMIN_KEYS: 'k1-0123456789abcdef, k2-0123456789abcdef' })?.size,
    ).toBe(2);
  });
});
