/**
 * Dataset versions on the embedded database and a blob folder: a snapshot's id is its manifest's hash (an
 * unchanged working set is the same version, recorded once), splits follow the image hash and never move when
 * images are added, diffs, per-class summaries, version references, and the refusals (empty, unknown).
 */
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureDataset } from '../../src/learning/dataset-items.js';
import {
  diffVersions,
  getDataset,
  listDatasets,
  listVersions,
  readVersionEntries,
  resolveVersion,
  snapshotDataset,
  splitOf,
  versionSummary,
} from '../../src/learning/datasets/index.js';
import { codeOf } from '../helpers/caught.js';
import {
  addItem,
  classMapLabel,
  openTestStores,
  type TestStores,
  tinyImage,
} from '../helpers/dataset-stores.js';

const PERSON = ['background', 'person'];
let stores: TestStores;

beforeAll(async () => {
  stores = await openTestStores();
});

afterAll(async () => {
  await stores?.close();
});

/** A binary label of a 4x3 image whose foreground is the first `n` pixels. */
const firstPixels = (n: number) =>
  classMapLabel(
    'binary',
    PERSON,
    4,
    3,
    Array.from({ length: 12 }, (_, i) => (i < n ? 1 : 0)),
  );

describe('snapshots', () => {
  it('name a version by the SHA-256 of its manifest, sorted by image hash, and find it again unchanged', async () => {
    const added = [];
    for (let seed = 0; seed < 6; seed++)
      added.push(await addItem(stores, 'people', tinyImage(seed), firstPixels(seed)));
    const first = await snapshotDataset(stores.db, stores.blobs, 'people', 'first labels');
    expect(first.created).toBe(true);
    const { version } = first;
    expect(version).toMatchObject({ dataset: 'people', items: 6, parent: null, note: 'first labels' });
    expect(version.train + version.validation).toBe(6);

    // The manifest is in the blob store under its own hash, which is the version id.
    const manifest = await stores.blobs.get(version.manifestKey);
    expect(createHash('sha256').update(manifest).digest('hex')).toBe(version.id);
    const lines = new TextDecoder().decode(manifest).trimEnd().split('\n');
    expect(lines[0]).toBe('segserve-dataset-manifest 1');
    const sorted = [...added].sort((a, b) => (a.imageSha256 < b.imageSha256 ? -1 : 1));
    expect(lines.slice(1)).toEqual(
      sorted.map((a) => `${a.imageSha256} ${a.labelSha256} ${splitOf(a.imageSha256)} png`),
    );

    // Nothing changed: the same version, no second row.
    const again = await snapshotDataset(stores.db, stores.blobs, 'people', 'ignored');
    expect(again.created).toBe(false);
    expect(again.version).toEqual(version);
    expect(await listVersions(stores.db, 'people')).toHaveLength(1);
  });

  it('keeps every image in its split as images are added, and records the parent', async () => {
    const before = await resolveVersion(stores.db, 'people', 'latest');
    const splitsBefore = new Map(
      (await readVersionEntries(stores.blobs, before)).map((e) => [e.imageSha256, e.split]),
    );
    for (let seed = 100; seed < 140; seed++) await addItem(stores, 'people', tinyImage(seed), firstPixels(3));
    const { version, created } = await snapshotDataset(stores.db, stores.blobs, 'people');
    expect(created).toBe(true);
    expect(version.parent).toBe(before.id);
    const after = await readVersionEntries(stores.blobs, version);
    expect(after).toHaveLength(46);
    for (const entry of after) {
      if (splitsBefore.has(entry.imageSha256)) expect(entry.split).toBe(splitsBefore.get(entry.imageSha256));
    }
    // 46 images by hash: about a fifth in validation, both splits used.
    expect(version.validation).toBeGreaterThan(0);
    expect(version.train).toBeGreaterThan(version.validation);
    expect((await getDataset(stores.db, 'people')).latest).toBe(version.id);
  });

  it('diffs two versions: added, removed and changed labels', async () => {
    const base = await resolveVersion(stores.db, 'people', 'latest');
    // Change one label, add one image, remove one image.
    const entries = await readVersionEntries(stores.blobs, base);
    const changedImage = entries[0].imageSha256;
    const removedImage = entries[1].imageSha256;
    const { rows } = await stores.db.query<{ image_key: string }>(
      'SELECT image_key FROM dataset_items WHERE dataset = $1 AND image_sha256 = $2',
      ['people', changedImage],
    );
    const relabelled = await addItem(
      stores,
      'people',
      await stores.blobs.get(rows[0].image_key),
      firstPixels(11),
    );
    expect(relabelled.imageSha256).toBe(changedImage);
    const added = await addItem(stores, 'people', tinyImage(999), firstPixels(1));
    await stores.db.query('DELETE FROM dataset_items WHERE dataset = $1 AND image_sha256 = $2', [
      'people',
      removedImage,
    ]);
    const { version: next } = await snapshotDataset(stores.db, stores.blobs, 'people');

    const diff = await diffVersions(stores.db, stores.blobs, 'people', next.id, base.id);
    expect(diff.added.map((e) => e.image_sha256)).toEqual([added.imageSha256]);
    expect(diff.removed.map((e) => e.image_sha256)).toEqual([removedImage]);
    expect(diff.changed).toEqual([
      {
        image_sha256: changedImage,
        split: splitOf(changedImage),
        from_label_sha256: entries[0].labelSha256,
        to_label_sha256: relabelled.labelSha256,
      },
    ]);
    expect(diff.unchanged).toBe(entries.length - 2);
    // Without `from`, the parent; by prefix and `latest` as people type them.
    const byParent = await diffVersions(stores.db, stores.blobs, 'people', next.id.slice(0, 8));
    expect(byParent.from?.id).toBe(base.id);
    expect(byParent.added).toEqual(diff.added);
    // The first version has no parent: everything in it is added.
    const versions = await listVersions(stores.db, 'people');
    const first = versions[versions.length - 1];
    const fromNothing = await diffVersions(stores.db, stores.blobs, 'people', first.id);
    expect(fromNothing.from).toBeNull();
    expect(fromNothing.added).toHaveLength(first.items);
  });

  it('summarises a version per class and split, and keeps the summary', async () => {
    const version = await resolveVersion(stores.db, 'people', 'latest');
    const summary = await versionSummary(stores.blobs, version, PERSON);
    const person = summary.classes[1];
    // Seed 0 had no foreground (an empty label); every other image shows a person.
    expect(summary.unlabelled_images).toBe(version.items - person.images);
    expect(person.images_by_split.train + person.images_by_split.validation).toBe(person.images);
    expect(person.segments).toBe(person.images);
    expect(summary.classes[0]).toMatchObject({ label: 'background', images: 0, pixels: 0 });
    expect(await stores.blobs.exists(`datasets/summaries/${version.id}.v1.json`)).toBe(true);
    expect(await versionSummary(stores.blobs, version, PERSON)).toEqual(summary);
  });

  it('lists datasets with their working set and versions', async () => {
    const list = await listDatasets(stores.db);
    const people = list.find((d) => d.name === 'people');
    expect(people).toMatchObject({ task: 'binary', labels: PERSON, versions: 3 });
  });

  it('refuses an empty dataset (409 DATASET_EMPTY), an unknown one and an unknown version, storing nothing', async () => {
    await ensureDataset(stores.db, { name: 'empty', task: 'binary', labels: PERSON });
    expect(await codeOf(snapshotDataset(stores.db, stores.blobs, 'empty'))).toBe('DATASET_EMPTY');
    expect(await listVersions(stores.db, 'empty')).toEqual([]);
    expect(await codeOf(snapshotDataset(stores.db, stores.blobs, 'nobody'))).toBe('DATASET_NOT_FOUND');
    expect(await codeOf(resolveVersion(stores.db, 'people', 'ffff'))).toBe('DATASET_VERSION_NOT_FOUND');
    expect(await codeOf(resolveVersion(stores.db, 'people', 'not-a-version'))).toBe(
      'DATASET_VERSION_NOT_FOUND',
    );
    expect(await codeOf(resolveVersion(stores.db, 'empty', 'latest'))).toBe('DATASET_VERSION_NOT_FOUND');
  });

  it('refuses a working-set item whose keys are not content-addressed (a bug in what added it)', async () => {
    const added = await addItem(stores, 'odd', tinyImage(5), firstPixels(2));
    await stores.db.query("UPDATE dataset_items SET label_key = 'labels/x.json' WHERE image_sha256 = $1", [
      added.imageSha256,
    ]);
    await expect(snapshotDataset(stores.db, stores.blobs, 'odd')).rejects.toThrow(
      /not the content-addressed keys/,
    );
  });
});
