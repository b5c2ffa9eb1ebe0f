/**
 * Claims racing for real: on the PostgreSQL server (a pool of connections, so statements run at the same time,
 * unlike the embedded engine's one connection), annotators asking for the next item all at once each get a
 * different one, and annotators claiming one item all at once leave exactly one winner. SKIPPED, saying so,
 * when the server cannot be reached.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isSegserveError } from '../../src/errors.js';
import { AnnotationQueue } from '../../src/learning/annotations/index.js';
import type { BlobStore, Database, StorageAccess } from '../../src/storage/index.js';
import { openBlobStore, openDatabase } from '../../src/storage/index.js';
import {
  type FreshDatabase,
  freshDatabase,
  postgresProblem,
  TEST_POSTGRES_URL,
} from '../helpers/postgres.js';
import { boxPrediction, insertSample, openedStores, testImage } from '../helpers/samples.js';

const problem = await postgresProblem();
if (problem) console.warn(`SKIPPED "annotation claims on PostgreSQL": ${TEST_POSTGRES_URL} (${problem})`);

describe.skipIf(problem !== undefined)('annotation claims on PostgreSQL', () => {
  let database: FreshDatabase;
  let dir: string;
  let db: Database;
  let blobs: BlobStore;
  let stores: StorageAccess;
  let queue: AnnotationQueue;

  beforeAll(async () => {
    database = await freshDatabase();
    dir = await mkdtemp(join(tmpdir(), 'segserve-claims-'));
    db = await openDatabase({ kind: 'postgres', url: database.url });
    blobs = await openBlobStore({ kind: 'filesystem', root: dir });
    stores = openedStores(db, blobs);
    queue = new AnnotationQueue(stores);
  });

  afterAll(async () => {
    await db?.close();
    await blobs?.close();
    await database?.drop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  async function samples(model: string, count: number): Promise<string[]> {
    const prediction = boxPrediction(
      'binary',
      4,
      4,
      ['background', 'person'],
      [{ classId: 1, x: 0, y: 0, w: 2, h: 2 }],
    );
    const ids: string[] = [];
    for (let i = 0; i < count; i++) {
      const image = await testImage(4, 4, 1000 + ids.length + model.length * 100);
      ids.push(await insertSample(stores, { model, image, prediction, uncertainty: (i % 7) / 7 }));
    }
    return ids;
  }

  it('claim-next from 30 annotators at once hands out 20 items, each to one annotator', async () => {
    const ids = await samples('race-next', 20);
    const answers = await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        queue.claimNext({ model: 'race-next', exclude: [] }, `annotator-${i}`),
      ),
    );
    const claimed = answers.flatMap((item) => (item ? [item.id] : []));
    expect(claimed).toHaveLength(20);
    expect(new Set(claimed)).toEqual(new Set(ids));
    const { rows } = await db.query<{ claimed_by: string }>(
      "SELECT claimed_by FROM samples WHERE model = 'race-next'",
    );
    expect(new Set(rows.map((r) => r.claimed_by)).size).toBe(20);
  });

  it('eight annotators claiming one item at once: one wins, seven are told SAMPLE_CLAIMED', async () => {
    const [id] = await samples('race-one', 1);
    const outcomes = await Promise.allSettled(
      Array.from({ length: 8 }, (_, i) => queue.claim(id, `annotator-${i}`)),
    );
    const won = outcomes.filter((o) => o.status === 'fulfilled');
    const lost = outcomes.flatMap((o) => (o.status === 'rejected' ? [o.reason] : []));
    expect(won).toHaveLength(1);
    expect(lost.map((e) => isSegserveError(e) && e.code)).toEqual(Array(7).fill('SAMPLE_CLAIMED'));
  });
});
