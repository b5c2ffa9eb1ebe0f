/**
 * What a version holds per class: images, segments and pixels, overall and per split. Reading it takes every
 * label of the version, so it is computed once and kept in the BlobStore beside the manifests, under the version
 * id: a version never changes, so neither does its summary, and `show` costs one read from then on.
 */

import { rleArea, stringToCounts } from '../../masks/index.js';
import type { BlobStore, Database } from '../../storage/index.js';
import { decodeLabelDocument, type LabelDocument } from '../label-document.js';
import { type DatasetVersion, getDataset, readVersionEntries, resolveVersion } from './catalog.js';
import { type VersionDetailJson, versionDetailJson } from './json.js';
import { labelKeyOf, type ManifestEntry, SPLITS, type Split } from './manifest.js';

export interface ClassCount {
  class_id: number;
  label: string;
  /** Images with at least one segment of the class, in all and per split. */
  images: number;
  images_by_split: Record<Split, number>;
  /** Segments of the class: instances, or one per image for semantic and binary labels. */
  segments: number;
  pixels: number;
}

export interface VersionSummary {
  classes: ClassCount[];
  /** Images whose label has no segment (negative examples). */
  unlabelled_images: number;
}

const SUMMARY_FORMAT = 1;

export function summaryKeyOf(versionId: string): string {
  return `datasets/summaries/${versionId}.v${SUMMARY_FORMAT}.json`;
}

/** The label document of one entry of a version (checked by decodeLabelDocument). */
export async function readLabel(blobs: BlobStore, entry: ManifestEntry): Promise<LabelDocument> {
  return decodeLabelDocument(await blobs.get(labelKeyOf(entry)));
}

/** Calls `each` with every entry's label document, in manifest order. */
export async function forEachLabel(
  blobs: BlobStore,
  entries: readonly ManifestEntry[],
  each: (entry: ManifestEntry, label: LabelDocument, index: number) => void | Promise<void>,
): Promise<void> {
  for (let i = 0; i < entries.length; i++) await each(entries[i], await readLabel(blobs, entries[i]), i);
}

/** Counts per class of `labels` (the dataset's class names) over the entries. */
export async function summarize(
  blobs: BlobStore,
  entries: readonly ManifestEntry[],
  labels: readonly string[],
): Promise<VersionSummary> {
  const classes: ClassCount[] = labels.map((label, class_id) => ({
    class_id,
    label,
    images: 0,
    images_by_split: Object.fromEntries(SPLITS.map((s) => [s, 0])) as Record<Split, number>,
    segments: 0,
    pixels: 0,
  }));
  let unlabelled = 0;
  await forEachLabel(blobs, entries, (entry, label) => {
    if (label.segments.length === 0) unlabelled++;
    const seen = new Set<number>();
    for (const segment of label.segments) {
      const count = classes[segment.class_id];
      if (!count)
        throw new Error(`label ${entry.labelSha256} has class ${segment.class_id}, not a dataset class`);
      count.segments++;
      count.pixels += rleArea(stringToCounts(segment.rle.counts));
      seen.add(segment.class_id);
    }
    for (const id of seen) {
      classes[id].images++;
      classes[id].images_by_split[entry.split]++;
    }
  });
  return { classes, unlabelled_images: unlabelled };
}

/** The version's summary: the kept one, or computed from its labels and kept. */
export async function versionSummary(
  blobs: BlobStore,
  version: DatasetVersion,
  labels: readonly string[],
): Promise<VersionSummary> {
  const key = summaryKeyOf(version.id);
  if (await blobs.exists(key)) {
    return JSON.parse(new TextDecoder().decode(await blobs.get(key))) as VersionSummary;
  }
  const summary = await summarize(blobs, await readVersionEntries(blobs, version), labels);
  await blobs.put(key, new TextEncoder().encode(JSON.stringify(summary)));
  return summary;
}

/** Version `ref` of dataset `name` with its summary, as `datasets show` and the API answer it. */
export async function describeVersion(
  db: Database,
  blobs: BlobStore,
  name: string,
  ref: string,
): Promise<VersionDetailJson> {
  const version = await resolveVersion(db, name, ref);
  const dataset = await getDataset(db, name);
  return versionDetailJson(dataset, version, await versionSummary(blobs, version, dataset.labels));
}
