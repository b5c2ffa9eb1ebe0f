/**
 * The working set of datasets (the `datasets` and `dataset_items` tables of migration 2), shared by what adds
 * items: a submitted label (the annotation queue adds it to the dataset named after the sample's model) and an
 * import. A snapshot (datasets) freezes the working set into an immutable version.
 */
import { SegserveError } from '../errors.js';
import type { Queryable } from '../storage/index.js';

export interface DatasetDefinition {
  name: string;
  task: 'semantic' | 'binary' | 'instance';
  /** Class names by class id; every label of the dataset indexes them. */
  labels: readonly string[];
  /** The model whose labels feed it, when it is a model's dataset. */
  model?: string;
}

export interface DatasetItem {
  dataset: string;
  imageSha256: string;
  imageKey: string;
  labelSha256: string;
  labelKey: string;
  width: number;
  height: number;
  /** The annotation-queue sample it came from; absent for imports. */
  sampleId?: string;
  /** `annotation`, `import:coco`, `import:masks`... */
  source: string;
}

/**
 * The dataset named `definition.name`, created when missing. One that exists with another task or other classes
 * is refused (DATASET_MISMATCH): its labels' class ids would mean other things.
 */
export async function ensureDataset(db: Queryable, definition: DatasetDefinition): Promise<void> {
  const { name, task, labels, model } = definition;
  await db.query(
    `INSERT INTO datasets (name, task, labels, model) VALUES ($1, $2, $3, $4) ON CONFLICT (name) DO NOTHING`,
    [name, task, [...labels], model ?? null],
  );
  const { rows } = await db.query<{ task: string; labels: string[] }>(
    'SELECT task, labels FROM datasets WHERE name = $1',
    [name],
  );
  const mismatch = datasetMismatch(rows[0], definition);
  if (mismatch) throw mismatch;
}

/**
 * DATASET_MISMATCH when a dataset defined as `existing` cannot take labels of `definition` (another task or
 * other classes); undefined when it can. Imports check this before they store anything.
 */
export function datasetMismatch(
  existing: { task: string; labels: readonly string[] },
  definition: DatasetDefinition,
): SegserveError | undefined {
  const { name, task, labels } = definition;
  const same =
    existing.task === task &&
    existing.labels.length === labels.length &&
    existing.labels.every((label, i) => label === labels[i]);
  if (same) return undefined;
  return new SegserveError('DATASET_MISMATCH', {
    dataset: name,
    reason: `it holds ${existing.task} labels of [${existing.labels.join(', ')}], not ${task} labels of [${labels.join(', ')}]`,
  });
}

/** Adds an image with its label to a dataset's working set, replacing the label an earlier item of it had. */
export async function upsertDatasetItem(db: Queryable, item: DatasetItem): Promise<void> {
  await db.query(
    `INSERT INTO dataset_items
       (dataset, image_sha256, image_key, label_sha256, label_key, width, height, sample_id, source)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
     ON CONFLICT (dataset, image_sha256) DO UPDATE SET
       label_sha256 = EXCLUDED.label_sha256, label_key = EXCLUDED.label_key, sample_id = EXCLUDED.sample_id,
       source = EXCLUDED.source, updated_at = now()`,
    [
      item.dataset,
      item.imageSha256,
      item.imageKey,
      item.labelSha256,
      item.labelKey,
      item.width,
      item.height,
      item.sampleId ?? null,
      item.source,
    ],
  );
}
