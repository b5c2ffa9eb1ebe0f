/**
 * Hostile input over a real socket: broken and lying images, empty and oversized bodies, wrong content types,
 * polyglots, URLs that point inside the network (directly or by redirect), slow and endless downloads. Each
 * gets a clear 4xx with a stable code, and after each the server still answers health checks and segments a
 * good image exactly. Only loopback is ever contacted: refused addresses are refused before connecting.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { semanticScene, tinySoftmaxModel } from '../helpers/tiny-models.js';
import { encode, noiseBytes, noiseImage, pngDeclaring } from '../image/fixtures.js';
import { errorOf, listen, png, type RunningApp, type TinyRepository, tinyRepository } from './helpers.js';
import { type Origin, redirectTo, serveBytes, startOrigin } from './origin.js';

const LIMIT = 256 * 1024;
const SEGMENT = '/v1/models/softmax/segment';

let repo: TinyRepository;
/** No allow-list: every internal address is refused. */
let strict: RunningApp;
/** Allow-lists the local origin (127.0.0.1/32) only, with a short download deadline. */
let trusting: RunningApp;
let origin: Origin;
let scenePng: Buffer;
let goodAnswer: unknown;

interface Hostile {
  name: string;
  send: () => Promise<Response>;
  status: number;
  code: string;
}

function post(
  app: RunningApp,
  body: RequestInit['body'],
  headers: Record<string, string> = {},
  path = SEGMENT,
) {
  return fetch(`${app.base}${path}`, { method: 'POST', body, headers });
}

function postUrl(app: RunningApp, url: string, path = SEGMENT) {
  return post(app, JSON.stringify({ url }), { 'content-type': 'application/json' }, path);
}

function filePart(bytes: Buffer, field = 'file'): FormData {
  const form = new FormData();
  form.append(field, new Blob([bytes]), 'upload.bin');
  return form;
}

/** A multipart body written by hand, so it can be cut short or carry too many parts. */
function rawMultipart(parts: Buffer[], close: boolean): { body: Buffer; type: string } {
  const boundary = 'segserve-test-boundary';
  const chunks = parts.map((content, i) =>
    Buffer.concat([
      Buffer.from(
        `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="f${i}.bin"\r\n` +
          'Content-Type: application/octet-stream\r\n\r\n',
      ),
      content,
      Buffer.from('\r\n'),
    ]),
  );
  if (close) chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return { body: Buffer.concat(chunks), type: `multipart/form-data; boundary=${boundary}` };
}

async function expectStillServing(app: RunningApp): Promise<void> {
  expect((await fetch(`${app.base}/health`)).status).toBe(200);
  const response = await post(app, scenePng);
  expect(response.status).toBe(200);
  const { timings: _timings, ...answer } = (await response.json()) as { timings: unknown };
  expect(answer).toEqual(goodAnswer);
}

beforeAll(async () => {
  repo = await tinyRepository({ softmax: tinySoftmaxModel() });
  scenePng = await png(semanticScene());
  origin = await startOrigin({
    '/scene.png': serveBytes(scenePng, 'image/png'),
    '/page.html': serveBytes(Buffer.from('<html><body>not an image</body></html>'), 'image/png'),
    '/to-metadata': redirectTo('http://169.254.169.254/latest/meta-data/iam/security-credentials/'),
    '/to-private': redirectTo('http://10.0.0.1/scene.png'),
    '/to-v6-loopback': redirectTo('http://[::1]/scene.png'),
    '/to-mapped-loopback': redirectTo('http://[::ffff:127.0.0.2]/scene.png'),
    '/to-other-loopback': redirectTo('http://127.0.0.2/scene.png'),
    '/declared-big': (_request, response) => {
      response.writeHead(200, { 'content-length': String(100 * 1024 * 1024) });
      response.write(Buffer.alloc(1024));
    },
    '/streamed-big': (_request, response) => {
      response.writeHead(200, { 'content-type': 'image/png' });
      const chunk = noiseBytes(64 * 1024);
      for (let i = 0; i < 8; i++) response.write(chunk);
      response.end();
    },
    '/slow-body': (_request, response) => {
      response.writeHead(200, { 'content-type': 'image/png', 'content-length': String(scenePng.length) });
      response.write(scenePng.subarray(0, 20));
    },
    '/slow-headers': () => {},
  });
  strict = await listen({ repository: repo.repository, limits: { imageBodyBytes: LIMIT } });
  trusting = await listen({
    repository: repo.repository,
    limits: { imageBodyBytes: LIMIT },
    urlFetch: { allow: ['127.0.0.1/32'], totalTimeoutMs: 500 },
  });
  const { timings: _timings, ...answer } = (await (await post(strict, scenePng)).json()) as {
    timings: unknown;
  };
  goodAnswer = answer;
});

afterAll(async () => {
  await strict?.app.close();
  await trusting?.app.close();
  await origin?.close();
  await repo?.close();
});

/** One test per case, each followed by a good request that must still get the exact answer. */
function suite(title: string, cases: Hostile[], app: () => RunningApp = () => strict) {
  describe(title, () => {
    for (const hostile of cases) {
      it(`${hostile.name}: ${hostile.status} ${hostile.code}`, async () => {
        const response = await hostile.send();
        expect(response.status).toBe(hostile.status);
        expect(response.headers.get('content-type')).toMatch(/^application\/json/);
        const error = await errorOf(response);
        expect(error.code).toBe(hostile.code);
        expect(error.message).not.toMatch(/\n\s+at /);
        await expectStillServing(app());
      });
    }
  });
}

/** Bytes the cases send, made once. */
const fx = {} as {
  jpeg: Buffer;
  png: Buffer;
  webp: Buffer;
  corruptPng: Buffer;
  garbage: Buffer;
  cutMultipart: { body: Buffer; type: string };
  crowdedMultipart: { body: Buffer; type: string };
};

beforeAll(async () => {
  const noise = noiseImage(96, 64, 3);
  fx.jpeg = await encode(noise, 'jpeg');
  fx.png = await encode(noise, 'png');
  fx.webp = await encode(noise, 'webp');
  fx.corruptPng = Buffer.from(fx.png);
  const idat = fx.corruptPng.indexOf(Buffer.from('IDAT'));
  for (let i = idat + 8; i < idat + 40; i++) fx.corruptPng[i] ^= 0x5a;
  fx.garbage = noiseBytes(4096, 7);
  const whole = rawMultipart([scenePng], false);
  fx.cutMultipart = { body: whole.body.subarray(0, whole.body.length - 40), type: whole.type };
  fx.crowdedMultipart = rawMultipart(
    Array.from({ length: 30 }, () => Buffer.from('x')),
    true,
  );
});

const half = (bytes: Buffer) => bytes.subarray(0, bytes.length >> 1);

suite('broken, lying and empty images', [
  { name: 'truncated JPEG', send: () => post(strict, half(fx.jpeg)), status: 400, code: 'IMAGE_CORRUPT' },
  { name: 'truncated PNG', send: () => post(strict, half(fx.png)), status: 400, code: 'IMAGE_CORRUPT' },
  { name: 'truncated WebP', send: () => post(strict, half(fx.webp)), status: 400, code: 'IMAGE_CORRUPT' },
  {
    name: 'PNG with damaged pixel data',
    send: () => post(strict, fx.corruptPng),
    status: 400,
    code: 'IMAGE_CORRUPT',
  },
  {
    name: 'JPEG header followed by garbage',
    send: () => post(strict, Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), fx.garbage])),
    status: 400,
    code: 'IMAGE_CORRUPT',
  },
  {
    name: 'WebP header followed by garbage',
    send: () =>
      post(strict, Buffer.concat([Buffer.from('RIFF\x00\x10\x00\x00WEBPVP8 ', 'latin1'), fx.garbage])),
    status: 400,
    code: 'IMAGE_CORRUPT',
  },
  {
    name: 'a 100000x100000 PNG header',
    send: () => post(strict, pngDeclaring(100_000, 100_000), { 'content-type': 'image/png' }),
    status: 413,
    code: 'IMAGE_TOO_LARGE',
  },
  {
    name: 'random bytes',
    send: () => post(strict, fx.garbage),
    status: 415,
    code: 'IMAGE_UNSUPPORTED_FORMAT',
  },
  {
    name: 'HTML declared as image/png',
    send: () => post(strict, '<html><script>alert(1)</script></html>', { 'content-type': 'image/png' }),
    status: 415,
    code: 'IMAGE_UNSUPPORTED_FORMAT',
  },
  {
    name: 'HTML with a PNG appended (polyglot)',
    send: () => post(strict, Buffer.concat([Buffer.from('<html><body>hi</body></html>'), scenePng])),
    status: 415,
    code: 'IMAGE_UNSUPPORTED_FORMAT',
  },
  { name: 'zero-byte body', send: () => post(strict, new Uint8Array(0)), status: 400, code: 'IMAGE_EMPTY' },
  {
    name: 'zero-byte body declared as image/png',
    send: () => post(strict, new Uint8Array(0), { 'content-type': 'image/png' }),
    status: 400,
    code: 'IMAGE_EMPTY',
  },
  {
    name: 'zero-byte body declared as JSON',
    send: () => post(strict, '', { 'content-type': 'application/json' }),
    status: 400,
    code: 'IMAGE_EMPTY',
  },
  {
    name: 'zero-byte multipart file',
    send: () => post(strict, filePart(Buffer.alloc(0))),
    status: 400,
    code: 'IMAGE_EMPTY',
  },
  {
    name: 'zero-byte upload on /predict/upload',
    send: () => post(strict, filePart(Buffer.alloc(0)), {}, '/predict/upload'),
    status: 400,
    code: 'IMAGE_EMPTY',
  },
  {
    name: 'base64 that decodes to nothing useful',
    send: () => post(strict, JSON.stringify({ image: 'AAAA' }), { 'content-type': 'application/json' }),
    status: 415,
    code: 'IMAGE_UNSUPPORTED_FORMAT',
  },
]);

suite('wrong content types, malformed bodies and size limits', [
  {
    name: 'a PNG declared as multipart without a boundary',
    send: () => post(strict, scenePng, { 'content-type': 'multipart/form-data' }),
    status: 400,
    code: 'MULTIPART_INVALID',
  },
  {
    name: 'a PNG declared as multipart with a boundary',
    send: () => post(strict, scenePng, { 'content-type': 'multipart/form-data; boundary=abc' }),
    status: 400,
    code: 'IMAGE_MISSING',
  },
  {
    name: 'a multipart body cut short',
    send: () => post(strict, fx.cutMultipart.body, { 'content-type': fx.cutMultipart.type }),
    status: 400,
    code: 'MULTIPART_INVALID',
  },
  {
    name: 'a multipart body with too many parts',
    send: () => post(strict, fx.crowdedMultipart.body, { 'content-type': fx.crowdedMultipart.type }),
    status: 400,
    code: 'MULTIPART_INVALID',
  },
  {
    name: 'a content type that is not one',
    send: () => post(strict, scenePng, { 'content-type': '///' }),
    status: 415,
    code: 'UNSUPPORTED_MEDIA_TYPE',
  },
  {
    name: 'broken JSON',
    send: () => post(strict, '{"url": "http://', { 'content-type': 'application/json' }),
    status: 400,
    code: 'INVALID_JSON',
  },
  {
    name: 'a JSON array',
    send: () => post(strict, '[1, 2]', { 'content-type': 'application/json' }),
    status: 400,
    code: 'INVALID_ARGUMENT',
  },
  {
    name: 'JSON with both url and image',
    send: () =>
      post(strict, JSON.stringify({ url: 'http://x/', image: 'AAAA' }), {
        'content-type': 'application/json',
      }),
    status: 400,
    code: 'INVALID_ARGUMENT',
  },
  {
    name: 'base64 with foreign characters',
    send: () => post(strict, JSON.stringify({ image: '<script>' }), { 'content-type': 'application/json' }),
    status: 400,
    code: 'INVALID_ARGUMENT',
  },
  {
    name: 'JSON whose image is a number',
    send: () => post(strict, '{"image": 12}', { 'content-type': 'application/json' }),
    status: 400,
    code: 'INVALID_ARGUMENT',
  },
  {
    name: 'JSON whose url is an object',
    send: () => post(strict, '{"url": {"href": "http://x/"}}', { 'content-type': 'application/json' }),
    status: 400,
    code: 'INVALID_ARGUMENT',
  },
  {
    name: 'a raw body over the limit',
    send: () => post(strict, noiseBytes(LIMIT + 1024)),
    status: 413,
    code: 'BODY_TOO_LARGE',
  },
  {
    name: 'a multipart file over the limit',
    send: () => post(strict, filePart(noiseBytes(LIMIT + 1024))),
    status: 413,
    code: 'INPUT_TOO_LARGE',
  },
]);

suite('URLs that lead inside the network', [
  ...[
    'http://127.0.0.1:{port}/scene.png',
    'http://169.254.169.254/latest/meta-data/',
    'http://10.0.0.1/scene.png',
    'http://[::1]:{port}/scene.png',
    'http://[::ffff:127.0.0.1]:{port}/scene.png',
    'http://localhost:{port}/scene.png',
  ].map((url) => ({
    name: url,
    send: () => postUrl(strict, url.replace('{port}', String(origin.port))),
    status: 403,
    code: 'URL_FORBIDDEN',
  })),
  {
    name: 'a private URL on /predict/url',
    send: () => postUrl(strict, 'http://192.168.0.1/', '/predict/url'),
    status: 403,
    code: 'URL_FORBIDDEN',
  },
  {
    name: 'file:///etc/passwd',
    send: () => postUrl(strict, 'file:///etc/passwd'),
    status: 400,
    code: 'URL_INVALID',
  },
]);

describe('URLs, continued', () => {
  it('the direct attempts above never reached the local origin', () => {
    expect(origin.hits).toEqual([]);
  });
});

suite(
  'redirects from an allow-listed origin into the network',
  ['/to-metadata', '/to-private', '/to-v6-loopback', '/to-mapped-loopback', '/to-other-loopback'].map(
    (path) => ({
      name: `redirect ${path}`,
      send: () => postUrl(trusting, `${origin.base}${path}`),
      status: 403,
      code: 'URL_FORBIDDEN',
    }),
  ),
  () => trusting,
);

suite(
  'slow, oversized and wrong downloads',
  [
    {
      name: 'a body that stalls',
      send: () => postUrl(trusting, `${origin.base}/slow-body`),
      status: 400,
      code: 'URL_TIMEOUT',
    },
    {
      name: 'a server that never answers',
      send: () => postUrl(trusting, `${origin.base}/slow-headers`),
      status: 400,
      code: 'URL_TIMEOUT',
    },
    {
      name: 'a declared length over the limit',
      send: () => postUrl(trusting, `${origin.base}/declared-big`),
      status: 413,
      code: 'INPUT_TOO_LARGE',
    },
    {
      name: 'a streamed body over the limit',
      send: () => postUrl(trusting, `${origin.base}/streamed-big`),
      status: 413,
      code: 'INPUT_TOO_LARGE',
    },
    {
      name: 'a page that is not an image',
      send: () => postUrl(trusting, `${origin.base}/page.html`),
      status: 415,
      code: 'IMAGE_UNSUPPORTED_FORMAT',
    },
    {
      name: 'a missing page',
      send: () => postUrl(trusting, `${origin.base}/nope`),
      status: 400,
      code: 'URL_FETCH_FAILED',
    },
  ],
  () => trusting,
);

describe('JSON image fields of the wrong type', () => {
  // Fastify's validator coerces types: 12 once became the base64 text "12" and then a 415 for its one byte.
  for (const [body, field, kind] of [
    ['{"image": 12}', 'image', 'a number'],
    ['{"image": true}', 'image', 'a boolean'],
    ['{"image": null}', 'image', 'null'],
    ['{"url": ["http://x/"]}', 'url', 'an array'],
  ] as const) {
    it(`${body}: 400 INVALID_ARGUMENT naming "${field}"`, async () => {
      const response = await post(strict, body, { 'content-type': 'application/json' });
      expect(response.status).toBe(400);
      const error = await errorOf(response);
      expect(error.code).toBe('INVALID_ARGUMENT');
      expect(error.message).toContain(`"${field}" must be a string`);
      expect(error.message).toContain(`not ${kind}`);
      expect(error.details.field).toBe(field);
    });
  }
});

describe('polyglots that are valid images', () => {
  // Bytes after a PNG's IEND (or a JPEG's EOI: phones append motion-photo video there) are never read: the
  // answer is the image's, identical to that of the clean file, and nothing of the appendix is echoed back.
  for (const [name, appendix] of [
    ['a ZIP', Buffer.concat([Buffer.from('PK\x03\x04', 'latin1'), noiseBytes(512, 11)])],
    ['HTML', Buffer.from('<html><script>alert(document.cookie)</script></html>')],
  ] as const) {
    it(`a PNG with ${name} appended is segmented as the PNG it is`, async () => {
      const response = await post(strict, Buffer.concat([scenePng, appendix]), {
        'content-type': 'text/html',
      });
      expect(response.status).toBe(200);
      const { timings: _timings, ...answer } = (await response.json()) as { timings: unknown };
      expect(answer).toEqual(goodAnswer);
    });
  }
});

const versionPath = (version: string) => `/v1/models/softmax/versions/${version}/segment`;

suite('names and versions in the path', [
  ...['0x2', '%202', '02', '1e3', '1.0', '-1', '99999999999'].map((version) => ({
    name: `version "${decodeURIComponent(version)}" is not read as a number`,
    send: () => post(strict, scenePng, {}, versionPath(version)),
    status: 400,
    code: 'INVALID_ARGUMENT',
  })),
  {
    name: 'version "02" in the query of a compatible route',
    send: () => post(strict, scenePng, {}, `/predict?model=softmax&version=02`),
    status: 400,
    code: 'INVALID_ARGUMENT',
  },
  {
    name: 'a 5000-character model name, in our error format',
    send: () => post(strict, scenePng, {}, `/v1/models/${'m'.repeat(5000)}/segment`),
    status: 414,
    code: 'PATH_TOO_LONG',
  },
  {
    name: 'broken percent-encoding in the path',
    send: () => post(strict, scenePng, {}, '/v1/models/%zz/segment'),
    status: 400,
    code: 'INVALID_ARGUMENT',
  },
]);

describe('names in the /v2 path', () => {
  it('a 5000-character model name answers 414 in the protocol format', async () => {
    const response = await fetch(`${strict.base}/v2/models/${'m'.repeat(5000)}/ready`);
    expect(response.status).toBe(414);
    expect(await response.json()).toEqual({
      error: 'A segment of the path (a model name or version) is longer than 200 characters.',
    });
  });
});
