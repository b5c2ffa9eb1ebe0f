/**
 * What changed between two versions of a dataset, from their manifests alone (no label is read): images added,
 * removed, and images whose label changed. Both manifests are sorted by image hash, so one merge pass finds all.
 */
import type { BlobStore, Database } from '../../storage/index.js';
import { type DatasetVersion, readVersionEntries, resolveVersion } from './catalog.js';
import type { ManifestEntry, Split } from './manifest.js';

export interface DiffEntry {
  image_sha256: string;
  label_sha256: string;
  split: Split;
}

export interface ChangedEntry {
  image_sha256: string;
  split: Split;
  from_label_sha256: string;
  to_label_sha256: string;
}

export interface VersionDiff {
  /** Null when `to` has no parent and no `from` was given: everything in `to` is added. */
  from: DatasetVersion | null;
  to: DatasetVersion;
  added: DiffEntry[];
  removed: DiffEntry[];
  changed: ChangedEntry[];
  unchanged: number;
}

const asDiffEntry = (e: ManifestEntry): DiffEntry => ({
  image_sha256: e.imageSha256,
  label_sha256: e.labelSha256,
  split: e.split,
});

/** Compares two manifests' entries (each sorted by image hash, as manifests are). */
export function diffEntries(
  from: readonly ManifestEntry[],
  to: readonly ManifestEntry[],
): Pick<VersionDiff, 'added' | 'removed' | 'changed' | 'unchanged'> {
  const result: Pick<VersionDiff, 'added' | 'removed' | 'changed' | 'unchanged'> = {
    added: [],
    removed: [],
    changed: [],
    unchanged: 0,
  };
  let i = 0;
  let j = 0;
  while (i < from.length || j < to.length) {
    const a = from[i];
    const b = to[j];
    if (b === undefined || (a !== undefined && a.imageSha256 < b.imageSha256)) {
      result.removed.push(asDiffEntry(a));
      i++;
    } else if (a === undefined || b.imageSha256 < a.imageSha256) {
      result.added.push(asDiffEntry(b));
      j++;
    } else {
      if (a.labelSha256 === b.labelSha256) result.unchanged++;
      else {
        result.changed.push({
          image_sha256: a.imageSha256,
          split: b.split,
          from_label_sha256: a.labelSha256,
          to_label_sha256: b.labelSha256,
        });
      }
      i++;
      j++;
    }
  }
  return result;
}

/**
 * The diff of dataset `name` from version `fromRef` to `toRef` (references as resolveVersion reads them);
 * without `fromRef`, from `to`'s parent.
 */
export async function diffVersions(
  db: Database,
  blobs: BlobStore,
  name: string,
  toRef: string,
  fromRef?: string,
): Promise<VersionDiff> {
  const to = await resolveVersion(db, name, toRef);
  const fromId = fromRef ?? to.parent;
  const from = fromId === null ? null : await resolveVersion(db, name, fromId);
  const fromEntries = from === null ? [] : await readVersionEntries(blobs, from);
  return { from, to, ...diffEntries(fromEntries, await readVersionEntries(blobs, to)) };
}
