/**
 * The dataset API of the HTTP app over the embedded database and a blob folder: list, show, snapshot (201 new,
 * 200 unchanged, 409 empty), version details, diff, export answered as a document or written under a prefix,
 * and the OpenAPI document listing the routes. Without stores the routes do not exist.
 */
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureDataset } from '../../src/learning/dataset-items.js';
import { brushRleToMask, decodeRle } from '../../src/masks/index.js';
import {
  addItem,
  classMapLabel,
  openTestStores,
  type TestStores,
  tinyImage,
} from '../helpers/dataset-stores.js';
import { buildTestApp, type TinyRepository, tinyRepository } from '../http/helpers.js';

const PERSON = ['background', 'person'];
let stores: TestStores;
let repo: TinyRepository;
let app: FastifyInstance;

beforeAll(async () => {
  stores = await openTestStores();
  repo = await tinyRepository({});
  app = await buildTestApp({
    repository: repo.repository,
    stores: { database: async () => stores.db, blobs: async () => stores.blobs },
  });
  for (let seed = 0; seed < 8; seed++) {
    const map = Array.from({ length: 12 }, (_, i) => (i <= seed ? 1 : 0));
    await addItem(stores, 'people', tinyImage(seed), classMapLabel('binary', PERSON, 4, 3, map));
  }
  await ensureDataset(stores.db, { name: 'empty', task: 'binary', labels: PERSON });
});

afterAll(async () => {
  await app?.close();
  await repo?.close();
  await stores?.close();
});

describe('the dataset API', () => {
  let versionId: string;

  it('lists datasets and shows one', async () => {
    const list = await app.inject({ method: 'GET', url: '/v1/datasets' });
    expect(list.statusCode).toBe(200);
    expect(list.json().datasets.map((d: { name: string; items: number }) => [d.name, d.items])).toEqual([
      ['empty', 0],
      ['people', 8],
    ]);
    const one = await app.inject({ method: 'GET', url: '/v1/datasets/people' });
    expect(one.json()).toMatchObject({
      name: 'people',
      task: 'binary',
      labels: PERSON,
      versions: 0,
      latest: null,
    });
    const missing = await app.inject({ method: 'GET', url: '/v1/datasets/nobody' });
    expect(missing.statusCode).toBe(404);
    expect(missing.json().error.code).toBe('DATASET_NOT_FOUND');
  });

  it('snapshots: 201 for a new version, 200 when nothing changed, 409 DATASET_EMPTY for an empty dataset', async () => {
    const first = await app.inject({
      method: 'POST',
      url: '/v1/datasets/people/versions',
      payload: { note: 'v1' },
    });
    expect(first.statusCode).toBe(201);
    const body = first.json();
    expect(body).toMatchObject({
      created: true,
      version: { dataset: 'people', items: 8, note: 'v1', parent: null },
    });
    versionId = body.version.id;
    expect(versionId).toMatch(/^[0-9a-f]{64}$/);
    const again = await app.inject({ method: 'POST', url: '/v1/datasets/people/versions' });
    expect(again.statusCode).toBe(200);
    expect(again.json()).toMatchObject({ created: false, version: { id: versionId } });
    const empty = await app.inject({ method: 'POST', url: '/v1/datasets/empty/versions' });
    expect(empty.statusCode).toBe(409);
    expect(empty.json().error.code).toBe('DATASET_EMPTY');
    const versions = await app.inject({ method: 'GET', url: '/v1/datasets/people/versions' });
    expect(versions.json().versions.map((v: { id: string }) => v.id)).toEqual([versionId]);
  });

  it('shows a version with its counts per class and split, by id, prefix or latest', async () => {
    for (const ref of [versionId, versionId.slice(0, 6), 'latest']) {
      const response = await app.inject({ method: 'GET', url: `/v1/datasets/people/versions/${ref}` });
      expect(response.statusCode).toBe(200);
      const detail = response.json();
      expect(detail).toMatchObject({ id: versionId, task: 'binary', items: 8, unlabelled_images: 0 });
      // Image k shows k + 1 person pixels: 36 in all.
      expect(detail.classes[1]).toMatchObject({ label: 'person', images: 8, segments: 8, pixels: 36 });
    }
    const unknown = await app.inject({ method: 'GET', url: '/v1/datasets/people/versions/abcdef' });
    expect(unknown.statusCode).toBe(404);
    expect(unknown.json().error.code).toBe('DATASET_VERSION_NOT_FOUND');
  });

  it('diffs versions', async () => {
    await addItem(
      stores,
      'people',
      tinyImage(50),
      classMapLabel('binary', PERSON, 4, 3, new Array(12).fill(1)),
    );
    const next = (await app.inject({ method: 'POST', url: '/v1/datasets/people/versions' })).json().version;
    const response = await app.inject({
      method: 'GET',
      url: `/v1/datasets/people/diff?from=${versionId}&to=latest`,
    });
    expect(response.statusCode).toBe(200);
    const diff = response.json();
    expect(diff.from.id).toBe(versionId);
    expect(diff.to.id).toBe(next.id);
    expect(diff.added).toHaveLength(1);
    expect(diff).toMatchObject({ removed: [], changed: [], unchanged: 8 });
    // Without `from`: from the parent.
    const byParent = (await app.inject({ method: 'GET', url: '/v1/datasets/people/diff' })).json();
    expect(byParent.from.id).toBe(versionId);
  });

  it('answers COCO, Label Studio and CVAT documents; a mask folder only under a prefix', async () => {
    const coco = await app.inject({
      method: 'GET',
      url: `/v1/datasets/people/versions/${versionId}/export/coco`,
    });
    expect(coco.statusCode).toBe(200);
    expect(coco.headers['content-type']).toMatch(/^application\/json/);
    const document = coco.json();
    expect(document.images).toHaveLength(8);
    expect(document.annotations).toHaveLength(8);
    expect(
      decodeRle(document.annotations[0].segmentation).data.reduce((a: number, b: number) => a + b, 0),
    ).toBe(document.annotations[0].area);
    const train = await app.inject({
      method: 'GET',
      url: `/v1/datasets/people/versions/latest/export/coco?split=train`,
    });
    expect(train.json().images.length).toBeLessThanOrEqual(9);

    const ls = await app.inject({
      method: 'GET',
      url: `/v1/datasets/people/versions/${versionId}/export/label-studio?image_root=s3://bucket/img/`,
    });
    const tasks = ls.json();
    expect(tasks).toHaveLength(8);
    expect(tasks[0].data.image).toMatch(/^s3:\/\/bucket\/img\/[0-9a-f]{64}\.png$/);
    const result = tasks[0].annotations[0].result[0];
    expect(brushRleToMask(result.value.rle, 4, 3).data.length).toBe(12);

    const cvat = await app.inject({
      method: 'GET',
      url: `/v1/datasets/people/versions/${versionId}/export/cvat`,
    });
    expect(cvat.headers['content-type']).toMatch(/^application\/xml/);
    expect(cvat.body).toContain('<mask label="person"');

    const masks = await app.inject({
      method: 'GET',
      url: `/v1/datasets/people/versions/${versionId}/export/masks`,
    });
    expect(masks.statusCode).toBe(400);
  });

  it('writes an export under a prefix: 201, then 200 with nothing written', async () => {
    const request = { method: 'POST' as const, url: '/v1/datasets/people/versions/latest/exports' };
    const first = await app.inject({ ...request, payload: { format: 'masks', prefix: 'exports/people' } });
    expect(first.statusCode).toBe(201);
    expect(first.json()).toMatchObject({ written: true, record: { format: 'masks', images: 9 } });
    expect(await stores.blobs.exists('exports/people/manifest.csv')).toBe(true);
    const again = await app.inject({ ...request, payload: { format: 'masks', prefix: 'exports/people/' } });
    expect(again.statusCode).toBe(200);
    expect(again.json().written).toBe(false);
    const bad = await app.inject({ ...request, payload: { format: 'yolo', prefix: 'x' } });
    expect(bad.statusCode).toBe(400);
    const reserved = await app.inject({ ...request, payload: { format: 'coco', prefix: 'sha256/x' } });
    expect(reserved.json().error.code).toBe('INVALID_ARGUMENT');
  });

  it('documents the routes in OpenAPI', async () => {
    const spec = (await app.inject({ method: 'GET', url: '/openapi.json' })).json();
    expect(Object.keys(spec.paths).filter((p: string) => p.startsWith('/v1/datasets'))).toEqual([
      '/v1/datasets',
      '/v1/datasets/{name}',
      '/v1/datasets/{name}/versions',
      '/v1/datasets/{name}/versions/{version}',
      '/v1/datasets/{name}/diff',
      '/v1/datasets/{name}/versions/{version}/export/{format}',
      '/v1/datasets/{name}/versions/{version}/exports',
    ]);
  });
});

describe('an app without stores', () => {
  it('has no dataset routes', async () => {
    const bare = await buildTestApp({ repository: repo.repository });
    try {
      const response = await bare.inject({ method: 'GET', url: '/v1/datasets' });
      expect(response.statusCode).toBe(404);
      expect(response.json().error.code).toBe('ROUTE_NOT_FOUND');
    } finally {
      await bare.close();
    }
  });
});
