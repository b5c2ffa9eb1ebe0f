/**
 * The routes existing clients of the common Flask/FastAPI segmentation services call, with their shapes:
 * /health, /predict/upload, /predict/url, /predict/batch, /api/detect, /predict; the default model serves them
 * when none is named.
 */
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeRle } from '../../src/masks/rle.js';
import { toMaskPng, toSegmentationJson } from '../../src/serving/encode.js';
import { segment } from '../helpers/serving.js';
import { semanticScene, tinySoftmaxModel, tinyYoloSegModel, yoloScene } from '../helpers/tiny-models.js';
import { noiseBytes } from '../image/fixtures.js';
import { errorOf, listen, png, type RunningApp, type TinyRepository, tinyRepository } from './helpers.js';
import { type Origin, serveBytes, startOrigin } from './origin.js';

const LIMIT = 64 * 1024;

let repo: TinyRepository;
let server: RunningApp;
let origin: Origin;
let batchRoot: string;
let outside: string;
let semanticPng: Buffer;
let yoloPng: Buffer;

function withoutTimings(body: object): object {
  const { timings: _timings, ...rest } = body as { timings?: unknown };
  return rest;
}

async function expectedJson(model: string, bytes: Buffer): Promise<object> {
  return withoutTimings(
    JSON.parse(JSON.stringify(toSegmentationJson(await segment(repo.repository, model, bytes)))),
  );
}

function upload(field: string, bytes: Buffer): FormData {
  const form = new FormData();
  form.append(field, new Blob([bytes]), 'upload.png');
  return form;
}

function postJson(path: string, body: unknown, base = server.base): Promise<Response> {
  return fetch(`${base}${path}`, {
    method: 'POST',
    body: JSON.stringify(body),
    headers: { 'content-type': 'application/json' },
  });
}

beforeAll(async () => {
  repo = await tinyRepository({
    softmax: tinySoftmaxModel(),
    yolo: tinyYoloSegModel(),
    broken: { bytes: Buffer.from('not onnx'), config: tinySoftmaxModel().config },
  });
  semanticPng = await png(semanticScene());
  yoloPng = await png(yoloScene());
  batchRoot = await mkdtemp(join(tmpdir(), 'segserve-batch-'));
  outside = await mkdtemp(join(tmpdir(), 'segserve-outside-'));
  await writeFile(join(batchRoot, 'a.png'), semanticPng);
  await mkdir(join(batchRoot, 'sub', 'folder'), { recursive: true });
  await writeFile(join(batchRoot, 'sub', 'b.png'), yoloPng);
  await writeFile(join(batchRoot, 'big.png'), Buffer.concat([semanticPng, noiseBytes(LIMIT)]));
  await writeFile(join(batchRoot, 'notes.txt'), 'not an image');
  await writeFile(join(outside, 'secret.png'), semanticPng);
  await symlink(join(outside, 'secret.png'), join(batchRoot, 'escape.png'));
  await symlink(outside, join(batchRoot, 'linked'));
  origin = await startOrigin({ '/scene.png': serveBytes(semanticPng, 'image/png') });
  server = await listen({
    repository: repo.repository,
    defaultModel: 'softmax',
    batchRoot,
    limits: { imageBodyBytes: LIMIT },
    urlFetch: { allow: ['127.0.0.1'] },
  });
});

afterAll(async () => {
  await server?.app.close();
  await origin?.close();
  await repo?.close();
  await rm(batchRoot, { recursive: true, force: true });
  await rm(outside, { recursive: true, force: true });
});

describe('GET /health', () => {
  it('answers the status, the default model and every model state', async () => {
    const response = await fetch(`${server.base}/health`);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({
      status: 'degraded',
      default_model: 'softmax',
      models: { broken: 'failed', softmax: 'ready', yolo: 'ready' },
      requests: expect.objectContaining({ in_flight: 0, pixels_in_flight: 0 }),
    });
  });
});

describe('POST /predict/upload', () => {
  it('multipart file -> the mask PNG of the default model', async () => {
    const response = await fetch(`${server.base}/predict/upload`, {
      method: 'POST',
      body: upload('file', semanticPng),
    });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('image/png');
    expect(response.headers.get('x-segserve-model')).toBe('softmax');
    expect(Buffer.from(await response.arrayBuffer())).toEqual(
      toMaskPng(await segment(repo.repository, 'softmax', semanticPng)),
    );
  });

  it('?model= names another model', async () => {
    const response = await fetch(`${server.base}/predict/upload?model=yolo`, {
      method: 'POST',
      body: upload('file', yoloPng),
    });
    expect(response.headers.get('x-segserve-model')).toBe('yolo');
    expect(Buffer.from(await response.arrayBuffer())).toEqual(
      toMaskPng(await segment(repo.repository, 'yolo', yoloPng)),
    );
  });

  it('a multipart body without the file field: IMAGE_MISSING', async () => {
    const form = new FormData();
    form.append('picture', new Blob([semanticPng]), 'x.png');
    const response = await fetch(`${server.base}/predict/upload`, { method: 'POST', body: form });
    expect(response.status).toBe(400);
    const error = await errorOf(response);
    expect(error.code).toBe('IMAGE_MISSING');
    expect(error.message).toContain('picture');
  });

  it('a multipart body with fields only: IMAGE_MISSING', async () => {
    const form = new FormData();
    form.append('file', 'just text, not a file');
    const response = await fetch(`${server.base}/predict/upload`, { method: 'POST', body: form });
    expect(response.status).toBe(400);
    expect((await errorOf(response)).code).toBe('IMAGE_MISSING');
  });
});

describe('POST /predict/url', () => {
  it('{"url"} -> the mask PNG', async () => {
    const response = await postJson('/predict/url', { url: `${origin.base}/scene.png` });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('image/png');
    expect(Buffer.from(await response.arrayBuffer())).toEqual(
      toMaskPng(await segment(repo.repository, 'softmax', semanticPng)),
    );
  });

  const refused: Array<[string, () => Promise<Response>, number, string]> = [
    ['no url field', () => postJson('/predict/url', { link: 'x' }), 400, 'INVALID_ARGUMENT'],
    [
      'a url that is not a string',
      () => postJson('/predict/url', { url: { href: 'x' } }),
      400,
      'INVALID_ARGUMENT',
    ],
    [
      'broken JSON',
      () =>
        fetch(`${server.base}/predict/url`, {
          method: 'POST',
          body: '{"url": ',
          headers: { 'content-type': 'application/json' },
        }),
      400,
      'INVALID_JSON',
    ],
    [
      'an empty JSON body',
      () =>
        fetch(`${server.base}/predict/url`, {
          method: 'POST',
          body: '',
          headers: { 'content-type': 'application/json' },
        }),
      400,
      'INVALID_JSON',
    ],
    [
      'an image instead of JSON',
      () =>
        fetch(`${server.base}/predict/url`, {
          method: 'POST',
          body: new Uint8Array(semanticPng),
          headers: { 'content-type': 'image/png' },
        }),
      415,
      'UNSUPPORTED_MEDIA_TYPE',
    ],
    [
      'a body over the JSON limit',
      () => postJson('/predict/url', { url: `http://x/${'a'.repeat(70 * 1024)}` }),
      413,
      'BODY_TOO_LARGE',
    ],
  ];
  for (const [name, send, status, code] of refused) {
    it(`${name}: ${status} ${code}`, async () => {
      const response = await send();
      expect(response.status).toBe(status);
      expect((await errorOf(response)).code).toBe(code);
    });
  }
});

describe('POST /predict/batch', () => {
  it('paths: one status per item, bad items refused one by one', async () => {
    const paths = [
      'a.png',
      'sub/b.png',
      '/etc/passwd',
      '../outside.png',
      'sub/../../a.png',
      'escape.png',
      'linked/secret.png',
      'missing.png',
      'sub/folder',
      'big.png',
      'notes.txt',
    ];
    const response = await postJson('/predict/batch?model=softmax', { paths });
    expect(response.status).toBe(200);
    const body = (await response.json()) as {
      model: string;
      version: number;
      succeeded: number;
      failed: number;
      results: Array<{
        index: number;
        input: string;
        status: string;
        result?: object;
        error?: { code: string };
      }>;
    };
    expect([body.model, body.version, body.succeeded, body.failed]).toEqual(['softmax', 1, 2, 9]);
    expect(body.results.map((r) => [r.index, r.input, r.status, r.error?.code])).toEqual([
      [0, 'a.png', 'ok', undefined],
      [1, 'sub/b.png', 'ok', undefined],
      [2, '/etc/passwd', 'error', 'PATH_FORBIDDEN'],
      [3, '../outside.png', 'error', 'PATH_FORBIDDEN'],
      [4, 'sub/../../a.png', 'error', 'PATH_FORBIDDEN'],
      [5, 'escape.png', 'error', 'PATH_FORBIDDEN'],
      [6, 'linked/secret.png', 'error', 'PATH_FORBIDDEN'],
      [7, 'missing.png', 'error', 'FILE_NOT_FOUND'],
      [8, 'sub/folder', 'error', 'PATH_FORBIDDEN'],
      [9, 'big.png', 'error', 'INPUT_TOO_LARGE'],
      [10, 'notes.txt', 'error', 'IMAGE_UNSUPPORTED_FORMAT'],
    ]);
    expect(withoutTimings(body.results[0].result!)).toEqual(await expectedJson('softmax', semanticPng));
    expect(withoutTimings(body.results[1].result!)).toEqual(await expectedJson('softmax', yoloPng));
    // Refusals never echo the server's folders.
    expect(JSON.stringify(body)).not.toContain(batchRoot);
  });

  it('urls: fetched one by one, each with its own status', async () => {
    const urls = [
      `${origin.base}/scene.png`,
      `${origin.base}/missing.png`,
      'http://10.0.0.1/x.png',
      'ftp://x/y',
    ];
    const response = await postJson('/predict/batch', { urls });
    const body = (await response.json()) as { results: Array<{ status: string; error?: { code: string } }> };
    expect(body.results.map((r) => r.error?.code ?? r.status)).toEqual([
      'ok',
      'URL_FETCH_FAILED',
      'URL_FORBIDDEN',
      'URL_INVALID',
    ]);
  });

  it('more items than the limit: BATCH_TOO_LARGE', async () => {
    const response = await postJson('/predict/batch', { paths: Array.from({ length: 17 }, () => 'a.png') });
    expect(response.status).toBe(413);
    const error = await errorOf(response);
    expect(error.code).toBe('BATCH_TOO_LARGE');
    expect(error.details).toEqual({ count: 17, limit: 16 });
  });

  for (const [name, body] of [
    ['both paths and urls', { paths: ['a.png'], urls: ['http://x/'] }],
    ['neither', { files: ['a.png'] }],
    ['an empty list', { paths: [] }],
    ['a list of objects', { paths: [{ path: 'a.png' }] }],
  ] as const) {
    it(`${name}: INVALID_ARGUMENT`, async () => {
      const response = await postJson('/predict/batch', body);
      expect(response.status).toBe(400);
      expect((await errorOf(response)).code).toBe('INVALID_ARGUMENT');
    });
  }

  it('paths on a server without a batch folder: PATH_FORBIDDEN for the whole request', async () => {
    const bare = await listen({ repository: repo.repository });
    try {
      const response = await postJson('/predict/batch', { paths: ['a.png'] }, bare.base);
      expect(response.status).toBe(403);
      const error = await errorOf(response);
      expect(error.code).toBe('PATH_FORBIDDEN');
      expect(error.message).toContain('--batch-root');
    } finally {
      await bare.app.close();
    }
  });
});

describe('POST /api/detect', () => {
  it('multipart image -> boxes [x1, y1, x2, y2], RLE masks, class ids, scores', async () => {
    const response = await fetch(`${server.base}/api/detect?model=yolo`, {
      method: 'POST',
      body: upload('image', yoloPng),
    });
    expect(response.status).toBe(200);
    const body = (await response.json()) as {
      boxes: number[][];
      masks: Array<{ size: [number, number]; counts: string }>;
      class_ids: number[];
      scores: number[];
      labels: string[];
    };
    expect(body.boxes).toEqual([
      [8, 8, 32, 40],
      [10, 8, 34, 40],
      [36, 44, 60, 60],
    ]);
    expect(body.class_ids).toEqual([0, 1, 1]);
    expect(body.labels).toEqual(['cat', 'dog', 'dog']);
    expect(body.scores.map((s) => Number(s.toFixed(4)))).toEqual([0.9, 0.7, 0.6]);
    const areas = body.masks.map((m) => decodeRle(m).data.reduce((a, b) => a + b, 0));
    expect(areas).toEqual([512, 384, 192]);
    expect(body.masks[0].size).toEqual([64, 64]);
  });
});

describe('POST /predict', () => {
  it('multipart or raw body -> the JSON answer of the default model', async () => {
    const expected = await expectedJson('softmax', semanticPng);
    const multipart = await fetch(`${server.base}/predict`, {
      method: 'POST',
      body: upload('file', semanticPng),
    });
    expect(withoutTimings((await multipart.json()) as object)).toEqual(expected);
    const raw = await fetch(`${server.base}/predict`, { method: 'POST', body: new Uint8Array(semanticPng) });
    expect(withoutTimings((await raw.json()) as object)).toEqual(expected);
  });

  it('?model= and ?mask_format= apply', async () => {
    const response = await fetch(`${server.base}/predict?model=yolo&mask_format=none`, {
      method: 'POST',
      body: new Uint8Array(yoloPng),
    });
    const body = (await response.json()) as { model: string; instances: Array<Record<string, unknown>> };
    expect(body.model).toBe('yolo');
    expect(body.instances).toHaveLength(3);
    for (const instance of body.instances) expect(instance.mask).toBeUndefined();
  });
});

describe('without a ready model', () => {
  it('routes that name no model answer NO_DEFAULT_MODEL (503, Retry-After); /health answers 503 unavailable', async () => {
    const lonely = await tinyRepository({
      broken: { bytes: Buffer.from('x'), config: tinySoftmaxModel().config },
    });
    const bare = await listen({ repository: lonely.repository });
    try {
      const response = await fetch(`${bare.base}/predict/upload`, {
        method: 'POST',
        body: upload('file', semanticPng),
      });
      expect(response.status).toBe(503);
      expect(response.headers.get('retry-after')).toBe('1');
      expect((await errorOf(response)).code).toBe('NO_DEFAULT_MODEL');
      // A container health check must stop sending traffic to an instance where no model can serve.
      const health = await fetch(`${bare.base}/health`);
      expect(health.status).toBe(503);
      expect(await health.json()).toEqual({
        status: 'unavailable',
        models: { broken: 'failed' },
        requests: { admitted: 0, refused: 0, decoded: 0, in_flight: 0, pixels_in_flight: 0 },
      });
    } finally {
      await bare.app.close();
      await lonely.close();
    }
  });
});
