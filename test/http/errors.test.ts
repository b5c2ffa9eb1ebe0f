/**
 * The one error handler: whatever fails, the client gets the catalogue's shape and status and never a stack
 * trace; unforeseen failures are logged in full under the request id the client was given.
 */
import { Writable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { tinySoftmaxModel } from '../helpers/tiny-models.js';
import { buildTestApp, errorOf, listenOnLoopback, type TinyRepository, tinyRepository } from './helpers.js';

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
    expect(mine.map((l) => l.msg)).toEqual(['incoming request', 'request refused', 'request completed']);
    const refused = mine[1];
    expect(refused).toMatchObject({ level: 30, code: 'MODEL_NOT_FOUND' });
    expect(JSON.stringify(refused)).not.toContain('stack');
  });

  it('health probes are not logged per request', async () => {
    await fetch(`${base}/health`, { headers: { 'x-request-id': 'probe-1' } });
    expect(lines.filter((l) => l.request_id === 'probe-1')).toEqual([]);
  });
});
