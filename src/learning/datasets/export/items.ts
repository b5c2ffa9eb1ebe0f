/** What every export format reads: the version's entries with their label documents, in manifest order. */
import type { BlobStore } from '../../../storage/index.js';
import type { LabelDocument } from '../../label-document.js';
import { imageFileOf, type ManifestEntry } from '../manifest.js';
import type { ProgressFactory } from '../progress.js';
import { forEachLabel } from '../summary.js';

export interface ExportItem {
  entry: ManifestEntry;
  label: LabelDocument;
  /** The image's file name in every export: `<sha256>.<ext>`, unique and stable across versions. */
  fileName: string;
}

export async function loadExportItems(
  blobs: BlobStore,
  entries: readonly ManifestEntry[],
  progress: ProgressFactory,
): Promise<ExportItem[]> {
  const items: ExportItem[] = [];
  const bar = progress(entries.length, 'labels');
  try {
    await forEachLabel(blobs, entries, (entry, label) => {
      items.push({ entry, label, fileName: imageFileOf(entry) });
      bar.tick();
    });
  } finally {
    bar.stop();
  }
  return items;
}

/** One file of an export, relative to its folder or prefix. */
export interface ExportFile {
  path: string;
  bytes: Uint8Array;
  contentType: string;
}

const encoder = new TextEncoder();

export function jsonFile(path: string, value: unknown): ExportFile {
  return { path, bytes: encoder.encode(`${JSON.stringify(value)}\n`), contentType: 'application/json' };
}

export function textFile(path: string, text: string, contentType = 'text/plain; charset=utf-8'): ExportFile {
  return { path, bytes: encoder.encode(text), contentType };
}

/** The names a semantic or binary dataset exports as classes: all but class 0, the background. */
export function foregroundClasses(dataset: {
  task: LabelDocument['task'];
  labels: readonly string[];
}): Array<[number, string]> {
  const all = dataset.labels.map((name, id): [number, string] => [id, name]);
  return dataset.task === 'instance' ? all : all.slice(1);
}

const XML_ENTITIES: Readonly<Record<string, string>> = {
  '<': 'lt',
  '>': 'gt',
  '&': 'amp',
  '"': 'quot',
  "'": 'apos',
};

/** Text for an XML attribute or element (class names may hold any character). */
export function escapeXml(text: string): string {
  return text.replace(/[<>&"']/g, (c) => `&${XML_ENTITIES[c]};`);
}
