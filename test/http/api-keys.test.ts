/**
 * API keys and rate limits on the inference routes: every inference route refuses a request without a valid
 * key before admitting it (401 missing or unknown, 403 revoked, 429 over the key's rate with Retry-After), the
 * other routes stay open, and keys are kept hashed. The rate is a token bucket on a clock the test moves.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiKeys } from '../../src/http/api-keys.js';
import { semanticScene, tinySoftmaxModel } from '../helpers/tiny-models.js';
import { listen, png, type RunningApp, type TinyRepository, tinyRepository } from './helpers.js';

const ALICE = 'alice-key-0123456789abcdef';
const BOB = 'bob-key-0123456789abcdef';
const CAROL = 'carol-key-0123456789abcdef';
const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

let repo: TinyRepository;
let server: RunningApp;
let image: Uint8Array;
let clock = 0;

beforeAll(async () => {
  repo = await tinyRepository({ softmax: tinySoftmaxModel() });
  const keys = ApiKeys.fromEntries(
    [
      { text: `alice ${ALICE} rate=2/s burst=2`, where: 'line 1' },
      { text: `bob ${BOB} revoked`, where: 'line 2' },
      { text: `carol sha256:${sha256(CAROL)}`, where: 'line 3' },
    ],
    () => clock,
  );
  server = await listen({ repository: repo.repository, apiKeys: keys });
  image = await png(semanticScene());
});

afterAll(async () => {
  await server?.app.close();
  await repo?.close();
});

function segment(headers: Record<string, string> = {}, path = '/v1/models/softmax/segment') {
  return fetch(`${server.base}${path}`, { method: 'POST', body: image, headers });
}

async function outcome(response: Response): Promise<[number, string]> {
  if (response.status === 200) return [200, 'OK'];
  const body = (await response.json()) as { error: { code: string } | string };
  return [response.status, typeof body.error === 'string' ? body.error : body.error.code];
}

const admitted = async () =>
  ((await (await fetch(`${server.base}/health`)).json()) as { requests: { admitted: number } }).requests
    .admitted;

describe('API keys on the inference routes', () => {
  it('refuses every inference route without a key, before admitting the request', async () => {
    const before = await admitted();
    const json = { 'content-type': 'application/json' };
    const form = new FormData();
    form.append('file', new Blob([image]), 'x.png');
    const requests: Array<[string, RequestInit]> = [
      ['/v1/models/softmax/segment', { method: 'POST', body: image }],
      ['/v1/models/softmax/versions/1/segment', { method: 'POST', body: image }],
      ['/predict?model=softmax', { method: 'POST', body: image }],
      ['/predict/upload?model=softmax', { method: 'POST', body: form }],
      [
        '/predict/url?model=softmax',
        { method: 'POST', headers: json, body: '{"url":"http://example.com/x.png"}' },
      ],
      [
        '/predict/batch?model=softmax',
        { method: 'POST', headers: json, body: '{"urls":["http://example.com/x.png"]}' },
      ],
      ['/api/detect?model=softmax', { method: 'POST', body: form }],
      ['/v2/models/softmax/infer', { method: 'POST', headers: json, body: '{"inputs":[]}' }],
    ];
    for (const [path, init] of requests) {
      const response = await fetch(`${server.base}${path}`, init);
      expect(response.status, path).toBe(401);
      expect(response.headers.get('www-authenticate'), path).toContain('Bearer');
    }
    expect(await admitted()).toBe(before);
  });

  it('answers with a valid key, by bearer or X-API-Key, also for a key listed by its hash', async () => {
    clock += 10_000;
    expect(await outcome(await segment({ authorization: `Bearer ${ALICE}` }))).toEqual([200, 'OK']);
    expect(await outcome(await segment({ 'x-api-key': CAROL }))).toEqual([200, 'OK']);
  });

  it('refuses a wrong key with 401 and a revoked one with 403', async () => {
    expect(await outcome(await segment({ 'x-api-key': 'not-a-key-0123456789abc' }))).toEqual([
      401,
      'API_KEY_INVALID',
    ]);
    expect(await outcome(await segment())).toEqual([401, 'API_KEY_MISSING']);
    expect(await outcome(await segment({ 'x-api-key': BOB }))).toEqual([403, 'API_KEY_REVOKED']);
  });

  it('holds a key to its rate: a burst, then 429 with Retry-After until the bucket refills', async () => {
    clock += 10_000;
    const alice = { authorization: `Bearer ${ALICE}` };
    expect(await outcome(await segment(alice))).toEqual([200, 'OK']);
    expect(await outcome(await segment(alice))).toEqual([200, 'OK']);
    const limited = await segment(alice);
    expect(limited.headers.get('retry-after')).toBe('1');
    expect(await outcome(limited)).toEqual([429, 'RATE_LIMITED']);
    // Another key has its own bucket.
    expect(await outcome(await segment({ 'x-api-key': CAROL }))).toEqual([200, 'OK']);
    clock += 500; // half a second: one token at 2/s
    expect(await outcome(await segment(alice))).toEqual([200, 'OK']);
    expect((await segment(alice)).status).toBe(429);
  });

  it('leaves the routes that run no model open', async () => {
    for (const path of ['/health', '/v1/models', '/v2/models/softmax', '/v2/health/ready', '/openapi.json']) {
      expect((await fetch(`${server.base}${path}`)).status, path).toBe(200);
    }
  });
});

describe('API key settings', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'segserve-api-keys-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('reads the variable and the key file; off without either', async () => {
    expect(ApiKeys.fromSettings({}, {})).toBeUndefined();
    const file = join(dir, 'keys');
    await writeFile(file, `# team keys\nalice ${ALICE} rate=10/m\n\nbob sha256:${sha256(BOB)} revoked\n`);
    expect(ApiKeys.fromSettings({ keyFile: file }, { SEGSERVE_API_KEYS: CAROL })?.size).toBe(3);
  });

  it('refuses bad entries, naming where and never the key', () => {
    expect(() =>
      ApiKeys.fromEntries([
        { text: 'short', where: 'line 1' },
        { text: `dave ${ALICE} rate=fast`, where: 'line 2' },
        { text: `erin ${BOB} burst=5`, where: 'line 3' },
      ]),
    ).toThrow(
      /line 1: an API key must have at least 16 characters; line 2: unknown option .*; line 3: burst= needs a rate=/,
    );
  });
});
