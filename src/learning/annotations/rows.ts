/** A `samples` row (migration 2) with its label, as the queue reads it, and as the API answers it. */
import { PRIORITY_SQL } from './order.js';
import type { AnnotationItemJson, SampleState, SampleTask, SubmittedAs } from './types.js';

/** A type alias rather than an interface, so it fits the Database port's `Record<string, unknown>` rows. */
export type SampleRow = {
  id: string;
  model: string;
  version: number;
  variant: string;
  source: string;
  task: SampleTask;
  strategy: string;
  uncertainty: number;
  priority: number;
  image_key: string;
  image_sha256: string;
  image_format: string;
  width: number;
  height: number;
  prediction_key: string;
  classes: string[];
  predicted_at: Date;
  created_at: Date;
  state: SampleState;
  skip_count: number;
  claimed_by: string | null;
  claim_expires_at: Date | null;
  label_key: string | null;
  label_sha256: string | null;
  submitted_as: SubmittedAs | null;
  labelled_by: string | null;
  labelled_at: Date | null;
};

/** The select list and joins that give a SampleRow; filter on `s.` columns. */
export const SAMPLE_FROM_SQL = `
  SELECT s.id, s.model, s.version, s.variant, s.source, s.task, s.strategy, s.uncertainty,
         ${PRIORITY_SQL} AS priority, s.image_key, s.image_sha256, s.image_format, s.width, s.height,
         s.prediction_key, s.classes, s.predicted_at, s.created_at, s.state, s.skip_count, s.claimed_by,
         s.claim_expires_at, l.label_key, l.label_sha256, l.submitted_as, l.labelled_by, l.labelled_at
  FROM samples s LEFT JOIN labels l ON l.sample_id = s.id`;

/** Whether `row` is held now by a claim that has not expired. */
export function liveClaim(
  row: Pick<SampleRow, 'claimed_by' | 'claim_expires_at'>,
  now: number,
): { annotator: string; expires: Date } | undefined {
  if (row.claimed_by === null || row.claim_expires_at === null) return undefined;
  if (row.claim_expires_at.getTime() <= now) return undefined;
  return { annotator: row.claimed_by, expires: row.claim_expires_at };
}

export function itemJson(row: SampleRow, now: number): AnnotationItemJson {
  const claim = liveClaim(row, now);
  return {
    id: row.id,
    model: row.model,
    version: row.version,
    variant: row.variant,
    task: row.task,
    strategy: row.strategy,
    uncertainty: row.uncertainty,
    priority: row.priority,
    image: { width: row.width, height: row.height, format: row.image_format, sha256: row.image_sha256 },
    classes: row.classes,
    source: row.source,
    predicted_at: row.predicted_at.toISOString(),
    created_at: row.created_at.toISOString(),
    state: row.state,
    skip_count: row.skip_count,
    claim: claim ? { annotator: claim.annotator, expires_at: claim.expires.toISOString() } : null,
    label:
      row.submitted_as !== null && row.labelled_at !== null && row.label_sha256 !== null
        ? {
            submitted_as: row.submitted_as,
            labelled_by: row.labelled_by,
            labelled_at: row.labelled_at.toISOString(),
            sha256: row.label_sha256,
          }
        : null,
  };
}
