/**
 * Stores for dataset tests: the embedded database (PGlite) and a blob folder in a temporary data directory, the
 * same settings `segserve serve` resolves (testStorage), and tiny images with labels to fill working sets.
 * Opening PGlite in a new folder takes seconds: a test file opens one and names its datasets apart.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { IMAGE_EXTENSIONS, sniffImageFormat } from '../../src/image/index.js';
import { ensureDataset, upsertDatasetItem } from '../../src/learning/dataset-items.js';
import {
  documentFromClassMap,
  encodeLabelDocument,
  type LabelDocument,
} from '../../src/learning/label-document.js';
import { encodeGreyPng } from '../../src/masks/index.js';
import {
  type BlobStore,
  type Database,
  openBlobStore,
  openDatabase,
  type StorageSettings,
} from '../../src/storage/index.js';
import { testStorage } from './storage.js';

export interface TestStores {
  dir: string;
  settings: StorageSettings;
  db: Database;
  blobs: BlobStore;
  close(): Promise<void>;
}

export async function openTestStores(): Promise<TestStores> {
  const dir = await mkdtemp(join(tmpdir(), 'segserve-datasets-'));
  const settings = testStorage(dir);
  const db = await openDatabase(settings.database);
  const blobs = await openBlobStore(settings.blobs);
  return {
    dir,
    settings,
    db,
    blobs,
    async close() {
      await db.close();
      await blobs.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** A grey PNG whose bytes differ for every seed (a valid image: the importers probe it). */
export function tinyImage(seed: number, width = 4, height = 3): Uint8Array {
  const pixels = new Uint8Array(width * height);
  for (let i = 0; i < pixels.length; i++) pixels[i] = (seed * 31 + i * 7) % 256;
  // The seed's bytes in the first pixels too, so seeds past 256 stay distinct.
  pixels[0] = seed & 0xff;
  if (pixels.length > 1) pixels[1] = (seed >> 8) & 0xff;
  return encodeGreyPng(pixels, width, height);
}

/** A semantic or binary label of a class map. */
export function classMapLabel(
  task: 'semantic' | 'binary',
  labels: readonly string[],
  width: number,
  height: number,
  map: readonly number[],
): LabelDocument {
  return documentFromClassMap(task, width, height, labels, Uint8Array.from(map));
}

/** Adds `image` with `label` to the working set of `dataset` (created as the label's task and classes). */
export async function addItem(
  stores: Pick<TestStores, 'db' | 'blobs'>,
  dataset: string,
  image: Uint8Array,
  label: LabelDocument,
): Promise<{ imageSha256: string; labelSha256: string }> {
  const { db, blobs } = stores;
  await ensureDataset(db, { name: dataset, task: label.task, labels: label.labels });
  const format = sniffImageFormat(image);
  if (!format) throw new Error('addItem takes image bytes');
  const imageKey = (await blobs.putContent(image, { ext: IMAGE_EXTENSIONS[format] })).key;
  const labelKey = (await blobs.putContent(encodeLabelDocument(label), { ext: 'json' })).key;
  const hashOf = (key: string) => key.slice('sha256/'.length).replace('/', '').replace(/\..*$/, '');
  const item = { imageSha256: hashOf(imageKey), labelSha256: hashOf(labelKey) };
  await upsertDatasetItem(db, {
    dataset,
    ...item,
    imageKey,
    labelKey,
    width: label.width,
    height: label.height,
    source: 'test',
  });
  return item;
}
