/**
 * Snapshots: freezing a dataset's working set into an immutable version. The manifest (manifest.ts) is stored
 * content-addressed in the BlobStore, then the version's row is inserted; its id is the manifest's hash, so
 * snapshotting a working set that has not changed finds the version it already is and records nothing new.
 *
 * The blob goes first: a crash between the two leaves an unreferenced manifest (harmless, and the next snapshot
 * of the same working set reuses it), never a row whose manifest is missing.
 */
import { SegserveError } from '../../errors.js';
import type { BlobStore, Database } from '../../storage/index.js';
import { type DatasetVersion, getDataset, VERSION_COLUMNS, type VersionRow, versionOf } from './catalog.js';
import {
  encodeManifest,
  imageKeyOf,
  labelKeyOf,
  type ManifestEntry,
  NO_EXTENSION,
  splitOf,
  versionIdOf,
} from './manifest.js';

export interface Snapshot {
  version: DatasetVersion;
  /** False when the working set was already this version: nothing was written. */
  created: boolean;
}

interface ItemRow extends Record<string, unknown> {
  image_sha256: string;
  image_key: string;
  label_sha256: string;
  label_key: string;
}

/** The extension of a content-addressed key (`sha256/ab/cd...jpg` gives `jpg`), checked against its hash. */
function entryOf(dataset: string, row: ItemRow): ManifestEntry {
  const name = row.image_key.slice(row.image_key.lastIndexOf('/') + 1);
  const imageExt = name.includes('.') ? name.slice(name.lastIndexOf('.') + 1) : NO_EXTENSION;
  const entry: ManifestEntry = {
    imageSha256: row.image_sha256,
    labelSha256: row.label_sha256,
    split: splitOf(row.image_sha256),
    imageExt,
  };
  // A manifest lists hashes only, so an export finds blobs by their content-addressed keys. An item stored any
  // other way (a bug in what added it) would make a version that cannot be exported: refuse it now, by name.
  if (imageKeyOf(entry) !== row.image_key || labelKeyOf(entry) !== row.label_key) {
    throw new Error(
      `dataset "${dataset}" item ${row.image_sha256}: keys ${row.image_key} and ${row.label_key} are not the ` +
        'content-addressed keys of its hashes (images by putContent with their extension, labels with "json")',
    );
  }
  return entry;
}

/**
 * Snapshots the working set of dataset `name`: DATASET_NOT_FOUND when there is no such dataset, DATASET_EMPTY
 * when it holds no item. `note` is kept with a new version (an existing one keeps its own).
 */
export async function snapshotDataset(
  db: Database,
  blobs: BlobStore,
  name: string,
  note?: string,
): Promise<Snapshot> {
  const dataset = await getDataset(db, name);
  const { rows } = await db.query<ItemRow>(
    'SELECT image_sha256, image_key, label_sha256, label_key FROM dataset_items WHERE dataset = $1',
    [name],
  );
  if (rows.length === 0) throw new SegserveError('DATASET_EMPTY', { dataset: name });
  const entries = rows.map((row) => entryOf(name, row));
  const manifest = encodeManifest(entries);
  const id = versionIdOf(manifest);
  const { key } = await blobs.putContent(manifest, { ext: 'txt' });
  const validation = entries.filter((e) => e.split === 'validation').length;
  // The parent is the newest version other than this one: re-snapshotting version A after B names B as parent
  // only when A is new, and an existing A keeps the parent it was recorded with (ON CONFLICT DO NOTHING).
  const parent = dataset.latest === id ? null : dataset.latest;
  const inserted = await db.query<Record<string, unknown>>(
    `INSERT INTO dataset_versions (dataset, id, manifest_key, items, train, validation, parent, note)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (dataset, id) DO NOTHING RETURNING id`,
    [name, id, key, entries.length, entries.length - validation, validation, parent, note ?? null],
  );
  const { rows: versions } = await db.query<VersionRow>(
    `SELECT ${VERSION_COLUMNS} FROM dataset_versions WHERE dataset = $1 AND id = $2`,
    [name, id],
  );
  return { version: versionOf(versions[0]), created: inserted.rowCount > 0 };
}
