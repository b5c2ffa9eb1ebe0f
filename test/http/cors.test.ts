/**
 * CORS: none configured means no CORS header ever; configured origins get Access-Control-Allow-Origin on
 * answers (errors included) and preflights for the image routes; other origins get nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CORS_ALLOWED_HEADERS, CORS_EXPOSED_HEADERS } from '../../src/http/cors.js';
import { semanticScene, tinySoftmaxModel } from '../helpers/tiny-models.js';
import { listen, png, type RunningApp, type TinyRepository, tinyRepository } from './helpers.js';

const ALLOWED = 'https://app.example.com';
const OTHER = 'https://evil.example';
const SEGMENT = '/v1/models/softmax/segment?mask_format=none';

let repo: TinyRepository;
let scene: Buffer;
let withCors: RunningApp;
let withoutCors: RunningApp;
let anyOrigin: RunningApp;

/*
 * Over real sockets rather than app.inject: graceful-close's preClose hook calls socket.destroy() on the fake
 * sockets light-my-request leaves behind, so an app that served an injected request cannot be closed.
 * Node's fetch, unlike a browser's, lets a test set Origin and the preflight headers itself.
 */
const preflight = (app: RunningApp, origin: string, url = SEGMENT) =>
  fetch(`${app.base}${url}`, {
    method: 'OPTIONS',
    headers: {
      origin,
      'access-control-request-method': 'POST',
      'access-control-request-headers': 'content-type, x-request-id, accept',
    },
  });

const postImage = (app: RunningApp, origin: string, url = SEGMENT) =>
  fetch(`${app.base}${url}`, {
    method: 'POST',
    headers: { origin, 'content-type': 'application/octet-stream', 'x-request-id': 'cors-1' },
    body: new Uint8Array(scene),
  });

function listOf(header: string | null): string[] {
  return String(header ?? '')
    .split(',')
    .map((h) => h.trim().toLowerCase())
    .filter(Boolean);
}

beforeAll(async () => {
  repo = await tinyRepository({ softmax: tinySoftmaxModel() });
  scene = await png(semanticScene());
  withCors = await listen({
    repository: repo.repository,
    // Given as an operator might type it: normalised to what browsers send.
    corsOrigins: ['https://App.Example.com/', 'http://localhost:5173'],
  });
  withoutCors = await listen({ repository: repo.repository });
  anyOrigin = await listen({ repository: repo.repository, corsOrigins: ['*'] });
});

afterAll(async () => {
  await withCors?.app.close();
  await withoutCors?.app.close();
  await anyOrigin?.app.close();
  await repo?.close();
});

describe('CORS with configured origins', () => {
  it('answers a listed origin with Access-Control-Allow-Origin and the exposed headers', async () => {
    const response = await postImage(withCors, ALLOWED);
    expect(response.status).toBe(200);
    expect(response.headers.get('access-control-allow-origin')).toBe(ALLOWED);
    expect(listOf(response.headers.get('vary'))).toContain('origin');
    expect(listOf(response.headers.get('access-control-expose-headers'))).toEqual(
      expect.arrayContaining([
        'x-request-id',
        'x-segserve-model',
        'x-segserve-version',
        'retry-after',
        'server-timing',
      ]),
    );
    expect(response.headers.get('x-request-id')).toBe('cors-1');
    await response.arrayBuffer();
  });

  it('answers a preflight for the image routes with 204, methods and headers', async () => {
    for (const url of [SEGMENT, '/predict/upload', '/api/detect', '/v2/models/softmax/infer']) {
      const response = await preflight(withCors, ALLOWED, url);
      expect(response.status, url).toBe(204);
      expect(response.headers.get('access-control-allow-origin')).toBe(ALLOWED);
      expect(listOf(response.headers.get('access-control-allow-methods'))).toEqual(
        expect.arrayContaining(['get', 'post']),
      );
      const allowed = listOf(response.headers.get('access-control-allow-headers'));
      expect(allowed).toEqual(expect.arrayContaining(['content-type', 'x-request-id', 'accept']));
      expect(allowed).toEqual([...CORS_ALLOWED_HEADERS]);
      expect(response.headers.get('access-control-max-age')).toBe('600');
      expect(response.headers.get('access-control-allow-credentials')).toBeNull();
      expect(await response.text()).toBe('');
    }
  });

  it('keeps the headers on error answers, so a page can read the error', async () => {
    const response = await postImage(withCors, ALLOWED, '/v1/models/nope/segment');
    expect(response.status).toBe(404);
    expect(await response.json()).toMatchObject({ error: { code: 'MODEL_NOT_FOUND' } });
    expect(response.headers.get('access-control-allow-origin')).toBe(ALLOWED);
  });

  it('gives an unlisted origin no CORS header at all, and its preflight no answer', async () => {
    const response = await postImage(withCors, OTHER);
    expect(response.status).toBe(200);
    expect(response.headers.get('access-control-allow-origin')).toBeNull();
    expect(response.headers.get('access-control-expose-headers')).toBeNull();

    const pre = await preflight(withCors, OTHER);
    expect(pre.status).toBe(404);
    expect(pre.headers.get('access-control-allow-origin')).toBeNull();
    expect(pre.headers.get('access-control-allow-methods')).toBeNull();
  });

  it('sends nothing CORS to same-origin and non-browser requests (no Origin header)', async () => {
    const response = await fetch(`${withCors.base}/health`);
    expect(response.status).toBe(200);
    expect(response.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('with *, allows any origin', async () => {
    const response = await postImage(anyOrigin, OTHER);
    expect(response.headers.get('access-control-allow-origin')).toBe('*');
    expect((await preflight(anyOrigin, OTHER)).status).toBe(204);
  });
});

describe('CORS not configured', () => {
  it('sends no CORS header, and has no preflight route', async () => {
    const response = await postImage(withoutCors, ALLOWED);
    expect(response.status).toBe(200);
    for (const [name] of response.headers) expect(name).not.toMatch(/^access-control-/);
    const pre = await preflight(withoutCors, ALLOWED);
    expect(pre.status).toBe(404);
    expect(pre.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('exposes every header the API sets for clients to read', () => {
    expect(CORS_EXPOSED_HEADERS).toEqual(
      expect.arrayContaining([
        'x-request-id',
        'x-segserve-model',
        'x-segserve-version',
        'retry-after',
        'server-timing',
      ]),
    );
  });
});
