/**
 * The one error handler: whatever fails, the client gets the catalogue's shape and status and never a stack
 * trace; unforeseen failures are logged in full under the request id the client was given.
 */
import { Writable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { semanticScene, tinySoftmaxModel } from '../helpers/tiny-models.js';
import {
  buildTestApp,
  errorOf,
  listenOnLoopback,
  png,
  type TinyRepository,
  tinyRepository,
} from './helpers.js';

let repo: TinyRepository;
let app: FastifyInstance;
let base: string;
const lines: Array<Record<string, unknown>> = [];

beforeAll(async () => {
  repo = await tinyRepository({ softmax: tinySoftmaxModel() });
  const stream = new Writable({
    write(chunk, _encoding, done) {
      for (const line of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(line));
      done();
    },
  });
  app = await buildTestApp({ repository: repo.repository, logger: { level: 'info', stream } });
  // A route that fails the way a bug would, to watch what leaks.
  app.get('/test/bug', async () => {
    throw new TypeError('cannot read secretField of undefined (token=abc123)');
  });
  base = await listenOnLoopback(app);
});

afterAll(async () => {
  await app?.close();
  await repo?.close();
});

describe('an unforeseen error', () => {
  it('answers INTERNAL_ERROR with the request id and nothing of the failure', async () => {
    const response = await fetch(`${base}/test/bug`, { headers: { 'x-request-id': 'bug-1' } });
    expect(response.status).toBe(500);
    const text = await response.clone().text();
    expect(text).not.toContain('secretField');
    expect(text).not.toContain('abc123');
    expect(text).not.toMatch(/\bat .*\.ts:\d+/);
    const error = await errorOf(response);
    expect(error).toEqual({
      code: 'INTERNAL_ERROR',
      message: 'An internal error occurred; it is logged under request id bug-1.',
      details: { request_id: 'bug-1' },
    });
  });

  it('is logged at error level with its stack, under the same request id', () => {
    const logged = lines.find((l) => l.request_id === 'bug-1' && l.level === 50);
    expect(logged).toBeDefined();
    const err = logged?.err as { message: string; stack: string };
    expect(err.message).toContain('secretField');
    expect(err.stack).toMatch(/errors\.test\.ts/);
    expect(logged?.code).toBe('INTERNAL_ERROR');
  });
});

describe('request logs', () => {
  it('are JSON lines carrying the request id, with refusals at info level and no stack', async () => {
    await fetch(`${base}/v1/models/nope/segment`, {
      method: 'POST',
      body: 'x',
      headers: { 'x-request-id': 'r-2' },
    });
    const mine = lines.filter((l) => l.request_id === 'r-2');
    // A refusal is its own (rate-limited) line, with no per-request completion line beside it.
    expect(mine.map((l) => l.msg)).toEqual(['request refused']);
    const refused = mine[0];
    expect(refused).toMatchObject({ level: 30, code: 'MODEL_NOT_FOUND' });
    expect(JSON.stringify(refused)).not.toContain('stack');
  });

  it('a served request is one line when admitted and one when completed, with status and time', async () => {
    await fetch(`${base}/v1/models/softmax/segment`, {
      method: 'POST',
      body: new Uint8Array(await png(semanticScene())),
      headers: { 'x-request-id': 'ok-1' },
    });
    const mine = lines.filter((l) => l.request_id === 'ok-1');
    expect(mine.map((l) => l.msg)).toEqual(['request admitted', 'request completed']);
    expect(mine[0]).toMatchObject({ source: 'v1', model: 'softmax', version: 1 });
    expect(mine[1]).toMatchObject({ status: 200, url: '/v1/models/softmax/segment' });
  });

  it('refusals of one code are folded: one line per second with the count of the others', async () => {
    const sent = Array.from({ length: 5 }, (_, i) =>
      fetch(`${base}/v1/models/absent/segment`, {
        method: 'POST',
        body: 'x',
        headers: { 'x-request-id': `fold-${i}` },
      }),
    );
    await Promise.all(sent);
    const folded = lines.filter((l) => String(l.request_id).startsWith('fold-'));
    expect(folded.length).toBeLessThanOrEqual(1);
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    await fetch(`${base}/v1/models/absent/segment`, {
      method: 'POST',
      body: 'x',
      headers: { 'x-request-id': 'fold-last' },
    });
    const last = lines.find((l) => l.request_id === 'fold-last');
    expect(last).toMatchObject({ msg: 'request refused', code: 'MODEL_NOT_FOUND' });
    expect(Number(last?.suppressed_since_last)).toBeGreaterThanOrEqual(4);
  });

  it('health probes are not logged per request', async () => {
    await fetch(`${base}/health`, { headers: { 'x-request-id': 'probe-1' } });
    expect(lines.filter((l) => l.request_id === 'probe-1')).toEqual([]);
  });
});
