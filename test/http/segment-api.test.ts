/**
 * The segmentation API over a real socket, on tiny models whose answers are known exactly: every way of sending
 * the image, every answer format, the model routes and their errors. HTTP answers are compared with what the
 * serving layer gives in-process for the same bytes, so serialisation can neither drop nor change a field.
 */
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeRle } from '../../src/masks/rle.js';
import { MASK_FORMATS, toMaskPng, toOverlay, toSegmentationJson } from '../../src/serving/encode.js';
import { segment } from '../helpers/serving.js';
import {
  semanticScene,
  tinySigmoidModel,
  tinySoftmaxModel,
  tinyYoloSegModel,
  yoloScene,
} from '../helpers/tiny-models.js';
import { errorOf, listen, png, type RunningApp, type TinyRepository, tinyRepository } from './helpers.js';
import { type Origin, serveBytes, startOrigin } from './origin.js';

let repo: TinyRepository;
let server: RunningApp;
let origin: Origin;
let semanticPng: Buffer;
let yoloPng: Buffer;

/** The class map of semanticScene(): red 1, green 2, blue 3. */
function semanticTruth(): Uint8Array {
  const map = new Uint8Array(16 * 16);
  for (const [x0, y0, x1, y1, value] of [
    [2, 2, 8, 8, 1],
    [10, 2, 14, 6, 2],
    [4, 10, 12, 14, 3],
  ]) {
    for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) map[y * 16 + x] = value;
  }
  return map;
}

function withoutTimings(body: Record<string, unknown>): Record<string, unknown> {
  const { timings: _timings, ...rest } = body;
  return rest;
}

function post(
  path: string,
  body: RequestInit['body'],
  headers: Record<string, string> = {},
): Promise<Response> {
  return fetch(`${server.base}${path}`, { method: 'POST', body, headers });
}

function multipart(field: string, bytes: Buffer, name = 'scene.png'): FormData {
  const form = new FormData();
  form.append(field, new Blob([bytes]), name);
  return form;
}

beforeAll(async () => {
  repo = await tinyRepository({
    softmax: tinySoftmaxModel(),
    yolo: tinyYoloSegModel(),
    sigmoid: tinySigmoidModel(),
    versioned: { ...tinySoftmaxModel(), versions: [1, 2] },
    broken: { bytes: Buffer.from('not an onnx model'), config: tinySoftmaxModel().config },
  });
  semanticPng = await png(semanticScene());
  yoloPng = await png(yoloScene());
  origin = await startOrigin({ '/scene.png': serveBytes(semanticPng, 'image/png') });
  server = await listen({ repository: repo.repository, urlFetch: { allow: ['127.0.0.1'] } });
});

afterAll(async () => {
  await server?.app.close();
  await origin?.close();
  await repo?.close();
});

describe('POST /v1/models/{model}/segment: answers', () => {
  for (const [model, image] of [
    ['softmax', () => semanticPng],
    ['yolo', () => yoloPng],
  ] as const) {
    for (const maskFormat of MASK_FORMATS) {
      it(`${model}, mask_format=${maskFormat}: the serving layer's JSON, field for field`, async () => {
        const response = await post(`/v1/models/${model}/segment?mask_format=${maskFormat}`, image());
        expect(response.status).toBe(200);
        expect(response.headers.get('content-type')).toMatch(/^application\/json/);
        const body = (await response.json()) as Record<string, unknown>;
        const expected = toSegmentationJson(await segment(repo.repository, model, image()), maskFormat);
        expect(withoutTimings(body)).toEqual(withoutTimings(JSON.parse(JSON.stringify(expected))));
        expect(Object.keys(body.timings as object).sort()).toEqual(
          ['decode', 'encode', 'infer', 'postprocess', 'preprocess', 'queue', 'total'].sort(),
        );
      });
    }
  }

  it('mask_format=png carries the mask PNG in base64 and no per-entry masks', async () => {
    for (const [model, image] of [
      ['softmax', semanticPng],
      ['yolo', yoloPng],
    ] as const) {
      const response = await post(`/v1/models/${model}/segment?mask_format=png`, image);
      const body = (await response.json()) as {
        mask_png: string;
        instances?: Array<Record<string, unknown>>;
        classes?: Array<Record<string, unknown>>;
      };
      const seg = await segment(repo.repository, model, image);
      expect(Buffer.from(body.mask_png, 'base64')).toEqual(toMaskPng(seg));
      for (const entry of [...(body.instances ?? []), ...(body.classes ?? [])]) {
        expect(entry.mask).toBeUndefined();
        expect(entry.polygons).toBeUndefined();
      }
    }
  });

  it('semantic RLE masks decode to the exact class map', async () => {
    const response = await post('/v1/models/softmax/segment', semanticPng);
    const body = (await response.json()) as {
      classes: Array<{ class_id: number; area: number; mask: { size: [number, number]; counts: string } }>;
    };
    const truth = semanticTruth();
    expect(body.classes.map((c) => [c.class_id, c.area])).toEqual([
      [1, 36],
      [2, 16],
      [3, 32],
    ]);
    for (const c of body.classes) {
      expect(Array.from(decodeRle(c.mask).data)).toEqual(
        Array.from(truth, (v) => (v === c.class_id ? 1 : 0)),
      );
    }
  });

  it('instance answers carry the exact boxes, areas and scores', async () => {
    const response = await post('/v1/models/yolo/segment', yoloPng);
    const body = (await response.json()) as {
      instances: Array<{ label: string; score: number; box: number[]; area: number }>;
    };
    expect(body.instances.map((i) => [i.label, i.score, i.box, i.area])).toEqual([
      ['cat', 0.9, [8, 8, 24, 32], 512],
      ['dog', 0.7, [10, 8, 24, 32], 384],
      ['dog', 0.6, [36, 44, 24, 16], 192],
    ]);
  });

  it('format=mask answers the mask PNG, format=overlay the overlay, byte for byte as the encoders make them', async () => {
    const seg = await segment(repo.repository, 'yolo', yoloPng, { keepImage: true });
    const mask = await post('/v1/models/yolo/segment?format=mask', yoloPng);
    expect(mask.status).toBe(200);
    expect(mask.headers.get('content-type')).toBe('image/png');
    expect(Buffer.from(await mask.arrayBuffer())).toEqual(toMaskPng(seg));
    const overlay = await post('/v1/models/yolo/segment?format=overlay', yoloPng);
    expect(overlay.headers.get('content-type')).toBe('image/png');
    expect(Buffer.from(await overlay.arrayBuffer())).toEqual(await toOverlay(seg));
  });

  it('a binary model answers a grey 0/255 mask PNG that is the exact mask', async () => {
    const response = await post('/v1/models/sigmoid/segment?format=mask', semanticPng);
    const { data, info } = await sharp(Buffer.from(await response.arrayBuffer()))
      .extractChannel(0)
      .raw()
      .toBuffer({ resolveWithObject: true });
    expect([info.width, info.height, info.channels]).toEqual([16, 16, 1]);
    expect(Array.from(data)).toEqual(Array.from(semanticTruth(), (v) => (v === 1 ? 255 : 0)));
  });

  for (const [accept, expected] of [
    ['image/png', 'image/png'],
    ['image/*', 'image/png'],
    ['application/json', 'application/json'],
    ['*/*', 'application/json'],
    ['image/png;q=0.5, application/json', 'application/json'],
    ['application/json;q=0.2, image/png', 'image/png'],
  ] as const) {
    it(`Accept: ${accept} answers ${expected}`, async () => {
      const response = await post('/v1/models/softmax/segment', semanticPng, { accept });
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toMatch(new RegExp(`^${expected.replace('/', '\\/')}`));
    });
  }

  it('?format= wins over Accept', async () => {
    const response = await post('/v1/models/softmax/segment?format=json', semanticPng, {
      accept: 'image/png',
    });
    expect(response.headers.get('content-type')).toMatch(/^application\/json/);
  });

  it('names the model and version in headers, with per-stage Server-Timing', async () => {
    const response = await post('/v1/models/softmax/segment?format=mask', semanticPng);
    expect(response.headers.get('x-segserve-model')).toBe('softmax');
    expect(response.headers.get('x-segserve-version')).toBe('1');
    expect(response.headers.get('server-timing')).toMatch(
      /^decode;dur=[\d.]+, preprocess;dur=.*infer;dur=.*total;dur=/,
    );
  });
});

describe('POST /v1/models/{model}/segment: ways to send the image', () => {
  let expected: unknown;
  beforeAll(async () => {
    expected = withoutTimings(
      JSON.parse(JSON.stringify(toSegmentationJson(await segment(repo.repository, 'softmax', semanticPng)))),
    );
  });

  const same = async (response: Response) => {
    expect(response.status).toBe(200);
    expect(withoutTimings((await response.json()) as Record<string, unknown>)).toEqual(expected);
  };

  for (const field of ['file', 'image']) {
    it(`multipart field "${field}"`, async () => {
      await same(await post('/v1/models/softmax/segment', multipart(field, semanticPng)));
    });
  }

  it('multipart with other fields and files before the image', async () => {
    const form = new FormData();
    form.append('note', 'hello');
    form.append('thumbnail', new Blob([Buffer.from('ignored')]), 't.bin');
    form.append('image', new Blob([semanticPng]), 'scene.png');
    await same(await post('/v1/models/softmax/segment', form));
  });

  for (const type of [
    'image/png',
    'image/jpeg',
    'application/octet-stream',
    'text/plain',
    'application/json',
  ]) {
    it(`raw body declared as ${type}: the bytes decide`, async () => {
      await same(await post('/v1/models/softmax/segment', semanticPng, { 'content-type': type }));
    });
  }

  it('raw body without a content type', async () => {
    // fetch sends no Content-Type for a typed-array body.
    const response = await fetch(`${server.base}/v1/models/softmax/segment`, {
      method: 'POST',
      body: new Uint8Array(semanticPng),
    });
    await same(response);
  });

  it('JSON {"image": base64}, as a data: URL and in base64url', async () => {
    for (const image of [
      semanticPng.toString('base64'),
      `data:image/png;base64,${semanticPng.toString('base64')}`,
      semanticPng.toString('base64url'),
    ]) {
      await same(
        await post('/v1/models/softmax/segment', JSON.stringify({ image }), {
          'content-type': 'application/json',
        }),
      );
    }
  });

  it('JSON {"url": ...} fetched from an allow-listed address', async () => {
    const body = JSON.stringify({ url: `${origin.base}/scene.png` });
    await same(await post('/v1/models/softmax/segment', body, { 'content-type': 'application/json' }));
  });

  it('JSON without a content type is still read as JSON', async () => {
    await same(
      await post('/v1/models/softmax/segment', JSON.stringify({ image: semanticPng.toString('base64') }), {
        'content-type': 'text/plain',
      }),
    );
  });
});

describe('versions and models', () => {
  it('/versions/{v}/segment serves that version', async () => {
    for (const version of [1, 2]) {
      const response = await post(`/v1/models/versioned/versions/${version}/segment`, semanticPng);
      expect(response.status).toBe(200);
      expect(((await response.json()) as { version: number }).version).toBe(version);
    }
  });

  it('without a version the newest ready one serves', async () => {
    const response = await post('/v1/models/versioned/segment', semanticPng);
    expect(((await response.json()) as { version: number }).version).toBe(2);
  });

  it('GET /v1/models lists every model with state, task, labels, input, versions and load errors', async () => {
    const response = await fetch(`${server.base}/v1/models`);
    expect(response.status).toBe(200);
    const body = (await response.json()) as {
      default_model: string;
      models: Array<Record<string, unknown> & { name: string; versions: Array<Record<string, unknown>> }>;
    };
    expect(body.models.map((m) => m.name)).toEqual(['broken', 'sigmoid', 'softmax', 'versioned', 'yolo']);
    expect(body.default_model).toBe('sigmoid');
    const broken = body.models.find((m) => m.name === 'broken')!;
    expect(broken.state).toBe('failed');
    expect((broken.error as { code: string }).code).toBe('MODEL_LOAD_FAILED');
    expect(broken.versions[0]).toMatchObject({
      version: 1,
      state: 'failed',
      error: { code: 'MODEL_LOAD_FAILED' },
    });
    expect((broken.error as { message: string }).message).toContain('broken/1/model.onnx');
    const versioned = body.models.find((m) => m.name === 'versioned')!;
    expect(versioned.versions).toEqual([
      { version: 1, state: 'ready' },
      { version: 2, state: 'ready' },
    ]);
    // Server paths are the operator's business.
    expect(JSON.stringify(body)).not.toContain(repo.dir);
  });

  it('GET /v1/models/{model} gives one model in detail', async () => {
    const response = await fetch(`${server.base}/v1/models/yolo`);
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({
      name: 'yolo',
      state: 'ready',
      task: 'instance',
      decoder: 'yolo-seg',
      labels: ['cat', 'dog'],
      input: { name: 'images', width: 64, height: 64, resize: 'letterbox', layout: 'NCHW' },
      versions: [{ version: 1, state: 'ready' }],
    });
  });
});

describe('errors of the model routes', () => {
  const cases: Array<[string, string, () => Promise<Response>, number, string]> = [
    ['unknown model (GET)', 'GET', () => fetch(`${server.base}/v1/models/nope`), 404, 'MODEL_NOT_FOUND'],
    [
      'unknown model (segment)',
      'POST',
      () => post('/v1/models/nope/segment', semanticPng),
      404,
      'MODEL_NOT_FOUND',
    ],
    [
      'unknown version',
      'POST',
      () => post('/v1/models/versioned/versions/3/segment', semanticPng),
      404,
      'MODEL_VERSION_NOT_FOUND',
    ],
    [
      'a model that failed to load',
      'POST',
      () => post('/v1/models/broken/segment', semanticPng),
      503,
      'MODEL_NOT_READY',
    ],
    [
      'a version that is neither a number nor an alias name',
      'POST',
      () => post('/v1/models/versioned/versions/a.b/segment', semanticPng),
      400,
      'INVALID_ARGUMENT',
    ],
    [
      'version 0',
      'POST',
      () => post('/v1/models/versioned/versions/0/segment', semanticPng),
      400,
      'INVALID_ARGUMENT',
    ],
    [
      'an unknown format',
      'POST',
      () => post('/v1/models/softmax/segment?format=xml', semanticPng),
      400,
      'INVALID_ARGUMENT',
    ],
    [
      'an unknown mask format',
      'POST',
      () => post('/v1/models/softmax/segment?mask_format=dense', semanticPng),
      400,
      'INVALID_ARGUMENT',
    ],
    ['an unknown route', 'GET', () => fetch(`${server.base}/v1/nothing/here?x=1`), 404, 'ROUTE_NOT_FOUND'],
    [
      'a known path with another method',
      'GET',
      () => fetch(`${server.base}/v1/models/softmax/segment`),
      404,
      'ROUTE_NOT_FOUND',
    ],
  ];
  for (const [name, , send, status, code] of cases) {
    it(`${name}: ${status} ${code}`, async () => {
      const response = await send();
      expect(response.status).toBe(status);
      expect(response.headers.get('content-type')).toMatch(/^application\/json/);
      const error = await errorOf(response);
      expect(error.code).toBe(code);
      expect(error.message.length).toBeGreaterThan(10);
      if (status === 503) expect(response.headers.get('retry-after')).toBe('1');
    });
  }

  it('ROUTE_NOT_FOUND names the method and path, without the query', async () => {
    const error = await errorOf(await fetch(`${server.base}/v1/nothing/here?secret=1`));
    expect(error.details).toEqual({ method: 'GET', path: '/v1/nothing/here' });
  });
});

describe('request ids', () => {
  it('a plain client id is kept and returned', async () => {
    const response = await fetch(`${server.base}/health`, { headers: { 'x-request-id': 'trace-42.a:b_c' } });
    expect(response.headers.get('x-request-id')).toBe('trace-42.a:b_c');
  });

  it('without one, or with one that could forge log lines, the server makes one', async () => {
    for (const headers of [
      {} as Record<string, string>,
      { 'x-request-id': 'two words\tand a tab' },
      { 'x-request-id': 'x'.repeat(200) },
    ]) {
      const response = await fetch(`${server.base}/health`, { headers });
      expect(response.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    }
  });

  it('errors carry the request id too', async () => {
    const response = await fetch(`${server.base}/nope`, { headers: { 'x-request-id': 'err-1' } });
    expect(response.status).toBe(404);
    expect(response.headers.get('x-request-id')).toBe('err-1');
  });
});
