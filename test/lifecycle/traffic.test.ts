/**
 * Endpoints with a traffic policy, end to end on a real server over the machine's PostgreSQL, with tiny models:
 * the split a 20 % canary gives 2000 distinct sticky keys, keys that stay on their variant, a weight change and
 * an alias move applied to the next request, no failed request while policies change under load, the variant
 * on every kind of answer (JSON, PNG, the compatible routes, /v2), in the metrics, the prediction log and the
 * `prediction.completed` event (with the shadows resolved), bad policies refused with the one in force kept,
 * a second replica reading the policy from the database, and the history.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningServer, startServer } from '../../src/host/server.js';
import { AdminKeys } from '../../src/http/admin-auth.js';
import { ApiKeys } from '../../src/http/api-keys.js';
import { PolicyTable } from '../../src/lifecycle/traffic-table.js';
import type {
  EndpointHistoryJson,
  EndpointJson,
  EndpointListJson,
  TrafficPolicyJson,
} from '../../src/lifecycle/wire-types.js';
import type { PredictionCompleted } from '../../src/serving/events.js';
import { pickVariant, stickyPoint } from '../../src/serving/traffic.js';
import { FsBlobStore } from '../../src/storage/fs-blob-store.js';
import { type Database, openDatabase } from '../../src/storage/index.js';
import { resolveStorageSettings } from '../../src/storage/settings.js';
import { ADMIN_KEY, adminHeaders, lifecycleApp } from '../helpers/lifecycle.js';
import { type FreshDatabase, freshDatabase, postgresProblem } from '../helpers/postgres.js';
import { semanticScene, tinySigmoidModel, tinySoftmaxModel } from '../helpers/tiny-models.js';
import { listenOnLoopback, png, tinyRepository, writeRepository } from '../http/helpers.js';

const problem = await postgresProblem();
if (problem) console.log(`SKIPPED traffic policies: PostgreSQL unreachable (${problem})`);

const ENDPOINT = 'people';
const SEGMENT = `/v1/models/${ENDPOINT}/segment?mask_format=none`;

interface Served {
  status: number;
  /** The x-segserve-variant header. */
  header: string | null;
  body: { variant?: string; version?: number; model?: string; error?: { code: string; message: string } };
}

/** `task` over `items`, at most `limit` at once, results in item order. */
async function mapLimited<T, R>(items: readonly T[], limit: number, task: (item: T) => Promise<R>) {
  const results: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (next < items.length) {
        const index = next++;
        results[index] = await task(items[index]);
      }
    }),
  );
  return results;
}

const canary = (percent: number, extra: Partial<TrafficPolicyJson> = {}): TrafficPolicyJson => ({
  canary: { model: 'softmax', version: 2, percent },
  baseline: { model: 'softmax', alias: 'stable' },
  sticky: { by: 'header', header: 'x-user-id' },
  ...extra,
});

describe.skipIf(problem !== undefined)('endpoints with a traffic policy', () => {
  let fresh: FreshDatabase;
  let work: string;
  let repo: string;
  let server: RunningServer;
  let image: Uint8Array;
  const logLines: Array<Record<string, unknown>> = [];
  /** Each of the 2000 keys and the variant it met under the 20 % canary. */
  const firstSplit = new Map<string, string>();

  beforeAll(async () => {
    fresh = await freshDatabase();
    work = await mkdtemp(join(tmpdir(), 'segserve-traffic-'));
    repo = await writeRepository({
      softmax: { ...tinySoftmaxModel(), versions: [1, 2, 3] },
      sigmoid: tinySigmoidModel(),
    });
    image = await png(semanticScene());
    await mkdir(join(work, 'batch'));
    await writeFile(join(work, 'batch', 'scene.png'), image);
    server = await startServer({
      modelsDir: repo,
      port: 0,
      host: '127.0.0.1',
      logger: {
        stream: new Writable({
          write(chunk, _encoding, done) {
            for (const line of String(chunk).split('\n')) if (line.trim()) logLines.push(JSON.parse(line));
            done();
          },
        }),
      },
      predictionLog: 'info',
      batchRoot: join(work, 'batch'),
      storage: resolveStorageSettings({ dataDir: join(work, 'data'), databaseUrl: fresh.url }, {}),
      adminKeys: AdminKeys.fromEntries([{ text: `release-bot ${ADMIN_KEY}`, where: 'test' }]),
    });
    const stable = await fetch(`${server.url}/v1/admin/models/softmax/aliases/stable`, {
      method: 'PUT',
      headers: adminHeaders(),
      body: JSON.stringify({ version: 1 }),
    });
    expect(stable.status).toBe(200);
  });

  afterAll(async () => {
    await server?.close();
    await fresh?.drop();
    if (repo) await rm(repo, { recursive: true, force: true });
    if (work) await rm(work, { recursive: true, force: true });
  });

  async function send(path: string, key?: string, init: RequestInit = {}): Promise<Served> {
    const response = await fetch(`${server.url}${path}`, {
      method: 'POST',
      body: image,
      ...init,
      headers: { ...(key === undefined ? {} : { 'x-user-id': key }), ...(init.headers ?? {}) },
    });
    const header = response.headers.get('x-segserve-variant');
    const type = response.headers.get('content-type') ?? '';
    const body = type.includes('json') ? ((await response.json()) as Served['body']) : {};
    if (!type.includes('json')) await response.arrayBuffer();
    return { status: response.status, header, body };
  }

  const segment = (key?: string) => send(SEGMENT, key);

  function putPolicy(policy: unknown, endpoint = ENDPOINT): Promise<Response> {
    return fetch(`${server.url}/v1/admin/endpoints/${endpoint}/traffic`, {
      method: 'PUT',
      headers: adminHeaders(),
      body: JSON.stringify(policy),
    });
  }

  async function expectPut(policy: unknown, endpoint = ENDPOINT): Promise<EndpointJson> {
    const response = await putPolicy(policy, endpoint);
    const body = (await response.json()) as EndpointJson & { error?: { message: string } };
    expect(response.status, body.error?.message).toBe(200);
    return body;
  }

  async function endpointNow(): Promise<EndpointHistoryJson> {
    const response = await fetch(`${server.url}/v1/endpoints/${ENDPOINT}`);
    expect(response.status).toBe(200);
    return (await response.json()) as EndpointHistoryJson;
  }

  /** A key whose sticky point lies in [from, to). */
  function keyWithPoint(from: number, to: number, after = 0): string {
    for (let i = after; ; i++) {
      const key = `probe-${i}`;
      const point = stickyPoint(ENDPOINT, key);
      if (point >= from && point < to) return key;
    }
  }

  it('answers a name without a policy as a model name (no model "people")', async () => {
    const answer = await segment('u');
    expect([answer.status, answer.body.error?.code]).toEqual([404, 'MODEL_NOT_FOUND']);
  });

  it('sends 20 % ± 3 % of 2000 distinct keys to a 20 % canary, each answer saying its variant', async () => {
    const set = await expectPut(canary(20));
    expect(set.variants).toEqual([
      { name: 'baseline', model: 'softmax', alias: 'stable', weight: 80, version_now: 1 },
      { name: 'canary', model: 'softmax', version: 2, weight: 20, version_now: 2 },
    ]);
    const keys = Array.from({ length: 2000 }, (_, i) => `user-${i}`);
    const started = performance.now();
    const answers = await mapLimited(keys, 8, (key) => segment(key));
    const seconds = (performance.now() - started) / 1000;
    expect(answers.filter((a) => a.status !== 200)).toEqual([]);
    answers.forEach((answer, i) => {
      expect(answer.header).toBe(answer.body.variant);
      expect(answer.body.version).toBe(answer.body.variant === 'canary' ? 2 : 1);
      firstSplit.set(keys[i], answer.body.variant as string);
    });
    const share = answers.filter((a) => a.body.variant === 'canary').length / answers.length;
    console.log(
      `traffic split: ${(share * 100).toFixed(2)} % of 2000 distinct keys on the 20 % canary (${seconds.toFixed(1)} s, ${(2000 / seconds).toFixed(0)} requests/s)`,
    );
    expect(Math.abs(share - 0.2)).toBeLessThanOrEqual(0.03);
    // Requests without a key get a random point: still a split, not one variant.
    const keyless = await mapLimited(Array.from({ length: 200 }), 8, () => segment());
    const keylessShare = keyless.filter((a) => a.body.variant === 'canary').length / keyless.length;
    console.log(`traffic split: ${(keylessShare * 100).toFixed(1)} % of 200 keyless requests on the canary`);
    expect(keylessShare).toBeGreaterThan(0.08);
    expect(keylessShare).toBeLessThan(0.32);
  });

  it('keeps every repeat of a key on the variant it met first', async () => {
    const keys = [...firstSplit.keys()].slice(0, 150);
    const repeats = [...keys, ...keys.reverse(), ...keys];
    const answers = await mapLimited(repeats, 8, async (key) => ({ key, answer: await segment(key) }));
    for (const { key, answer } of answers) expect(answer.body.variant, key).toBe(firstSplit.get(key));
  });

  it('applies a weight change and an alias move to the next request', async () => {
    // Between 0.5 and 0.8: the baseline at 20 %, the canary at 50 %.
    const mover = keyWithPoint(0.5, 0.8);
    const stayer = keyWithPoint(0, 0.5);
    expect((await segment(mover)).body.variant).toBe('baseline');
    await expectPut(canary(50));
    const moved = await segment(mover);
    expect([moved.body.variant, moved.body.version]).toEqual(['canary', 2]);
    expect((await segment(stayer)).body.variant).toBe('baseline');
    // Ramping up only moves keys onto the canary: none of those on it at 20 % leaves it.
    const sample = [...firstSplit.keys()].slice(0, 500);
    const at50 = await mapLimited(sample, 8, async (key) => ({
      key,
      variant: (await segment(key)).body.variant,
    }));
    for (const { key, variant } of at50) if (firstSplit.get(key) === 'canary') expect(variant).toBe('canary');
    const share50 = at50.filter((a) => a.variant === 'canary').length / at50.length;
    expect(Math.abs(share50 - 0.5)).toBeLessThanOrEqual(0.07);
    // The baseline names the alias `stable`: moving the alias moves the variant, for the next request.
    const moveStable = await fetch(`${server.url}/v1/admin/models/softmax/aliases/stable`, {
      method: 'PUT',
      headers: adminHeaders(),
      body: JSON.stringify({ version: 3 }),
    });
    expect(moveStable.status).toBe(200);
    const afterMove = await segment(stayer);
    expect([afterMove.body.variant, afterMove.body.version]).toEqual(['baseline', 3]);
  });

  it('fails no request while policies and aliases change under load', async () => {
    const answers: Served[] = [];
    let running = true;
    let n = 0;
    const client = async (keyed: boolean) => {
      while (running) {
        answers.push(await segment(keyed ? `load-${n++}` : undefined));
      }
    };
    const clients = [client(true), client(true), client(false), client(true)];
    const changes: TrafficPolicyJson[] = [
      canary(0),
      canary(100),
      {
        variants: [
          { name: 'one', model: 'softmax', version: 1, weight: 40 },
          { name: 'two', model: 'softmax', version: 2, weight: 30 },
          { name: 'three', model: 'softmax', alias: 'stable', weight: 30 },
        ],
        shadows: [{ name: 'sig', model: 'sigmoid', sample_rate: 0.5 }],
      },
      canary(30, { shadows: [{ name: 'v1-shadow', model: 'softmax', version: 1, sample_rate: 1 }] }),
      canary(20),
    ];
    for (const policy of changes) {
      await new Promise((resolve) => setTimeout(resolve, 150));
      await expectPut(policy);
    }
    for (const version of [1, 3]) {
      await new Promise((resolve) => setTimeout(resolve, 150));
      const moved = await fetch(`${server.url}/v1/admin/models/softmax/aliases/stable`, {
        method: 'PUT',
        headers: adminHeaders(),
        body: JSON.stringify({ version }),
      });
      expect(moved.status).toBe(200);
    }
    await new Promise((resolve) => setTimeout(resolve, 150));
    running = false;
    await Promise.all(clients);
    console.log(`traffic under change: ${answers.length} requests during ${changes.length} policy changes`);
    expect(answers.length).toBeGreaterThan(50);
    expect(answers.filter((a) => a.status !== 200).map((a) => a.body.error)).toEqual([]);
    const names = new Set(['baseline', 'canary', 'one', 'two', 'three']);
    for (const answer of answers) {
      expect(names.has(answer.body.variant as string)).toBe(true);
      expect(answer.header).toBe(answer.body.variant);
    }
  });

  it('says the variant on PNG answers, the compatible routes and /v2, and lets a named version pass by', async () => {
    await expectPut({ variants: [{ name: 'only', model: 'softmax', version: 2, weight: 100 }] });
    const mask = await send(`/v1/models/${ENDPOINT}/segment?format=mask`);
    expect([mask.status, mask.header]).toEqual([200, 'only']);
    const predict = await send(`/predict?model=${ENDPOINT}&mask_format=none`);
    expect([predict.status, predict.header, predict.body.variant, predict.body.version]).toEqual([
      200,
      'only',
      'only',
      2,
    ]);
    const form = new FormData();
    form.append('file', new Blob([image]), 'scene.png');
    const upload = await send(`/predict/upload?model=${ENDPOINT}`, undefined, { body: form });
    expect([upload.status, upload.header]).toEqual([200, 'only']);
    const batch = await send(`/predict/batch?model=${ENDPOINT}&mask_format=none`, undefined, {
      body: JSON.stringify({ paths: ['scene.png'] }),
      headers: { 'content-type': 'application/json' },
    });
    expect([batch.status, batch.header, batch.body.variant, batch.body.version]).toEqual([
      200,
      'only',
      'only',
      2,
    ]);
    const detect = await send(`/api/detect?model=${ENDPOINT}`, undefined, { body: form });
    expect(detect.header).toBe('only');

    const tensors = {
      inputs: [{ name: 'image', shape: [1, 3, 16, 16], datatype: 'FP32', data: new Array(768).fill(0.5) }],
    };
    const infer = await fetch(`${server.url}/v2/models/${ENDPOINT}/infer`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(tensors),
    });
    const inferred = (await infer.json()) as { model_name: string; model_version: string };
    expect([infer.status, infer.headers.get('x-segserve-variant')]).toEqual([200, 'only']);
    expect([inferred.model_name, inferred.model_version]).toEqual(['softmax', '2']);
    expect((await fetch(`${server.url}/v2/models/${ENDPOINT}/ready`)).status).toBe(200);
    const metadata = (await (await fetch(`${server.url}/v2/models/${ENDPOINT}`)).json()) as { name: string };
    expect(metadata.name).toBe('softmax');

    // A request naming a version of a model goes to that version, past any policy of the model's name.
    await expectPut(
      { canary: { model: 'softmax', version: 2, percent: 100 }, baseline: { model: 'softmax', version: 1 } },
      'softmax',
    );
    const followed = await send('/v1/models/softmax/segment?mask_format=none');
    expect([followed.body.variant, followed.body.version]).toEqual(['canary', 2]);
    const pinned = await send('/v1/models/softmax/versions/1/segment?mask_format=none');
    expect([pinned.body.variant, pinned.header, pinned.body.version]).toEqual(['default', 'default', 1]);
    const removed = await fetch(`${server.url}/v1/admin/endpoints/softmax/traffic`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${ADMIN_KEY}` },
    });
    expect(removed.status).toBe(204);
    const direct = await send('/v1/models/softmax/segment?mask_format=none');
    expect([direct.body.variant, direct.body.version]).toEqual(['default', 3]);
  });

  it('puts the variant in the metrics and the prediction log, and the endpoint and shadows on the event', async () => {
    await expectPut(
      canary(20, {
        shadows: [
          { name: 'v1-shadow', model: 'softmax', version: 1, sample_rate: 0.25 },
          { name: 'sig-shadow', model: 'sigmoid', sample_rate: 1 },
        ],
      }),
    );
    const events: PredictionCompleted[] = [];
    const unsubscribe = server.service.events.on('prediction.completed', 'test', (event) => {
      events.push(event);
    });
    const onCanary = keyWithPoint(0.85, 1);
    const answer = await send(SEGMENT, onCanary, { headers: { 'x-request-id': 'traffic-event-1' } });
    expect(answer.body.variant).toBe('canary');
    for (let i = 0; i < 200 && !events.some((e) => e.requestId === 'traffic-event-1'); i++) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    unsubscribe();
    expect(events.find((e) => e.requestId === 'traffic-event-1')).toMatchObject({
      model: 'softmax',
      version: 2,
      variant: 'canary',
      endpoint: ENDPOINT,
      shadows: [
        { variant: 'v1-shadow', model: 'softmax', version: 1, sampleRate: 0.25 },
        { variant: 'sig-shadow', model: 'sigmoid', version: 1, sampleRate: 1 },
      ],
    });
    expect(logLines.find((l) => l.msg === 'prediction' && l.request_id === 'traffic-event-1')).toMatchObject({
      model: 'softmax',
      version: 2,
      variant: 'canary',
      endpoint: ENDPOINT,
    });
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    expect(metrics).toMatch(
      /segserve_requests_total\{[^}]*route="\/v1\/models\/:model\/segment"[^}]*variant="canary"[^}]*\} \d+/,
    );
    expect(metrics).toMatch(/segserve_requests_total\{[^}]*variant="baseline"[^}]*\} \d+/);
  });

  it('refuses bad policies with the reason, and the policy in force stays', async () => {
    const before = await endpointNow();
    const onCanary = keyWithPoint(0.85, 1);
    const refusals: Array<[unknown, string]> = [
      [
        {
          variants: [
            { name: 'a', model: 'softmax', version: 1, weight: 50 },
            { name: 'b', model: 'softmax', version: 2, weight: 40 },
          ],
        },
        'variants: the weights add up to 90, not 100',
      ],
      [
        { canary: { model: 'nope', percent: 10 }, baseline: { model: 'softmax' } },
        'canary: model "nope" does not exist',
      ],
      [
        { canary: { model: 'softmax', version: 9, percent: 10 }, baseline: { model: 'softmax' } },
        'canary: Model "softmax" has no loaded version 9',
      ],
      [
        { canary: { model: 'softmax', alias: 'beta', percent: 10 }, baseline: { model: 'softmax' } },
        'canary: model "softmax" has no alias "beta"',
      ],
      [
        canary(10, { shadows: [{ name: 'again', model: 'softmax', version: 2, sample_rate: 1 }] }),
        'shadows.0: shadow "again" is model "softmax" version 2, which variant "canary" serves',
      ],
      [
        // `stable` points at 3: a shadow of version 3 is the baseline itself.
        canary(10, { shadows: [{ name: 'same', model: 'softmax', version: 3, sample_rate: 1 }] }),
        'which variant "baseline" serves',
      ],
      [canary(10, { sticky: { by: 'header' } as never }), 'sticky.header'],
      [
        {
          variants: [{ name: 'x', model: 'softmax', weight: 100 }],
          canary: { model: 'softmax', percent: 1 },
        },
        'not both',
      ],
    ];
    for (const [policy, reason] of refusals) {
      const response = await putPolicy(policy);
      const body = (await response.json()) as { error: { code: string; message: string } };
      expect([response.status, body.error.code], body.error.message).toEqual([422, 'TRAFFIC_POLICY_INVALID']);
      expect(body.error.message).toContain(reason);
      expect(body.error.message).toContain('the one in force stays');
    }
    const noKey = await fetch(`${server.url}/v1/admin/endpoints/${ENDPOINT}/traffic`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(canary(90)),
    });
    expect(noKey.status).toBe(401);
    const after = await endpointNow();
    expect(after.traffic).toEqual(before.traffic);
    expect(after.history.length).toBe(before.history.length);
    expect((await segment(onCanary)).body.variant).toBe('canary');
    expect((await segment(keyWithPoint(0, 0.75))).body.variant).toBe('baseline');
  });

  it('is read from the database by another replica', async () => {
    const db: Database = await openDatabase({ kind: 'postgres', url: fresh.url });
    const replica = new PolicyTable();
    try {
      await replica.refresh(db);
      expect(replica.lookup(ENDPOINT)).toMatchObject({
        endpoint: ENDPOINT,
        variants: [
          { name: 'baseline', alias: 'stable', weight: 80 },
          { name: 'canary', version: 2, weight: 20 },
        ],
        sticky: { by: 'header', header: 'x-user-id' },
      });
      expect(replica.versionsOf('softmax')).toEqual([1, 2]);
      await expectPut(canary(35));
      expect(replica.lookup(ENDPOINT)?.variants[1].weight).toBe(20);
      replica.startRefreshing(
        async () => db,
        (error) => console.error(error),
        50,
      );
      for (let i = 0; i < 100 && replica.lookup(ENDPOINT)?.variants[1].weight !== 35; i++) {
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      expect(replica.lookup(ENDPOINT)?.variants.map((v) => v.weight)).toEqual([65, 35]);
    } finally {
      replica.stop();
      await db.close();
    }
  });

  it('lists policies, keeps their history, and removes one', async () => {
    const list = (await (await fetch(`${server.url}/v1/endpoints`)).json()) as EndpointListJson;
    expect(list.endpoints.map((e) => e.endpoint)).toEqual([ENDPOINT]);
    expect(list.endpoints[0]).toMatchObject({ updated_by: 'release-bot', sticky: { by: 'header' } });
    const removed = await fetch(`${server.url}/v1/admin/endpoints/${ENDPOINT}/traffic`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${ADMIN_KEY}` },
    });
    expect(removed.status).toBe(204);
    const { traffic, history } = await endpointNow();
    expect(traffic).toBeNull();
    expect(history.length).toBeGreaterThan(8);
    expect(history.every((entry) => entry.actor === 'release-bot')).toBe(true);
    expect(history[0]).toMatchObject({ kind: 'policy_set', previous: null, policy: canary(20) });
    for (let i = 1; i < history.length; i++) expect(history[i].previous).toEqual(history[i - 1].policy);
    expect(history.at(-1)).toMatchObject({ kind: 'policy_removed', policy: null });
    const gone = await segment('u');
    expect([gone.status, gone.body.error?.code]).toEqual([404, 'MODEL_NOT_FOUND']);
    const again = await fetch(`${server.url}/v1/admin/endpoints/${ENDPOINT}/traffic`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${ADMIN_KEY}` },
    });
    expect(again.status).toBe(404);
    const never = await fetch(`${server.url}/v1/endpoints/never`);
    expect(never.status).toBe(404);
  });
});

describe.skipIf(problem !== undefined)('a policy sticky by API key', () => {
  it('gives each API key the variant its name hashes to, every time, and splits the keys', async () => {
    const fresh = await freshDatabase();
    const db = await openDatabase({ kind: 'postgres', url: fresh.url });
    const repo = await tinyRepository({ softmax: { ...tinySoftmaxModel(), versions: [1, 2] } });
    const blobDir = await mkdtemp(join(tmpdir(), 'segserve-traffic-keys-'));
    const names = Array.from({ length: 120 }, (_, i) => `caller-${i}`);
    const secret = (name: string) => `${name}-secret-0123456789abcdef`;
    const served = await lifecycleApp({
      repository: repo.repository,
      db,
      blobs: await FsBlobStore.open(blobDir),
      evaluate: async () => undefined,
      apiKeys: ApiKeys.fromEntries(
        names.map((name, i) => ({ text: `${name} ${secret(name)}`, where: `${i}` })),
      ),
    });
    try {
      const base = await listenOnLoopback(served.app);
      const policy = {
        variants: [
          { name: 'one', model: 'softmax', version: 1, weight: 50 },
          { name: 'two', model: 'softmax', version: 2, weight: 50 },
        ],
        sticky: { by: 'api_key' },
      };
      const put = await fetch(`${base}/v1/admin/endpoints/${ENDPOINT}/traffic`, {
        method: 'PUT',
        headers: adminHeaders(),
        body: JSON.stringify(policy),
      });
      expect(put.status).toBe(200);
      const image = await png(semanticScene());
      const variants = served.policies.lookup(ENDPOINT)?.variants ?? [];
      const answers = await mapLimited([...names, ...names], 6, async (name) => {
        const response = await fetch(`${base}${SEGMENT}`, {
          method: 'POST',
          body: image,
          headers: { 'x-api-key': secret(name) },
        });
        const body = (await response.json()) as { variant: string };
        return { name, status: response.status, variant: body.variant };
      });
      for (const { name, status, variant } of answers) {
        expect(status).toBe(200);
        // The key's name, never its secret, is what is hashed.
        expect(variant, name).toBe(pickVariant(variants, stickyPoint(ENDPOINT, name)).name);
      }
      const share = answers.filter((a) => a.variant === 'two').length / answers.length;
      expect(share).toBeGreaterThan(0.3);
      expect(share).toBeLessThan(0.7);
    } finally {
      await served.app.close();
      await repo.close();
      await db.close();
      await fresh.drop();
      await rm(blobDir, { recursive: true, force: true });
    }
  });
});
