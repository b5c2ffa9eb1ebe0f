/**
 * Stores one sample: the image and the label document as content-addressed blobs, then its `samples` row.
 * Every step is idempotent, so storing a record again (a spool replayed after a crash mid-replay) writes
 * nothing twice: a blob already held is not written again (putContent), and a row already there is left as it
 * is (`ON CONFLICT (id) DO NOTHING`, the id being a function of model, version and image hash). The blobs go
 * first, so a row never names a blob that is missing.
 */
import { isSegserveError } from '../../errors.js';
import { type BlobStore, contentHashOf, type Database } from '../../storage/index.js';
import { imageContentType, type SampleRecord, sampleId } from './sample-record.js';

/** Where samples go; the server's LazyStorage (each store opened on first use) is one. */
export interface SampleStores {
  blobs(): Promise<BlobStore>;
  database(): Promise<Database>;
}

export type StoreOutcome =
  /** `created`: false when the sample was already stored (the same image for the same model version). */
  | { kind: 'stored'; id: string; created: boolean }
  /** The store cannot be reached now: keep the record and try again later. */
  | { kind: 'unavailable'; error: unknown }
  /** The store answered with a refusal that trying again will not change. */
  | { kind: 'refused'; error: unknown };

const INSERT = `
  INSERT INTO samples (id, model, version, variant, prediction_id, request_id, source, task, strategy,
    uncertainty, image_key, image_sha256, image_format, width, height, prediction_key, classes, predicted_at)
  VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)
  ON CONFLICT (id) DO NOTHING`;

export async function storeSample(stores: SampleStores, record: SampleRecord): Promise<StoreOutcome> {
  let blobs: BlobStore;
  let db: Database;
  try {
    [blobs, db] = await Promise.all([stores.blobs(), stores.database()]);
  } catch (error) {
    // An open that fails is the store as a whole, whatever the code: PostgreSQL still starting, the embedded
    // database held by a process on its way out, a volume not mounted yet. Nothing about this record is wrong,
    // and the next open tries again (LazyStorage forgets a failed open), so the record waits in the spool.
    return { kind: 'unavailable', error };
  }
  try {
    const { meta } = record;
    const image = await blobs.putContent(record.image, { contentType: imageContentType(meta.imageFormat) });
    const label = await blobs.putContent(record.label, { ext: 'json' });
    const imageSha256 = contentHashOf(image.key);
    if (imageSha256 === undefined)
      throw new Error(`putContent answered a key that is not content-addressed: ${image.key}`);
    const id = sampleId(meta.model, meta.version, imageSha256);
    const { rowCount } = await db.query(INSERT, [
      id,
      meta.model,
      meta.version,
      meta.variant,
      meta.predictionId,
      meta.requestId,
      meta.source,
      meta.task,
      meta.strategy,
      meta.uncertainty,
      image.key,
      imageSha256,
      meta.imageFormat,
      meta.width,
      meta.height,
      label.key,
      meta.classes,
      new Date(meta.predictedAt),
    ]);
    return { kind: 'stored', id, created: rowCount > 0 };
  } catch (error) {
    const retryable = isSegserveError(error) && error.code === 'STORAGE_UNAVAILABLE';
    return retryable ? { kind: 'unavailable', error } : { kind: 'refused', error };
  }
}
