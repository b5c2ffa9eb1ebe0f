/**
 * Storing a validated import: every image and label document into the BlobStore (content-addressed, so a
 * repeated import writes nothing new), then every dataset item in one database transaction. A failure before
 * the transaction commits leaves the dataset as it was: blobs already stored are unreferenced content, which no
 * dataset lists and the next import of the same files reuses.
 */
import { readFile } from 'node:fs/promises';
import { SegserveError } from '../../../errors.js';
import type { BlobStore, Database } from '../../../storage/index.js';
import { ensureDataset, upsertDatasetItem } from '../../dataset-items.js';
import { LABEL_EXT } from '../manifest.js';
import { noProgress, type ProgressFactory } from '../progress.js';
import { type ImportPlan, sha256Of } from './plan.js';

export interface ImportResult {
  dataset: string;
  task: ImportPlan['dataset']['task'];
  labels: readonly string[];
  /** Images read from the import. */
  images: number;
  /** Working-set items that are new, that had another label, and that had this very label already. */
  added: number;
  replaced: number;
  unchanged: number;
  skipped: Record<string, number>;
}

export async function commitImport(
  db: Database,
  blobs: BlobStore,
  plan: ImportPlan,
  progress: ProgressFactory = noProgress,
): Promise<ImportResult> {
  const keys: Array<{ image: string; label: string }> = [];
  const bar = progress(plan.items.length, 'store');
  try {
    for (const item of plan.items) {
      const bytes = await readFile(item.imagePath);
      if (sha256Of(bytes) !== item.imageSha256) {
        throw new SegserveError('DATASET_IMPORT_INVALID', {
          source: item.imagePath,
          reason: 'the file changed while it was being imported',
        });
      }
      const image = await blobs.putContent(bytes, { ext: item.imageExt });
      const label = await blobs.putContent(item.label, { ext: LABEL_EXT });
      keys.push({ image: image.key, label: label.key });
      bar.tick(item.name);
    }
  } finally {
    bar.stop();
  }
  const name = plan.dataset.name;
  return db.transaction(async (tx) => {
    await ensureDataset(tx, plan.dataset);
    const { rows } = await tx.query<{ image_sha256: string; label_sha256: string }>(
      'SELECT image_sha256, label_sha256 FROM dataset_items WHERE dataset = $1',
      [name],
    );
    const before = new Map(rows.map((row) => [row.image_sha256, row.label_sha256]));
    const result: ImportResult = {
      dataset: name,
      task: plan.dataset.task,
      labels: plan.dataset.labels,
      images: plan.items.length,
      added: 0,
      replaced: 0,
      unchanged: 0,
      skipped: plan.skipped,
    };
    for (const [i, item] of plan.items.entries()) {
      const previous = before.get(item.imageSha256);
      if (previous === item.labelSha256) {
        result.unchanged++;
        continue;
      }
      if (previous === undefined) result.added++;
      else result.replaced++;
      await upsertDatasetItem(tx, {
        dataset: name,
        imageSha256: item.imageSha256,
        imageKey: keys[i].image,
        labelSha256: item.labelSha256,
        labelKey: keys[i].label,
        width: item.width,
        height: item.height,
        source: plan.source,
      });
    }
    return result;
  });
}
