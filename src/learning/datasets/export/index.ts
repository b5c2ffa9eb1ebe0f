/**
 * Exporting a dataset version: its images (`images/<sha256>.<ext>`), the annotation files of one format, and
 * `export.json` (what was exported: dataset, version, format, the installation it came from). Every annotation
 * file is built before anything is written, so a format that cannot hold the dataset (a mask folder of
 * instance labels) is refused with nothing written; see target.ts for how a target never shows half an export.
 */
import { SegserveError } from '../../../errors.js';
import { type BlobStore, contentTypeOf, type Database, type Queryable } from '../../../storage/index.js';
import {
  type DatasetInfo,
  type DatasetVersion,
  getDataset,
  readVersionEntries,
  resolveVersion,
} from '../catalog.js';
import { imageKeyOf, type Split } from '../manifest.js';
import { noProgress, type ProgressFactory } from '../progress.js';
import { type CocoInstances, cocoDocuments, cocoFiles } from './coco.js';
import { cvatFiles, cvatXml } from './cvat.js';
import { type ExportFile, type ExportItem, jsonFile, loadExportItems } from './items.js';
import { labelStudioFiles, labelStudioTasks } from './label-studio.js';
import { maskFolderFiles } from './mask-folder.js';
import { EXPORT_RECORD, type ExportTarget } from './target.js';

export const EXPORT_FORMATS = ['coco', 'masks', 'label-studio', 'cvat'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

export function parseExportFormat(text: string): ExportFormat {
  if ((EXPORT_FORMATS as readonly string[]).includes(text)) return text as ExportFormat;
  throw new SegserveError('INVALID_ARGUMENT', {
    reason: `export format "${text.slice(0, 40)}" is not one of ${EXPORT_FORMATS.join(', ')}`,
  });
}

export interface ExportOptions {
  /** Label Studio only: what `data.image` starts with (default `images/`). */
  imageRoot?: string;
  progress?: ProgressFactory;
}

/** The annotation files of `format` (no images), built from the version's labels. */
export function buildFormat(
  format: ExportFormat,
  dataset: DatasetInfo,
  version: DatasetVersion,
  items: readonly ExportItem[],
  options: ExportOptions = {},
): ExportFile[] {
  switch (format) {
    case 'coco':
      return cocoFiles(dataset, version.id, items);
    case 'masks':
      return maskFolderFiles(dataset, items);
    case 'label-studio':
      return labelStudioFiles(dataset, items, options.imageRoot);
    case 'cvat':
      return cvatFiles(dataset, version.id, items);
  }
}

export interface ExportRecord {
  format: ExportFormat;
  dataset: string;
  version: string;
  installation: string;
  task: DatasetInfo['task'];
  labels: string[];
  images: number;
  splits: Record<Split, number>;
  /** The annotation files, relative to the export's folder or prefix. */
  files: string[];
}

export interface ExportResult {
  record: ExportRecord;
  target: string;
  /** False when the target already held this export: nothing was written. */
  written: boolean;
}

async function installationId(db: Queryable): Promise<string> {
  const { rows } = await db.query<{ id: string }>('SELECT id FROM installation');
  return rows[0].id;
}

/** The version `ref` of dataset `name` with its items, ready to build formats from. */
export async function loadVersion(
  db: Database,
  blobs: BlobStore,
  name: string,
  ref: string,
  progress: ProgressFactory = noProgress,
): Promise<{ dataset: DatasetInfo; version: DatasetVersion; items: ExportItem[] }> {
  const version = await resolveVersion(db, name, ref);
  const dataset = await getDataset(db, name);
  const items = await loadExportItems(blobs, await readVersionEntries(blobs, version), progress);
  return { dataset, version, items };
}

/** Exports version `ref` of dataset `name` as `format` to `target` (which it commits, or aborts on failure). */
export async function exportVersion(
  db: Database,
  blobs: BlobStore,
  name: string,
  ref: string,
  format: ExportFormat,
  target: ExportTarget,
  options: ExportOptions = {},
): Promise<ExportResult> {
  const progress = options.progress ?? noProgress;
  try {
    const { dataset, version, items } = await loadVersion(db, blobs, name, ref, progress);
    const files = buildFormat(format, dataset, version, items, options);
    const record: ExportRecord = {
      format,
      dataset: dataset.name,
      version: version.id,
      installation: await installationId(db),
      task: dataset.task,
      labels: [...dataset.labels],
      images: items.length,
      splits: { train: version.train, validation: version.validation },
      files: files.map((file) => file.path),
    };
    const recordFile = jsonFile(EXPORT_RECORD, record);
    const existing = await target.existingRecord();
    if (existing) {
      if (Buffer.from(existing).equals(Buffer.from(recordFile.bytes))) {
        return { record, target: target.description, written: false };
      }
      throw new SegserveError('OUTPUT_NOT_WRITABLE', {
        path: target.description,
        reason: 'it holds another export; export to a new prefix',
      });
    }
    const bar = progress(items.length, 'images');
    try {
      for (const item of items) {
        const key = imageKeyOf(item.entry);
        await target.write(`images/${item.fileName}`, await blobs.get(key), contentTypeOf(key));
        bar.tick(item.fileName.slice(0, 12));
      }
    } finally {
      bar.stop();
    }
    for (const file of [...files, recordFile]) await target.write(file.path, file.bytes, file.contentType);
    await target.commit();
    return { record, target: target.description, written: true };
  } catch (error) {
    await target.abort();
    throw error;
  }
}

export interface ExportDocument {
  contentType: string;
  body: string;
}

/**
 * One format as a single document, for answering over HTTP without writing files: COCO instances JSON (one split,
 * or both in one file), Label Studio tasks, CVAT XML, each referring to images by `<sha256>.<ext>`. A mask folder
 * is many files: INVALID_ARGUMENT, export it to a prefix instead.
 */
export async function exportDocument(
  db: Database,
  blobs: BlobStore,
  name: string,
  ref: string,
  format: ExportFormat,
  options: { split?: Split; imageRoot?: string } = {},
): Promise<ExportDocument> {
  if (format === 'masks') {
    throw new SegserveError('INVALID_ARGUMENT', {
      reason:
        'a mask folder is many files: export it to a blob prefix (or with segserve datasets export --out)',
    });
  }
  const { dataset, version, items: all } = await loadVersion(db, blobs, name, ref);
  const { split } = options;
  const items = split === undefined ? all : all.filter((item) => item.entry.split === split);
  const json = (value: unknown) => ({ contentType: 'application/json', body: JSON.stringify(value) });
  if (format === 'label-studio') return json(labelStudioTasks(items, options.imageRoot));
  if (format === 'cvat') return { contentType: 'application/xml', body: cvatXml(dataset, version.id, items) };
  return json(cocoDocument(dataset, version.id, items, split));
}

/**
 * The COCO instances document of a version's items: the images of one split, or of both in one document. Image
 * ids are positions in `items` counted from 1, as in every COCO export (cocoDocuments).
 */
export function cocoDocument(
  dataset: Pick<DatasetInfo, 'name' | 'task' | 'labels'>,
  versionId: string,
  items: readonly ExportItem[],
  split?: Split,
): CocoInstances {
  const documents = cocoDocuments(dataset, versionId, items);
  if (split !== undefined) return documents[split];
  return {
    info: { description: `segserve dataset ${dataset.name}`, version: versionId },
    images: [...documents.train.images, ...documents.validation.images].sort((a, b) => a.id - b.id),
    annotations: [...documents.train.annotations, ...documents.validation.annotations].sort(
      (a, b) => a.id - b.id,
    ),
    categories: documents.train.categories,
  };
}
