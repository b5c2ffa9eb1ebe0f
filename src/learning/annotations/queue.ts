/**
 * The annotation queue: the samples the sink kept (migration 2's `samples` rows, their images and predictions in
 * the BlobStore), listed most uncertain first, claimed by annotators, and labelled, skipped or rejected.
 *
 * A submitted label is stored so that nothing is ever half there: its document goes to the BlobStore first
 * (content-addressed, so a retry writes nothing new and a blob no row names is harmless), then one transaction
 * checks the claim again, writes the `labels` row, marks the sample labelled and puts the image with its label
 * into the working set of the dataset named after the model. Either all of those rows exist or none does.
 */
import { createHash } from 'node:crypto';
import { SegserveError } from '../../errors.js';
import type { StorageAccess } from '../../storage/index.js';
import { ensureDataset, upsertDatasetItem } from '../dataset-items.js';
import { decodeLabelDocument, encodeLabelDocument, type LabelDocument } from '../label-document.js';
import {
  changeClaimed,
  claimItem,
  claimNextItem,
  type NextFilter,
  readClaim,
  releaseItem,
  requireClaim,
} from './claims.js';
import { type LabelSubmission, labelDocumentFor, SUBMITTED_AS } from './label-input.js';
import { afterCursorSql, decodeCursor, encodeCursor, ORDER_SQL } from './order.js';
import { itemJson, SAMPLE_FROM_SQL, type SampleRow } from './rows.js';
import type { AnnotationItemJson, AnnotationListJson, AnnotationSummaryJson, SampleState } from './types.js';

/** Default claim: long enough for a careful correction, short enough that an abandoned item soon returns. */
export const DEFAULT_CLAIM_MS = 10 * 60_000;
export const DEFAULT_PAGE_SIZE = 50;
export const MAX_PAGE_SIZE = 500;

export interface AnnotationQueueOptions {
  /** How long a claim holds an item (default DEFAULT_CLAIM_MS). */
  claimMs?: number;
  /** Epoch milliseconds now; tests inject a clock to expire claims. */
  now?: () => number;
}

export interface ListQuery {
  model: string;
  state?: SampleState;
  strategy?: string;
  /** A class the prediction holds. */
  className?: string;
  /** Predicted at or after. */
  since?: Date;
  /** Predicted before. */
  until?: Date;
  limit?: number;
  cursor?: string;
}

export interface StoredImage {
  bytes: Uint8Array;
  contentType: string;
}

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

export class AnnotationQueue {
  readonly claimMs: number;
  private readonly now: () => number;

  constructor(
    private readonly stores: StorageAccess,
    options: AnnotationQueueOptions = {},
  ) {
    this.claimMs = options.claimMs ?? DEFAULT_CLAIM_MS;
    this.now = options.now ?? Date.now;
  }

  async list(query: ListQuery): Promise<AnnotationListJson> {
    const limit = query.limit ?? DEFAULT_PAGE_SIZE;
    const params: Array<string | number | Date> = [query.model, query.state ?? 'queued'];
    const where = ['s.model = $1', 's.state = $2'];
    const add = (value: string | number | Date, clause: (placeholder: string) => string) => {
      params.push(value);
      where.push(clause(`$${params.length}`));
    };
    if (query.strategy !== undefined) add(query.strategy, (p) => `s.strategy = ${p}`);
    if (query.className !== undefined) add(query.className, (p) => `${p} = ANY(s.classes)`);
    if (query.since !== undefined) add(query.since, (p) => `s.predicted_at >= ${p}`);
    if (query.until !== undefined) add(query.until, (p) => `s.predicted_at < ${p}`);
    if (query.cursor !== undefined) {
      const after = decodeCursor(query.cursor);
      params.push(after.priority, after.id);
      where.push(afterCursorSql(params.length - 1));
    }
    params.push(limit + 1);
    const db = await this.stores.database();
    const { rows } = await db.query<SampleRow>(
      `${SAMPLE_FROM_SQL} WHERE ${where.join(' AND ')} ORDER BY ${ORDER_SQL} LIMIT $${params.length}`,
      params,
    );
    const now = this.now();
    const page = rows.slice(0, limit);
    const last = page[page.length - 1];
    return {
      items: page.map((row) => itemJson(row, now)),
      next_cursor:
        rows.length > limit && last ? encodeCursor({ priority: last.priority, id: last.id }) : null,
    };
  }

  async get(id: string): Promise<AnnotationItemJson> {
    return itemJson(await this.row(id), this.now());
  }

  async summary(model: string): Promise<AnnotationSummaryJson> {
    const db = await this.stores.database();
    const { rows } = await db.query<{ state: SampleState; items: number; claimed: number }>(
      `SELECT state, count(*)::int AS items,
              count(*) FILTER (WHERE claimed_by IS NOT NULL AND claim_expires_at > $2)::int AS claimed
       FROM samples WHERE model = $1 GROUP BY state`,
      [model, new Date(this.now())],
    );
    const count = (state: SampleState) => rows.find((r) => r.state === state);
    const queued = count('queued');
    return {
      model,
      queued: queued?.items ?? 0,
      claimed: queued?.claimed ?? 0,
      available: (queued?.items ?? 0) - (queued?.claimed ?? 0),
      labelled: count('labelled')?.items ?? 0,
      rejected: count('rejected')?.items ?? 0,
    };
  }

  /** The image as it was sent for the prediction. */
  async image(id: string): Promise<StoredImage> {
    const row = await this.row(id);
    const blobs = await this.stores.blobs();
    return { bytes: await blobs.get(row.image_key), contentType: `image/${row.image_format}` };
  }

  /** The model's prediction for the item, as a label document: what an annotator starts from. */
  async prediction(id: string): Promise<LabelDocument> {
    return this.predictionOf(await this.row(id));
  }

  /** The label submitted for the item; LABEL_NOT_FOUND while it has none. */
  async label(id: string): Promise<LabelDocument> {
    const row = await this.row(id);
    if (row.label_key === null) throw new SegserveError('LABEL_NOT_FOUND', { id, state: row.state });
    const blobs = await this.stores.blobs();
    return decodeLabelDocument(await blobs.get(row.label_key));
  }

  /** Claims the item for `annotator` (renewing their own claim); SAMPLE_CLAIMED while another holds it. */
  async claim(id: string, annotator: string): Promise<AnnotationItemJson> {
    const db = await this.stores.database();
    const now = this.now();
    await claimItem(db, id, annotator, now, now + this.claimMs);
    return this.get(id);
  }

  /** Claims the most uncertain item of the model nobody holds (the caller's own claims first), or null. */
  async claimNext(filter: NextFilter, annotator: string): Promise<AnnotationItemJson | null> {
    const db = await this.stores.database();
    const now = this.now();
    const id = await claimNextItem(db, filter, annotator, now, now + this.claimMs);
    return id === undefined ? null : this.get(id);
  }

  /** Gives the item back to the queue without counting a skip. */
  async release(id: string, annotator: string): Promise<AnnotationItemJson> {
    await releaseItem(await this.stores.database(), id, annotator, this.now());
    return this.get(id);
  }

  /** Releases the claim and counts a skip, which moves the item down the queue (see order.ts). */
  async skip(id: string, annotator: string): Promise<AnnotationItemJson> {
    const db = await this.stores.database();
    await changeClaimed(db, id, annotator, this.now(), 'skip_count = skip_count + 1');
    return this.get(id);
  }

  /** Takes the item out of the queue for good: not worth a label (blurred, off-topic, a duplicate). */
  async reject(id: string, annotator: string): Promise<AnnotationItemJson> {
    const db = await this.stores.database();
    await changeClaimed(db, id, annotator, this.now(), "state = 'rejected'");
    return this.get(id);
  }

  /** Stores the label of an item the annotator holds (see the module comment for how it is stored). */
  async submit(id: string, annotator: string, submission: LabelSubmission): Promise<AnnotationItemJson> {
    const row = await this.row(id);
    // Refused before any work when the claim is not held; checked again, under a row lock, in the transaction.
    requireClaim(id, row, annotator, this.now());
    const document = labelDocumentFor(
      { width: row.width, height: row.height, prediction: await this.predictionOf(row) },
      submission,
    );
    const bytes = encodeLabelDocument(document);
    const blobs = await this.stores.blobs();
    const { key } = await blobs.putContent(bytes, { ext: 'json' });
    const db = await this.stores.database();
    await db.transaction(async (tx) => {
      requireClaim(id, await readClaim(tx, id, true), annotator, this.now());
      const labelSha256 = sha256(bytes);
      const labelledAt = new Date(this.now());
      await tx.query(
        `INSERT INTO labels (sample_id, label_key, label_sha256, submitted_as, labelled_by, labelled_at)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (sample_id) DO UPDATE SET label_key = EXCLUDED.label_key,
           label_sha256 = EXCLUDED.label_sha256, submitted_as = EXCLUDED.submitted_as,
           labelled_by = EXCLUDED.labelled_by, labelled_at = EXCLUDED.labelled_at`,
        [id, key, labelSha256, SUBMITTED_AS[submission.format], annotator, labelledAt],
      );
      await tx.query(
        `UPDATE samples SET state = 'labelled', claimed_by = NULL, claim_expires_at = NULL WHERE id = $1`,
        [id],
      );
      await ensureDataset(tx, {
        name: row.model,
        task: document.task,
        labels: document.labels,
        model: row.model,
      });
      await upsertDatasetItem(tx, {
        dataset: row.model,
        imageSha256: row.image_sha256,
        imageKey: row.image_key,
        labelSha256,
        labelKey: key,
        width: row.width,
        height: row.height,
        sampleId: id,
        source: 'annotation',
      });
    });
    return this.get(id);
  }

  private async row(id: string): Promise<SampleRow> {
    const db = await this.stores.database();
    const { rows } = await db.query<SampleRow>(`${SAMPLE_FROM_SQL} WHERE s.id = $1`, [id]);
    if (!rows[0]) throw new SegserveError('SAMPLE_NOT_FOUND', { id });
    return rows[0];
  }

  private async predictionOf(row: SampleRow): Promise<LabelDocument> {
    const blobs = await this.stores.blobs();
    const bytes = await blobs.get(row.prediction_key);
    try {
      return decodeLabelDocument(bytes);
    } catch (error) {
      // The stored prediction is the server's own data: its fault is not the client's (so not LABEL_INVALID).
      throw new Error(`the stored prediction of sample ${row.id} is unreadable: ${(error as Error).message}`);
    }
  }
}
