/** Imports: plan (read and check everything), then commit (store); see plan.ts and commit.ts. */
import type { BlobStore, Database } from '../../../storage/index.js';
import { type CocoImportOptions, planCocoImport } from './coco.js';
import { commitImport, type ImportResult } from './commit.js';
import { type MaskFolderImportOptions, planMaskFolderImport } from './mask-folder.js';

export { defaultImagesFolder } from './coco.js';
export {
  type MaskResize,
  maskClassIds,
  maskProblemText,
  parseMaskManifest,
  readMaskValues,
} from './mask-folder.js';
export { insideFolder, Problems } from './plan.js';
export type { CocoImportOptions, ImportResult, MaskFolderImportOptions };

export async function importCoco(
  db: Database,
  blobs: BlobStore,
  options: CocoImportOptions,
): Promise<ImportResult> {
  return commitImport(db, blobs, await planCocoImport(db, options), options.progress);
}

export async function importMaskFolder(
  db: Database,
  blobs: BlobStore,
  options: MaskFolderImportOptions,
): Promise<ImportResult> {
  return commitImport(db, blobs, await planMaskFolderImport(db, options), options.progress);
}
