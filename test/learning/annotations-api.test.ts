/**
 * The annotation queue's API (/v1/annotations) over the embedded database (PGlite in a temporary folder) and a
 * filesystem blob store, with samples written straight through the storage ports (test/helpers/samples.ts) and a
 * clock the test moves. Every refusal is checked for its status, its stable code, and that nothing was stored:
 * no label row, no dataset item, no new blob, the item still queued.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type {
  AnnotationItemJson,
  AnnotationListJson,
  AnnotationSummaryJson,
  ClaimNextJson,
} from '../../src/learning/annotations/index.js';
import {
  classMapOf,
  decodeLabelDocument,
  type LabelDocument,
  makeDocument,
} from '../../src/learning/label-document.js';
import {
  decodeRle,
  encodeBinaryMaskPng,
  encodeClassMapPng,
  encodeGreyPng,
  toCompressedRle,
} from '../../src/masks/index.js';
import type { BlobStore, Database, StorageAccess } from '../../src/storage/index.js';
import { openBlobStore, openDatabase } from '../../src/storage/index.js';
import {
  boxPrediction,
  insertSample,
  instancePrediction,
  openedStores,
  testImage,
} from '../helpers/samples.js';
import { tinySoftmaxModel } from '../helpers/tiny-models.js';
import { listen, type RunningApp, type TinyRepository, tinyRepository } from '../http/helpers.js';

const W = 16;
const H = 12;
const BINARY = ['background', 'person'];
const SEMANTIC = ['background', 'sky', 'road', 'tree'];
const INSTANCE = ['person', 'car', 'dog'];
const START = Date.parse('2025-03-01T09:00:00Z');
const MINUTE = 60_000;
const CLAIM_MS = 10 * MINUTE;
/** The label route takes bodies up to the image body limit; small here, so the test of it sends little. */
const LABEL_LIMIT = 256 * 1024;

let dir: string;
let db: Database;
let blobs: BlobStore;
let stores: StorageAccess;
let repo: TinyRepository;
let server: RunningApp;
let clock = START;
let seed = 0;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'segserve-annotations-'));
  db = await openDatabase({ kind: 'embedded', dir: join(dir, 'db') });
  blobs = await openBlobStore({ kind: 'filesystem', root: join(dir, 'blobs') });
  stores = openedStores(db, blobs);
  repo = await tinyRepository({ softmax: tinySoftmaxModel() });
  server = await listen({
    repository: repo.repository,
    stores,
    now: () => clock,
    limits: { annotationClaimMs: CLAIM_MS, imageBodyBytes: LABEL_LIMIT },
  });
});

afterAll(async () => {
  await server?.app.close();
  await repo?.close();
  await db?.close();
  await blobs?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

interface Answer<T> {
  status: number;
  body: T;
}

async function call<T>(method: string, path: string, body?: unknown, headers: Record<string, string> = {}) {
  const response = await fetch(`${server.base}${path}`, {
    method,
    headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as T } satisfies Answer<T>;
}

const get = <T>(path: string) => call<T>('GET', path);
const post = <T>(path: string, body?: unknown, headers?: Record<string, string>) =>
  call<T>('POST', path, body, headers);

async function expectRefusal(answer: Promise<Answer<unknown>>, status: number, code: string) {
  const { status: got, body } = await answer;
  const error = (body as { error?: { code: string; message: string } }).error;
  expect({ status: got, code: error?.code }, error?.message).toEqual({ status, code });
  return error?.message ?? '';
}

/** A new image and a sample of it; the seed makes every image (and so every sample id) distinct. */
async function sample(
  model: string,
  prediction: LabelDocument,
  uncertainty: number,
  extra: { strategy?: string; predictedAt?: Date } = {},
): Promise<string> {
  seed += 1;
  const image = await testImage(prediction.width, prediction.height, seed);
  return insertSample(stores, { model, image, prediction, uncertainty, ...extra });
}

const personBox = () => boxPrediction('binary', W, H, BINARY, [{ classId: 1, x: 2, y: 3, w: 5, h: 4 }]);
const sceneBoxes = () =>
  boxPrediction('semantic', W, H, SEMANTIC, [
    { classId: 1, x: 0, y: 0, w: W, h: 4 },
    { classId: 2, x: 0, y: 8, w: W, h: 4 },
  ]);

/** What the stores hold: compared before and after a refusal, which must leave every part of it unchanged. */
async function storedState(id?: string) {
  const count = async (table: string) =>
    (await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${table}`)).rows[0].n;
  const keys: string[] = [];
  for await (const blob of blobs.list('')) keys.push(blob.key);
  const row = id
    ? (
        await db.query<{ state: string; claimed_by: string | null; skip_count: number }>(
          'SELECT state, claimed_by, skip_count FROM samples WHERE id = $1',
          [id],
        )
      ).rows[0]
    : undefined;
  return {
    labels: await count('labels'),
    datasets: await count('datasets'),
    items: await count('dataset_items'),
    blobs: keys.sort(),
    row,
  };
}

const as = (annotator: string) => ({ annotator });

describe('listing the queue', () => {
  const model = 'listing';
  const ids: Record<string, string> = {};

  beforeAll(async () => {
    const day = (d: number) => new Date(Date.UTC(2025, 1, d));
    ids.a = await sample(model, sceneBoxes(), 0.41, { strategy: 'entropy', predictedAt: day(1) });
    ids.b = await sample(model, sceneBoxes(), 0.93, { strategy: 'random', predictedAt: day(2) });
    ids.c = await sample(
      model,
      boxPrediction('semantic', W, H, SEMANTIC, [{ classId: 3, x: 1, y: 1, w: 3, h: 3 }]),
      0.77,
      { strategy: 'entropy', predictedAt: day(3) },
    );
    ids.d = await sample(model, sceneBoxes(), 0.12, { strategy: 'entropy', predictedAt: day(4) });
  });

  it("lists a model's queued items most uncertain first, with their metadata", async () => {
    const { status, body } = await get<AnnotationListJson>(`/v1/annotations?model=${model}`);
    expect(status).toBe(200);
    expect(body.items.map((item) => item.id)).toEqual([ids.b, ids.c, ids.a, ids.d]);
    expect(body.next_cursor).toBeNull();
    const first = body.items[0];
    expect(first).toMatchObject({
      model,
      version: 1,
      task: 'semantic',
      strategy: 'random',
      uncertainty: 0.93,
      priority: 0.93,
      image: { width: W, height: H, format: 'png' },
      classes: ['sky', 'road'],
      state: 'queued',
      skip_count: 0,
      claim: null,
      label: null,
      predicted_at: '2025-02-02T00:00:00.000Z',
    });
  });

  it('filters by strategy, class and time range', async () => {
    const ids_ = async (query: string) =>
      (await get<AnnotationListJson>(`/v1/annotations?model=${model}&${query}`)).body.items.map((i) => i.id);
    expect(await ids_('strategy=entropy')).toEqual([ids.c, ids.a, ids.d]);
    expect(await ids_('class=tree')).toEqual([ids.c]);
    expect(await ids_('class=sky&strategy=entropy')).toEqual([ids.a, ids.d]);
    expect(await ids_('since=2025-02-02T00:00:00Z&until=2025-02-04T00:00:00Z')).toEqual([ids.b, ids.c]);
    expect(await ids_('state=labelled')).toEqual([]);
    await expectRefusal(get(`/v1/annotations?model=${model}&since=yesterday`), 400, 'INVALID_ARGUMENT');
    await expectRefusal(get(`/v1/annotations?model=${model}&state=done`), 400, 'INVALID_ARGUMENT');
    await expectRefusal(get('/v1/annotations'), 400, 'INVALID_ARGUMENT');
  });

  it('pages with a cursor that items inserted meanwhile do not disturb', async () => {
    const page1 = (await get<AnnotationListJson>(`/v1/annotations?model=${model}&limit=2`)).body;
    expect(page1.items.map((i) => i.id)).toEqual([ids.b, ids.c]);
    expect(page1.next_cursor).toEqual(expect.any(String));
    // Inserted between the pages: one above the cursor (never listed now), one below it (listed in order).
    const above = await sample(model, sceneBoxes(), 0.99);
    const below = await sample(model, sceneBoxes(), 0.3);
    const page2 = (
      await get<AnnotationListJson>(`/v1/annotations?model=${model}&limit=2&cursor=${page1.next_cursor}`)
    ).body;
    expect(page2.items.map((i) => i.id)).toEqual([ids.a, below]);
    const page3 = (
      await get<AnnotationListJson>(`/v1/annotations?model=${model}&limit=2&cursor=${page2.next_cursor}`)
    ).body;
    expect(page3.items.map((i) => i.id)).toEqual([ids.d]);
    expect(page3.next_cursor).toBeNull();
    expect((await get<AnnotationListJson>(`/v1/annotations?model=${model}&limit=1`)).body.items[0].id).toBe(
      above,
    );
    await expectRefusal(get(`/v1/annotations?model=${model}&cursor=not-a-cursor`), 400, 'INVALID_ARGUMENT');
  });

  it('answers an item, its image bytes and its prediction; unknown ids are 404, malformed ones 400', async () => {
    const item = await get<AnnotationItemJson>(`/v1/annotations/${ids.c}`);
    expect(item.status).toBe(200);
    expect(item.body.id).toBe(ids.c);
    const image = await fetch(`${server.base}/v1/annotations/${ids.c}/image`);
    expect(image.headers.get('content-type')).toBe('image/png');
    const bytes = new Uint8Array(await image.arrayBuffer());
    expect(bytes).toEqual(new Uint8Array(await blobs.get((await rowOf(ids.c)).image_key)));
    const prediction = await get<LabelDocument>(`/v1/annotations/${ids.c}/prediction`);
    expect(prediction.body.segments.map((s) => s.class_id)).toEqual([3]);
    expect(prediction.body).toMatchObject({ task: 'semantic', width: W, height: H, labels: SEMANTIC });
    await expectRefusal(get(`/v1/annotations/${'0'.repeat(64)}`), 404, 'SAMPLE_NOT_FOUND');
    await expectRefusal(get(`/v1/annotations/${'0'.repeat(64)}/image`), 404, 'SAMPLE_NOT_FOUND');
    await expectRefusal(get('/v1/annotations/not-an-id'), 400, 'INVALID_ARGUMENT');
    await expectRefusal(get(`/v1/annotations/${ids.c}/label`), 404, 'LABEL_NOT_FOUND');
  });
});

async function rowOf(id: string) {
  const { rows } = await db.query<{ image_key: string }>('SELECT image_key FROM samples WHERE id = $1', [id]);
  return rows[0];
}

describe('claims', () => {
  const model = 'claims';

  it('holds an item for one annotator: another gets 409 SAMPLE_CLAIMED saying until when', async () => {
    const id = await sample(model, personBox(), 0.5);
    const claimed = await post<AnnotationItemJson>(`/v1/annotations/${id}/claim`, as('ada'));
    expect(claimed.status).toBe(200);
    const until = new Date(clock + CLAIM_MS).toISOString();
    expect(claimed.body.claim).toEqual({ annotator: 'ada', expires_at: until });
    const message = await expectRefusal(
      post(`/v1/annotations/${id}/claim`, as('bob')),
      409,
      'SAMPLE_CLAIMED',
    );
    expect(message).toBe(`Annotation item "${id}" is claimed by "ada" until ${until}.`);
    // Bob cannot act on it either; Ada can renew hers.
    await expectRefusal(post(`/v1/annotations/${id}/skip`, as('bob')), 409, 'SAMPLE_CLAIMED');
    await expectRefusal(
      post(`/v1/annotations/${id}/label`, { ...as('bob'), format: 'accept' }),
      409,
      'SAMPLE_CLAIMED',
    );
    clock += MINUTE;
    const renewed = await post<AnnotationItemJson>(`/v1/annotations/${id}/claim`, as('ada'));
    expect(renewed.body.claim?.expires_at).toBe(new Date(clock + CLAIM_MS).toISOString());
  });

  it('takes the annotator from the X-Annotator header, and refuses none or two different ones', async () => {
    const id = await sample(model, personBox(), 0.5);
    const byHeader = await post<AnnotationItemJson>(`/v1/annotations/${id}/claim`, undefined, {
      'x-annotator': 'cleo',
    });
    expect(byHeader.body.claim?.annotator, JSON.stringify(byHeader.body)).toBe('cleo');
    await expectRefusal(post(`/v1/annotations/${id}/claim`), 400, 'INVALID_ARGUMENT');
    await expectRefusal(post(`/v1/annotations/${id}/claim`, {}), 400, 'INVALID_ARGUMENT');
    await expectRefusal(
      post(`/v1/annotations/${id}/claim`, as('dan'), { 'x-annotator': 'cleo' }),
      400,
      'INVALID_ARGUMENT',
    );
    await expectRefusal(post(`/v1/annotations/${id}/claim`, as('')), 400, 'INVALID_ARGUMENT');
    await expectRefusal(post(`/v1/annotations/${id}/claim`, as('a\nb')), 400, 'INVALID_ARGUMENT');
  });

  it('an expired claim returns the item to the queue: another annotator takes it, the first can no longer submit', async () => {
    const id = await sample(model, personBox(), 0.5);
    await post(`/v1/annotations/${id}/claim`, as('ada'));
    clock += CLAIM_MS - 1;
    await expectRefusal(post(`/v1/annotations/${id}/claim`, as('bob')), 409, 'SAMPLE_CLAIMED');
    clock += 1;
    expect((await get<AnnotationItemJson>(`/v1/annotations/${id}`)).body.claim).toBeNull();
    // Ada's expired claim does not let her label it, even before anyone else claims it.
    const expired = await expectRefusal(
      post(`/v1/annotations/${id}/label`, { ...as('ada'), format: 'accept' }),
      409,
      'SAMPLE_NOT_CLAIMED',
    );
    expect(expired).toContain('expired');
    const bob = await post<AnnotationItemJson>(`/v1/annotations/${id}/claim`, as('bob'));
    expect(bob.body.claim?.annotator).toBe('bob');
    await expectRefusal(
      post(`/v1/annotations/${id}/label`, { ...as('ada'), format: 'accept' }),
      409,
      'SAMPLE_CLAIMED',
    );
    const labelled = await post<AnnotationItemJson>(`/v1/annotations/${id}/label`, {
      ...as('bob'),
      format: 'accept',
    });
    expect(labelled.body.state).toBe('labelled');
  });

  it('claim-next hands the most uncertain free item, never the same one to two annotators', async () => {
    const next = 'claim-next';
    const ids = [];
    for (const u of [0.2, 0.9, 0.5, 0.7, 0.3, 0.8]) ids.push(await sample(next, personBox(), u));
    const annotators = ['a1', 'a2', 'a3', 'a4', 'a5', 'a6', 'a7'];
    const answers = await Promise.all(
      annotators.map((annotator) =>
        post<ClaimNextJson>('/v1/annotations/claim-next', { model: next, annotator }),
      ),
    );
    const got = answers.map((a) => a.body.item?.id ?? null);
    const claimed = got.filter((id) => id !== null);
    expect(new Set(claimed).size).toBe(6);
    expect(new Set(claimed)).toEqual(new Set(ids));
    expect(got.filter((id) => id === null)).toHaveLength(1);
    for (const [i, answer] of answers.entries()) {
      if (answer.body.item) expect(answer.body.item.claim?.annotator).toBe(annotators[i]);
    }
    const summary = (await get<AnnotationSummaryJson>(`/v1/annotations/summary?model=${next}`)).body;
    expect(summary).toEqual({ model: next, queued: 6, claimed: 6, available: 0, labelled: 0, rejected: 0 });
  });

  it('claim-next gives an annotator their own claims back first, except those they exclude', async () => {
    const next = 'claim-own';
    const low = await sample(next, personBox(), 0.1);
    const high = await sample(next, personBox(), 0.9);
    const mid = await sample(next, personBox(), 0.5);
    await post(`/v1/annotations/${low}/claim`, as('eve'));
    const again = await post<ClaimNextJson>('/v1/annotations/claim-next', { model: next, annotator: 'eve' });
    expect(again.body.item?.id).toBe(low);
    const ahead = await post<ClaimNextJson>('/v1/annotations/claim-next', {
      model: next,
      annotator: 'eve',
      exclude: [low],
    });
    expect(ahead.body.item?.id).toBe(high);
    const other = await post<ClaimNextJson>('/v1/annotations/claim-next', { model: next, annotator: 'fay' });
    expect(other.body.item?.id).toBe(mid);
    const none = await post<ClaimNextJson>('/v1/annotations/claim-next', { model: next, annotator: 'gus' });
    expect(none.body.item).toBeNull();
    // Released without a skip: back in the queue at its place.
    const released = await post<AnnotationItemJson>(`/v1/annotations/${high}/release`, as('eve'));
    expect(released.body).toMatchObject({ claim: null, skip_count: 0 });
    expect(
      (await post<ClaimNextJson>('/v1/annotations/claim-next', { model: next, annotator: 'gus' })).body.item
        ?.id,
    ).toBe(high);
    await expectRefusal(post(`/v1/annotations/${high}/release`, as('eve')), 409, 'SAMPLE_CLAIMED');
  });

  it('claim-next filters by strategy and class', async () => {
    const next = 'claim-filter';
    const random = await sample(next, sceneBoxes(), 0.2, { strategy: 'random' });
    const tree = await sample(
      next,
      boxPrediction('semantic', W, H, SEMANTIC, [{ classId: 3, x: 0, y: 0, w: 2, h: 2 }]),
      0.3,
    );
    await sample(next, sceneBoxes(), 0.9);
    const byStrategy = await post<ClaimNextJson>('/v1/annotations/claim-next', {
      model: next,
      annotator: 'hal',
      strategy: 'random',
    });
    expect(byStrategy.body.item?.id).toBe(random);
    const byClass = await post<ClaimNextJson>('/v1/annotations/claim-next', {
      model: next,
      annotator: 'ivy',
      class: 'tree',
    });
    expect(byClass.body.item?.id).toBe(tree);
  });
});

describe('skip and reject', () => {
  const model = 'skipping';

  it('a skip releases the claim and puts the item behind those up to 0.05 less uncertain', async () => {
    const hard = await sample(model, personBox(), 0.9);
    const close = await sample(model, personBox(), 0.86);
    const far = await sample(model, personBox(), 0.84);
    await post(`/v1/annotations/${hard}/claim`, as('jo'));
    const skipped = await post<AnnotationItemJson>(`/v1/annotations/${hard}/skip`, as('jo'));
    expect(skipped.body).toMatchObject({ skip_count: 1, claim: null, state: 'queued' });
    expect(skipped.body.priority).toBeCloseTo(0.85, 12);
    const order = (await get<AnnotationListJson>(`/v1/annotations?model=${model}`)).body.items.map(
      (i) => i.id,
    );
    expect(order).toEqual([close, hard, far]);
    // Skipping again needs a claim again.
    await expectRefusal(post(`/v1/annotations/${hard}/skip`, as('jo')), 409, 'SAMPLE_NOT_CLAIMED');
  });

  it('a rejected item leaves the queue for good', async () => {
    const id = await sample(model, personBox(), 0.5);
    await post(`/v1/annotations/${id}/claim`, as('kim'));
    const rejected = await post<AnnotationItemJson>(`/v1/annotations/${id}/reject`, as('kim'));
    expect(rejected.body).toMatchObject({ state: 'rejected', claim: null, label: null });
    const queued = (await get<AnnotationListJson>(`/v1/annotations?model=${model}`)).body.items;
    expect(queued.map((i) => i.id)).not.toContain(id);
    const listed = (await get<AnnotationListJson>(`/v1/annotations?model=${model}&state=rejected`)).body
      .items;
    expect(listed.map((i) => i.id)).toEqual([id]);
    await expectRefusal(post(`/v1/annotations/${id}/claim`, as('kim')), 409, 'SAMPLE_NOT_QUEUED');
    const summary = (await get<AnnotationSummaryJson>(`/v1/annotations/summary?model=${model}`)).body;
    expect(summary.rejected).toBe(1);
  });
});

/** Claims `id` for `annotator`, submits `label`, and answers the item. */
async function label(id: string, body: Record<string, unknown>, annotator = 'lea') {
  await post(`/v1/annotations/${id}/claim`, as(annotator));
  return post<AnnotationItemJson>(`/v1/annotations/${id}/label`, { annotator, ...body });
}

async function storedLabel(id: string): Promise<LabelDocument> {
  const answer = await get<LabelDocument>(`/v1/annotations/${id}/label`);
  expect(answer.status).toBe(200);
  return answer.body;
}

const base64 = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64');

/** A class map of the test size with `classId` inside a rectangle. */
function rectMap(boxes: Array<{ classId: number; x: number; y: number; w: number; h: number }>): Uint8Array {
  const map = new Uint8Array(W * H);
  for (const { classId, x, y, w, h } of boxes) {
    for (let r = y; r < y + h; r++) for (let c = x; c < x + w; c++) map[r * W + c] = classId;
  }
  return map;
}

function maskOf(map: Uint8Array, classId: number) {
  return toCompressedRle({ width: W, height: H, data: map.map((v) => (v === classId ? 1 : 0)) });
}

describe('submitting labels', () => {
  const model = 'labelling';

  it('accept stores the prediction as the label, in one transaction with the sample state and the dataset item', async () => {
    const id = await sample(model, sceneBoxes(), 0.6);
    const before = await storedState(id);
    const answer = await label(id, { format: 'accept' });
    expect(answer.status).toBe(200);
    expect(answer.body.state).toBe('labelled');
    expect(answer.body.claim).toBeNull();
    expect(answer.body.label).toMatchObject({ submitted_as: 'accepted', labelled_by: 'lea' });
    const stored = await storedLabel(id);
    expect(classMapOf(stored)).toEqual(classMapOf(sceneBoxes()));
    const after = await storedState(id);
    expect(after.labels).toBe(before.labels + 1);
    expect(after.items).toBe(before.items + 1);
    const { rows } = await db.query<{
      dataset: string;
      label_sha256: string;
      label_key: string;
      source: string;
    }>('SELECT dataset, label_sha256, label_key, source FROM dataset_items WHERE sample_id = $1', [id]);
    expect(rows).toEqual([
      {
        dataset: model,
        label_sha256: answer.body.label?.sha256,
        label_key: expect.any(String),
        source: 'annotation',
      },
    ]);
    expect(decodeLabelDocument(await blobs.get(rows[0].label_key))).toEqual(stored);
    const dataset = await db.query('SELECT task, labels, model FROM datasets WHERE name = $1', [model]);
    expect(dataset.rows).toEqual([{ task: 'semantic', labels: SEMANTIC, model }]);
    // Labelled items leave the queue.
    await expectRefusal(post(`/v1/annotations/${id}/claim`, as('lea')), 409, 'SAMPLE_NOT_QUEUED');
  });

  it('the same pixels as a PNG, as RLE or as polygons make the same label document, byte for byte', async () => {
    const map = rectMap([
      { classId: 1, x: 0, y: 0, w: W, h: 5 },
      { classId: 3, x: 4, y: 6, w: 6, h: 4 },
    ]);
    const png = encodeClassMapPng(map, W, H, [
      [0, 0, 0],
      [0, 0, 255],
      [128, 128, 128],
      [0, 255, 0],
    ]);
    const viaPng = await label(await sample(model, sceneBoxes(), 0.5), {
      format: 'png',
      mask_png: base64(png),
    });
    const viaRle = await label(await sample(model, sceneBoxes(), 0.5), {
      format: 'rle',
      segments: [
        { label: 'tree', rle: maskOf(map, 3) },
        { class_id: 1, rle: maskOf(map, 1) },
      ],
    });
    const viaPolygons = await label(await sample(model, sceneBoxes(), 0.5), {
      format: 'polygons',
      segments: [
        { label: 'sky', polygons: [[0, 0, W, 0, W, 5, 0, 5]] },
        { label: 'tree', class_id: 3, polygons: [[4, 6, 10, 6, 10, 10, 4, 10]] },
      ],
    });
    for (const answer of [viaPng, viaRle, viaPolygons])
      expect(answer.status, JSON.stringify(answer.body)).toBe(200);
    expect(viaPng.body.label?.submitted_as).toBe('png');
    expect(viaRle.body.label?.submitted_as).toBe('rle');
    expect(viaPolygons.body.label?.submitted_as).toBe('polygons');
    expect(viaRle.body.label?.sha256).toBe(viaPng.body.label?.sha256);
    expect(viaPolygons.body.label?.sha256).toBe(viaPng.body.label?.sha256);
    expect(classMapOf(await storedLabel(viaPng.body.id))).toEqual(map);
  });

  it('reads a binary mask saved 0/255 in greyscale, or as 0/1 at one bit', async () => {
    const people = 'people';
    const map = rectMap([{ classId: 1, x: 3, y: 2, w: 7, h: 8 }]);
    const grey = encodeBinaryMaskPng({ width: W, height: H, data: map }, 'grey');
    const first = await label(await sample(people, personBox(), 0.5), {
      format: 'png',
      mask_png: base64(grey),
    });
    expect(first.status, JSON.stringify(first.body)).toBe(200);
    expect(classMapOf(await storedLabel(first.body.id))).toEqual(map);
    const raw = encodeGreyPng(map, W, H);
    const second = await label(await sample(people, personBox(), 0.5), {
      format: 'png',
      mask_png: base64(raw),
    });
    expect(second.body.label?.sha256).toBe(first.body.label?.sha256);
  });

  it('instance labels: instances kept in the order given, from RLE, polygons or a PNG of instance numbers', async () => {
    const things = 'things';
    const prediction = instancePrediction(W, H, INSTANCE, [
      { classId: 0, score: 0.8, x: 1, y: 1, w: 4, h: 6 },
      { classId: 1, score: 0.4, x: 8, y: 2, w: 6, h: 5 },
    ]);
    const accepted = await label(await sample(things, prediction, 0.6), { format: 'accept' });
    const doc = await storedLabel(accepted.body.id);
    expect(doc.segments.map((s) => [s.class_id, s.score])).toEqual([
      [0, undefined],
      [1, undefined],
    ]);
    expect(doc.segments.map((s) => s.rle)).toEqual(prediction.segments.map((s) => s.rle));

    // Two overlapping instances: allowed for instances.
    const a = rectMap([{ classId: 1, x: 0, y: 0, w: 8, h: 8 }]);
    const b = rectMap([{ classId: 1, x: 4, y: 4, w: 8, h: 8 }]);
    const viaRle = await label(await sample(things, prediction, 0.6), {
      format: 'rle',
      segments: [
        { label: 'dog', rle: maskOf(a, 1) },
        { label: 'person', rle: maskOf(b, 1) },
      ],
    });
    expect(viaRle.status, JSON.stringify(viaRle.body)).toBe(200);
    const rleDoc = await storedLabel(viaRle.body.id);
    expect(rleDoc.segments.map((s) => s.class_id)).toEqual([2, 0]);
    expect(decodeRle(rleDoc.segments[1].rle).data).toEqual(b);

    const viaPolygons = await label(await sample(things, prediction, 0.6), {
      format: 'polygons',
      segments: [{ class_id: 1, polygons: [[0, 0, 8, 0, 8, 8, 0, 8]] }],
    });
    expect(decodeRle((await storedLabel(viaPolygons.body.id)).segments[0].rle).data).toEqual(a);

    const numbers = rectMap([
      { classId: 1, x: 0, y: 0, w: 4, h: 4 },
      { classId: 2, x: 10, y: 6, w: 4, h: 4 },
    ]);
    const viaPng = await label(await sample(things, prediction, 0.6), {
      format: 'png',
      mask_png: base64(encodeGreyPng(numbers, W, H)),
      instances: [{ label: 'car' }, { class_id: 2 }],
    });
    expect(viaPng.status, JSON.stringify(viaPng.body)).toBe(200);
    const pngDoc = await storedLabel(viaPng.body.id);
    expect(pngDoc.segments.map((s) => s.class_id)).toEqual([1, 2]);
    expect(decodeRle(pngDoc.segments[1].rle).data).toEqual(numbers.map((v) => (v === 2 ? 1 : 0)));
  });
});

describe('bad labels: a clear 4xx with a stable code, and nothing stored', () => {
  const model = 'refusals';
  let id: string;
  let instanceId: string;

  beforeAll(async () => {
    id = await sample(model, sceneBoxes(), 0.5);
    await post(`/v1/annotations/${id}/claim`, as('max'));
    instanceId = await sample(
      'refusals-instance',
      instancePrediction(W, H, INSTANCE, [{ classId: 0, score: 0.9, x: 0, y: 0, w: 3, h: 3 }]),
      0.5,
    );
    await post(`/v1/annotations/${instanceId}/claim`, as('max'));
  });

  const sky = maskOf(rectMap([{ classId: 1, x: 0, y: 0, w: W, h: 3 }]), 1);
  const wrongSize = toCompressedRle({ width: W + 1, height: H, data: new Uint8Array((W + 1) * H).fill(1) });
  const square = [0, 0, 4, 0, 4, 4, 0, 4];
  const wrongPng = encodeClassMapPng(new Uint8Array((W + 2) * H), W + 2, H, [[0, 0, 0]]);
  const pngOf = (values: Uint8Array) => base64(encodeGreyPng(values, W, H));

  /** Bad label bodies: each refused with its status and code (422 LABEL_INVALID unless said) and a message. */
  const cases: Record<
    string,
    { body: () => Record<string, unknown>; message: RegExp; status?: number; code?: string }
  > = {
    'a PNG of another size': {
      body: () => ({ format: 'png', mask_png: base64(wrongPng) }),
      message: /18x12, the image is 16x12/,
    },
    'RLE of another size': {
      body: () => ({ format: 'rle', segments: [{ label: 'sky', rle: wrongSize }] }),
      message: /rle\.size/,
    },
    'a polygon outside the image': {
      body: () => ({ format: 'polygons', segments: [{ label: 'sky', polygons: [[0, 0, 40, 0, 40, 4]] }] }),
      message: /inside the 16x12 image/,
    },
    'an unknown class name': {
      body: () => ({ format: 'rle', segments: [{ label: 'cat', rle: sky }] }),
      message: /"cat" is not a class/,
    },
    'an unknown class id': {
      body: () => ({ format: 'rle', segments: [{ class_id: 9, rle: sky }] }),
      message: /class_id: 9 is not a class/,
    },
    'a name and an id that disagree': {
      body: () => ({ format: 'rle', segments: [{ label: 'road', class_id: 1, rle: sky }] }),
      message: /is class 2, not class_id 1/,
    },
    'a segment without a class': {
      body: () => ({ format: 'rle', segments: [{ rle: sky }] }),
      message: /name its class/,
    },
    'a PNG pixel that is no class': {
      body: () => ({ format: 'png', mask_png: pngOf(new Uint8Array(W * H).fill(7)) }),
      message: /holds 7, not a class id/,
    },
    'RLE counts that are not COCO RLE': {
      body: () => ({ format: 'rle', segments: [{ label: 'sky', rle: { size: [H, W], counts: '~~~' } }] }),
      message: /segments\.0\.rle/,
    },
    'RLE counts of the wrong total': {
      body: () => ({ format: 'rle', segments: [{ label: 'sky', rle: { size: [H, W], counts: [10, 5] } }] }),
      message: /sum to 15/,
    },
    'RLE counts of the wrong type': {
      body: () => ({ format: 'rle', segments: [{ label: 'sky', rle: { size: [H, W], counts: { a: 1 } } }] }),
      message: /segments\.0\.rle\.counts/,
    },
    'a segment without its RLE': {
      body: () => ({ format: 'rle', segments: [{ label: 'sky' }] }),
      message: /segments\.0\.rle/,
    },
    'a polygon of two points': {
      body: () => ({ format: 'polygons', segments: [{ label: 'sky', polygons: [[0, 0, 4, 4]] }] }),
      message: /at least 3 points/,
    },
    'a polygon of an odd count': {
      body: () => ({ format: 'polygons', segments: [{ label: 'sky', polygons: [[0, 0, 4, 0, 4]] }] }),
      message: /at least 3 points/,
    },
    'a polygon of strings': {
      body: () => ({ format: 'polygons', segments: [{ label: 'sky', polygons: [['a', 0, 4, 0, 4, 4]] }] }),
      message: /segments\.0\.polygons/,
    },
    'a polygon that covers no pixel': {
      body: () => ({
        format: 'polygons',
        segments: [{ label: 'sky', polygons: [[0.1, 0.1, 0.3, 0.1, 0.2, 0.3]] }],
      }),
      message: /covers no pixel/,
    },
    'overlapping semantic segments': {
      body: () => ({
        format: 'polygons',
        segments: [
          { label: 'sky', polygons: [square] },
          { label: 'road', polygons: [square] },
        ],
      }),
      message: /overlaps another segment/,
    },
    'a background segment': {
      body: () => ({ format: 'polygons', segments: [{ label: 'background', polygons: [square] }] }),
      message: /background/,
    },
    'format rle without segments': { body: () => ({ format: 'rle' }), message: /needs segments/ },
    'format png without a mask': { body: () => ({ format: 'png' }), message: /mask_png/ },
    'a mask that is not base64': {
      body: () => ({ format: 'png', mask_png: 'not base64!' }),
      message: /not base64/,
    },
    'a mask that is not a PNG': {
      body: () => ({ format: 'png', mask_png: base64(new TextEncoder().encode('GIF89a, honestly')) }),
      message: /no PNG signature/,
    },
    'instances on a semantic mask': {
      body: () => ({ format: 'png', mask_png: pngOf(new Uint8Array(W * H)), instances: [{ label: 'sky' }] }),
      message: /class ids, not instances/,
    },
    'an unknown format': {
      body: () => ({ format: 'coco' }),
      message: /format/,
      status: 400,
      code: 'INVALID_ARGUMENT',
    },
  };

  for (const [what, { body, message, status = 422, code = 'LABEL_INVALID' }] of Object.entries(cases)) {
    it(`${what}: ${status} ${code}`, async () => {
      const before = await storedState(id);
      const refused = await expectRefusal(
        post(`/v1/annotations/${id}/label`, { annotator: 'max', ...body() }),
        status,
        code,
      );
      expect(refused).toMatch(message);
      expect(await storedState(id)).toEqual(before);
      expect(before.row).toMatchObject({ state: 'queued', claimed_by: 'max' });
    });
  }

  const instanceCases: Record<string, { body: () => Record<string, unknown>; message: RegExp }> = {
    'an instance PNG without instances': {
      body: () => ({ format: 'png', mask_png: pngOf(new Uint8Array(W * H)) }),
      message: /instances: this format needs/,
    },
    'an instance number past the list': {
      body: () => ({
        format: 'png',
        mask_png: pngOf(new Uint8Array(W * H).fill(2)),
        instances: [{ label: 'dog' }],
      }),
      message: /holds 2, but instances lists 1/,
    },
    'an instance with no pixel': {
      body: () => ({
        format: 'png',
        mask_png: pngOf(new Uint8Array(W * H).fill(1)),
        instances: [{ label: 'dog' }, { label: 'car' }],
      }),
      message: /instances\.1: no pixel/,
    },
    'an instance of an unknown class': {
      body: () => ({
        format: 'png',
        mask_png: pngOf(new Uint8Array(W * H).fill(1)),
        instances: [{ label: 'sky' }],
      }),
      message: /instances\.0\.label/,
    },
  };

  for (const [what, { body, message }] of Object.entries(instanceCases)) {
    it(`${what}: 422 LABEL_INVALID`, async () => {
      const before = await storedState(instanceId);
      const refused = await expectRefusal(
        post(`/v1/annotations/${instanceId}/label`, { annotator: 'max', ...body() }),
        422,
        'LABEL_INVALID',
      );
      expect(refused).toMatch(message);
      expect(await storedState(instanceId)).toEqual(before);
    });
  }

  it('a label without the claim: 409 SAMPLE_NOT_CLAIMED, nothing stored', async () => {
    const unclaimed = await sample(model, sceneBoxes(), 0.5);
    const before = await storedState(unclaimed);
    const message = await expectRefusal(
      post(`/v1/annotations/${unclaimed}/label`, { annotator: 'max', format: 'accept' }),
      409,
      'SAMPLE_NOT_CLAIMED',
    );
    expect(message).toContain('claim it first');
    expect(await storedState(unclaimed)).toEqual(before);
  });

  it('a label for an item already labelled: 409 SAMPLE_NOT_QUEUED, the first label kept', async () => {
    const done = await sample(model, sceneBoxes(), 0.5);
    const first = await label(done, { format: 'accept' }, 'max');
    const before = await storedState(done);
    await expectRefusal(
      post(`/v1/annotations/${done}/label`, {
        annotator: 'max',
        format: 'png',
        mask_png: pngOf(new Uint8Array(W * H)),
      }),
      409,
      'SAMPLE_NOT_QUEUED',
    );
    expect(await storedState(done)).toEqual(before);
    expect((await get<AnnotationItemJson>(`/v1/annotations/${done}`)).body.label).toEqual(first.body.label);
  });

  it('a label the dataset cannot take: 409 DATASET_MISMATCH, no row written (the transaction rolled back)', async () => {
    const clash = 'clash';
    await db.query(`INSERT INTO datasets (name, task, labels, model) VALUES ($1, 'semantic', $2, $1)`, [
      clash,
      ['background', 'water'],
    ]);
    const itemId = await sample(clash, sceneBoxes(), 0.5);
    await post(`/v1/annotations/${itemId}/claim`, as('max'));
    const before = await storedState(itemId);
    await expectRefusal(
      post(`/v1/annotations/${itemId}/label`, { annotator: 'max', format: 'accept' }),
      409,
      'DATASET_MISMATCH',
    );
    const after = await storedState(itemId);
    // The label document may be in the blob store (it goes first, content-addressed); no row names it.
    expect({ ...after, blobs: [] }).toEqual({ ...before, blobs: [] });
    expect(after.row).toMatchObject({ state: 'queued', claimed_by: 'max' });
  });

  it('a body over the label size limit is refused before it is read', async () => {
    const huge = 'A'.repeat(LABEL_LIMIT);
    await expectRefusal(
      post(`/v1/annotations/${id}/label`, { annotator: 'max', format: 'png', mask_png: huge }),
      413,
      'BODY_TOO_LARGE',
    );
  });
});

describe('a label document for every task', () => {
  it('keeps a semantic label with no class (all background) as a document with no segments', async () => {
    const id = await sample('empty', sceneBoxes(), 0.5);
    const answer = await label(id, { format: 'rle', segments: [] });
    expect(answer.status).toBe(200);
    expect(await storedLabel(id)).toEqual(makeDocument('semantic', W, H, SEMANTIC, []));
  });
});
