/**
 * Datasets (issue 10, point 5): named datasets whose working set (dataset-items.ts) is frozen into immutable,
 * content-addressed versions; their summaries and diffs; exports to COCO, mask PNG folders, Label Studio and
 * CVAT; imports from COCO and mask folders. The CLI (`segserve datasets`) and the HTTP API use this surface.
 */
export {
  type DatasetInfo,
  type DatasetVersion,
  getDataset,
  listDatasets,
  listVersions,
  readVersionEntries,
  resolveVersion,
} from './catalog.js';
export { type ChangedEntry, type DiffEntry, diffVersions, type VersionDiff } from './diff.js';
export type { CocoInstances } from './export/coco.js';
export {
  buildFormat,
  cocoDocument,
  EXPORT_FORMATS,
  type ExportDocument,
  type ExportFormat,
  type ExportOptions,
  type ExportRecord,
  type ExportResult,
  exportDocument,
  exportVersion,
  loadVersion,
  parseExportFormat,
} from './export/index.js';
export type { ExportFile, ExportItem } from './export/items.js';
export { blobTarget, type ExportTarget, folderTarget } from './export/target.js';
export {
  type CocoImportOptions,
  defaultImagesFolder,
  type ImportResult,
  importCoco,
  importMaskFolder,
  insideFolder,
  type MaskFolderImportOptions,
  type MaskResize,
  maskClassIds,
  maskProblemText,
  Problems,
  parseMaskManifest,
  readMaskValues,
} from './import/index.js';
export {
  type DatasetJson,
  type DiffJson,
  datasetJson,
  diffJson,
  type VersionDetailJson,
  type VersionJson,
  versionDetailJson,
  versionJson,
} from './json.js';
export {
  imageFileOf,
  imageKeyOf,
  type ManifestEntry,
  SPLITS,
  type Split,
  splitOf,
  VALIDATION_FRACTION,
} from './manifest.js';
export type { Progress, ProgressFactory } from './progress.js';
export { type Snapshot, snapshotDataset } from './snapshot.js';
export {
  type ClassCount,
  describeVersion,
  readLabel,
  type VersionSummary,
  versionSummary,
} from './summary.js';
