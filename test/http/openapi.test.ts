/**
 * /openapi.json is generated from the route schemas: every documented operation exists, every route of the
 * segmentation API, the annotation queue and the compatible routes is documented with its answers and the one
 * error shape, and the docs page is served from the package without any other host.
 */
import type { FastifyInstance, HTTPMethods } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ERROR_CATALOGUE } from '../../src/errors.js';
import { LazyStorage } from '../../src/host/storage.js';
import { testStorage } from '../helpers/storage.js';
import { semanticScene, tinySoftmaxModel } from '../helpers/tiny-models.js';
import { listen, png, type RunningApp, type TinyRepository, tinyRepository } from './helpers.js';

interface Operation {
  tags?: string[];
  parameters?: Array<{ name: string; in: string; schema: Record<string, unknown>; description?: string }>;
  summary?: string;
  requestBody?: { content: Record<string, unknown> };
  responses: Record<string, { $ref?: string; content?: Record<string, { schema: Record<string, unknown> }> }>;
}

interface OpenApi {
  openapi: string;
  info: { title: string; version: string };
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, { properties?: Record<string, unknown>; required?: string[] }> };
}

const OURS: Array<[string, string]> = [
  ['get', '/health'],
  ['get', '/v1/models'],
  ['get', '/v1/models/{model}'],
  ['post', '/v1/models/{model}/segment'],
  ['post', '/v1/models/{model}/versions/{version}/segment'],
  ['post', '/predict'],
  ['post', '/predict/upload'],
  ['post', '/predict/url'],
  ['post', '/predict/batch'],
  ['post', '/api/detect'],
  ['get', '/v1/annotations'],
  ['get', '/v1/annotations/summary'],
  ['post', '/v1/annotations/claim-next'],
  ['get', '/v1/annotations/{id}'],
  ['get', '/v1/annotations/{id}/image'],
  ['get', '/v1/annotations/{id}/prediction'],
  ['get', '/v1/annotations/{id}/label'],
  ['post', '/v1/annotations/{id}/label'],
  ['post', '/v1/annotations/{id}/claim'],
  ['post', '/v1/annotations/{id}/release'],
  ['post', '/v1/annotations/{id}/skip'],
  ['post', '/v1/annotations/{id}/reject'],
  ['get', '/v1/datasets'],
  ['get', '/v1/datasets/{name}'],
  ['get', '/v1/datasets/{name}/versions'],
  ['post', '/v1/datasets/{name}/versions'],
  ['get', '/v1/datasets/{name}/versions/{version}'],
  ['get', '/v1/datasets/{name}/diff'],
  ['get', '/v1/datasets/{name}/versions/{version}/export/{format}'],
  ['post', '/v1/datasets/{name}/versions/{version}/exports'],
  ['post', '/v1/admin/models/{model}/load'],
  ['post', '/v1/admin/models/{model}/unload'],
  ['post', '/v1/admin/models/{model}/reload'],
  ['post', '/v1/admin/models/{model}/versions/{version}/load'],
  ['post', '/v1/admin/models/{model}/versions/{version}/unload'],
  ['post', '/v1/admin/repository/rescan'],
  ['post', '/v1/admin/models/{model}/versions/{version}/eval'],
  ['get', '/v1/models/{model}/training-runs'],
  ['get', '/v1/training-runs/{id}'],
  ['post', '/v1/admin/training-runs'],
  ['post', '/v1/admin/training-runs/{id}/epochs'],
  ['post', '/v1/admin/training-runs/{id}/finish'],
];

let repo: TinyRepository;
let server: RunningApp;
let doc: OpenApi;
let stores: LazyStorage;

function hasRoute(app: FastifyInstance, method: string, path: string): boolean {
  return app.hasRoute({
    method: method.toUpperCase() as HTTPMethods,
    url: path.replace(/\{(\w+)\}/g, ':$1'),
  });
}

beforeAll(async () => {
  repo = await tinyRepository({ softmax: tinySoftmaxModel() });
  // With stores, as `segserve serve` runs, so the annotation and dataset routes are served; nothing opens them.
  stores = new LazyStorage(testStorage(repo.dir));
  server = await listen({ repository: repo.repository, stores });
  const response = await fetch(`${server.base}/openapi.json`);
  expect(response.status).toBe(200);
  doc = (await response.json()) as OpenApi;
});

afterAll(async () => {
  await server?.app.close();
  await stores?.close();
  await repo?.close();
});

describe('/openapi.json', () => {
  it('is OpenAPI 3 for segserve at the package version', () => {
    expect(doc.openapi).toMatch(/^3\./);
    expect(doc.info.title).toBe('segserve');
    expect(doc.info.version).toMatch(/^\d+\.\d+\.\d+/);
  });

  it('documents exactly the routes of the segmentation API and the compatible routes', () => {
    const documented = Object.entries(doc.paths)
      .filter(([path]) => !path.startsWith('/v2'))
      .flatMap(([path, methods]) => Object.keys(methods).map((method) => [method, path]));
    expect(documented.sort()).toEqual([...OURS].sort());
  });

  it('every documented operation, /v2 included, is a route the server has', () => {
    const operations = Object.entries(doc.paths).flatMap(([path, methods]) =>
      Object.keys(methods).map((method) => [method, path] as const),
    );
    expect(operations.some(([, path]) => path.startsWith('/v2'))).toBe(true);
    for (const [method, path] of operations)
      expect(hasRoute(server.app, method, path), `${method} ${path}`).toBe(true);
  });

  it('hides the documentation routes themselves', () => {
    expect(Object.keys(doc.paths).filter((p) => p.startsWith('/docs') || p === '/openapi.json')).toEqual([]);
  });

  it('every operation has a summary, a tag, a 200 answer and the error shape for 4XX and 5XX', () => {
    for (const [method, path] of OURS) {
      const operation = doc.paths[path][method];
      expect(operation.summary, path).toBeTruthy();
      expect(operation.tags?.length, path).toBe(1);
      expect(operation.responses['200'], path).toBeDefined();
      for (const status of ['4XX', '5XX']) {
        expect(
          operation.responses[status]?.content?.['application/json'].schema,
          `${path} ${status}`,
        ).toEqual({
          $ref: '#/components/schemas/Error',
        });
      }
    }
  });

  it('the segment routes take multipart, JSON and raw bodies and answer JSON or PNG', () => {
    for (const path of ['/v1/models/{model}/segment', '/v1/models/{model}/versions/{version}/segment']) {
      const operation = doc.paths[path].post;
      expect(Object.keys(operation.requestBody?.content ?? {}).sort()).toEqual([
        'application/json',
        'application/octet-stream',
        'multipart/form-data',
      ]);
      const answer = operation.responses['200'].content ?? {};
      expect(answer['application/json'].schema).toEqual({ $ref: '#/components/schemas/Segmentation' });
      expect(answer['image/png'].schema).toEqual({ type: 'string', format: 'binary' });
    }
    expect(Object.keys(doc.paths['/predict/upload'].post.responses['200'].content ?? {})).toEqual([
      'image/png',
    ]);
  });

  it('documents the annotation queue: label formats, the X-Annotator header, image bytes', () => {
    const submit = doc.paths['/v1/annotations/{id}/label'].post;
    const body = submit.requestBody?.content['application/json'] as {
      schema: { properties: Record<string, { enum?: string[] }> };
    };
    expect(body.schema.properties.format.enum).toEqual(['accept', 'png', 'rle', 'polygons']);
    for (const [method, path] of OURS.filter(([m, p]) => m === 'post' && p.startsWith('/v1/annotations'))) {
      const header = doc.paths[path][method].parameters?.find((p) => p.in === 'header');
      expect(header?.name, path).toBe('x-annotator');
    }
    const image = doc.paths['/v1/annotations/{id}/image'].get.responses['200'].content ?? {};
    expect(Object.keys(image)).toEqual(['image/*']);
  });

  it('names its shared schemas and lists every stable error code', () => {
    expect(Object.keys(doc.components.schemas).sort()).toEqual(
      ['Error', 'Model', 'Polygons', 'Rle', 'Segmentation', 'Timings'].sort(),
    );
    const error = doc.components.schemas.Error.properties?.error as {
      properties: { code: { enum: string[] } };
    };
    expect(error.properties.code.enum.sort()).toEqual(Object.keys(ERROR_CATALOGUE).sort());
  });

  it('a real answer has every required field of the Segmentation schema and no undocumented one', async () => {
    const response = await fetch(`${server.base}/v1/models/softmax/segment`, {
      method: 'POST',
      body: new Uint8Array(await png(semanticScene())),
    });
    const body = (await response.json()) as Record<string, unknown>;
    const schema = doc.components.schemas.Segmentation;
    for (const field of schema.required ?? []) expect(body).toHaveProperty(field);
    for (const field of Object.keys(body)) expect(Object.keys(schema.properties ?? {})).toContain(field);
  });
});

describe('mask options and box formats in the document', () => {
  const segmentPaths = [
    '/v1/models/{model}/segment',
    '/v1/models/{model}/versions/{version}/segment',
    '/predict',
  ];

  it('documents polygon_tolerance (pixels, 0 to the maximum, default 0) wherever mask_format is taken', () => {
    for (const path of segmentPaths) {
      const parameters = doc.paths[path].post.parameters ?? [];
      expect(
        parameters.map((p) => p.name),
        path,
      ).toContain('mask_format');
      const tolerance = parameters.find((p) => p.name === 'polygon_tolerance');
      expect(tolerance, path).toBeDefined();
      expect(tolerance?.in).toBe('query');
      expect(tolerance?.schema).toMatchObject({ type: 'number', minimum: 0, maximum: 100, default: 0 });
      expect(String(tolerance?.schema.description ?? tolerance?.description)).toMatch(/Douglas-Peucker/);
    }
  });

  it('refuses a polygon_tolerance out of range with 400 INVALID_ARGUMENT', async () => {
    const scene = new Uint8Array(await png(semanticScene()));
    for (const value of ['-1', '101', 'abc']) {
      const response = await fetch(
        `${server.base}/v1/models/softmax/segment?mask_format=polygon&polygon_tolerance=${value}`,
        { method: 'POST', body: scene },
      );
      expect(response.status, value).toBe(400);
      expect(((await response.json()) as { error: { code: string } }).error.code).toBe('INVALID_ARGUMENT');
    }
  });

  it('says the format of every box: [x, y, width, height] in pixels of the oriented input image', () => {
    const segmentation = doc.components.schemas.Segmentation.properties as {
      instances: { items: { properties: { box: { description: string } } } };
    };
    expect(segmentation.instances.items.properties.box.description).toMatch(
      /^Bounding box \[x, y, width, height\] in pixels of the input image as oriented by its EXIF orientation/,
    );
  });
});

describe('/docs', () => {
  it('serves the docs page and its scripts from the package, naming no other host', async () => {
    const page = await fetch(`${server.base}/docs`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    const html = await page.text();
    const scripts = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]);
    expect(scripts.length).toBeGreaterThan(0);
    for (const reference of scripts) {
      expect(reference).not.toMatch(/^(https?:)?\/\//);
      const asset = await fetch(new URL(reference, `${server.base}/docs/`));
      expect(asset.status, reference).toBe(200);
      expect((await asset.arrayBuffer()).byteLength, reference).toBeGreaterThan(0);
    }
    const initializer = await (await fetch(`${server.base}/docs/static/swagger-initializer.js`)).text();
    expect(initializer).toContain('"validatorUrl":null');
    expect(initializer).toContain("resolveUrl('./json')");
  });
});
