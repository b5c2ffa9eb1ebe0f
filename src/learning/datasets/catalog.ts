/**
 * Reading datasets and their versions: the rows of migration 2's `datasets`, `dataset_items` and
 * `dataset_versions`, and the manifests in the BlobStore. Version references are what people type: a full id, a
 * unique prefix of at least 4 characters (as git takes), or `latest`.
 */
import { SegserveError } from '../../errors.js';
import type { BlobStore, Queryable } from '../../storage/index.js';
import type { DatasetDefinition } from '../dataset-items.js';
import { type ManifestEntry, parseManifest, versionIdOf } from './manifest.js';

export interface DatasetInfo extends Required<Omit<DatasetDefinition, 'model'>> {
  model: string | null;
  createdAt: Date;
  /** Images in the working set (what the next snapshot takes). */
  items: number;
  versions: number;
  /** The newest version's id, or null before the first snapshot. */
  latest: string | null;
}

export interface DatasetVersion {
  dataset: string;
  id: string;
  manifestKey: string;
  items: number;
  train: number;
  validation: number;
  /** The dataset's newest version when this one was made; null for the first. */
  parent: string | null;
  note: string | null;
  createdAt: Date;
}

interface DatasetRow extends Record<string, unknown> {
  name: string;
  task: DatasetDefinition['task'];
  labels: string[];
  model: string | null;
  created_at: Date;
  items: number;
  versions: number;
  latest: string | null;
}

export interface VersionRow extends Record<string, unknown> {
  dataset: string;
  id: string;
  manifest_key: string;
  items: number;
  train: number;
  validation: number;
  parent: string | null;
  note: string | null;
  created_at: Date;
}

const DATASET_SELECT = `
  SELECT d.name, d.task, d.labels, d.model, d.created_at,
    (SELECT count(*)::int FROM dataset_items i WHERE i.dataset = d.name) AS items,
    (SELECT count(*)::int FROM dataset_versions v WHERE v.dataset = d.name) AS versions,
    (SELECT v.id FROM dataset_versions v WHERE v.dataset = d.name
       ORDER BY v.created_at DESC, v.id LIMIT 1) AS latest
  FROM datasets d`;

function datasetOf(row: DatasetRow): DatasetInfo {
  return {
    name: row.name,
    task: row.task,
    labels: row.labels,
    model: row.model,
    createdAt: row.created_at,
    items: row.items,
    versions: row.versions,
    latest: row.latest,
  };
}

export function versionOf(row: VersionRow): DatasetVersion {
  return {
    dataset: row.dataset,
    id: row.id,
    manifestKey: row.manifest_key,
    items: row.items,
    train: row.train,
    validation: row.validation,
    parent: row.parent,
    note: row.note,
    createdAt: row.created_at,
  };
}

export const VERSION_COLUMNS =
  'dataset, id, manifest_key, items, train, validation, parent, note, created_at';

export async function listDatasets(db: Queryable): Promise<DatasetInfo[]> {
  const { rows } = await db.query<DatasetRow>(`${DATASET_SELECT} ORDER BY d.name`);
  return rows.map(datasetOf);
}

/** The dataset `name`; DATASET_NOT_FOUND when there is none. */
export async function getDataset(db: Queryable, name: string): Promise<DatasetInfo> {
  const { rows } = await db.query<DatasetRow>(`${DATASET_SELECT} WHERE d.name = $1`, [name]);
  if (rows.length === 0) throw new SegserveError('DATASET_NOT_FOUND', { dataset: name });
  return datasetOf(rows[0]);
}

/** Every version of the dataset, newest first. */
export async function listVersions(db: Queryable, name: string): Promise<DatasetVersion[]> {
  await getDataset(db, name);
  const { rows } = await db.query<VersionRow>(
    `SELECT ${VERSION_COLUMNS} FROM dataset_versions WHERE dataset = $1 ORDER BY created_at DESC, id`,
    [name],
  );
  return rows.map(versionOf);
}

const VERSION_REF = /^[0-9a-f]{4,64}$/;

/** The version `ref` names: `latest`, a full id or a unique prefix of one. */
export async function resolveVersion(db: Queryable, name: string, ref: string): Promise<DatasetVersion> {
  const dataset = await getDataset(db, name);
  const notFound = () =>
    new SegserveError('DATASET_VERSION_NOT_FOUND', { dataset: name, version: ref.slice(0, 80) });
  if (ref === 'latest') {
    if (dataset.latest === null) throw notFound();
    ref = dataset.latest;
  }
  if (!VERSION_REF.test(ref)) throw notFound();
  const { rows } = await db.query<VersionRow>(
    `SELECT ${VERSION_COLUMNS} FROM dataset_versions WHERE dataset = $1 AND id LIKE $2 ORDER BY id LIMIT 2`,
    [name, `${ref}%`],
  );
  if (rows.length === 0) throw notFound();
  if (rows.length > 1) {
    throw new SegserveError('INVALID_ARGUMENT', {
      reason: `version prefix "${ref}" of dataset "${name}" names more than one version; give more characters`,
    });
  }
  return versionOf(rows[0]);
}

/**
 * The entries of a version, from its manifest in the BlobStore. The manifest's hash is checked against the
 * version id: a blob altered after the snapshot is reported, never exported as if it were the version.
 */
export async function readVersionEntries(
  blobs: BlobStore,
  version: DatasetVersion,
): Promise<ManifestEntry[]> {
  const bytes = await blobs.get(version.manifestKey);
  if (versionIdOf(bytes) !== version.id) {
    throw new SegserveError('STORAGE_FAILED', {
      store: blobs.description,
      reason: `the manifest of dataset "${version.dataset}" version ${version.id} does not match its id`,
    });
  }
  return parseManifest(bytes);
}
