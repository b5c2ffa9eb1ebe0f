/**
 * The jobs and their inputs in the database (migration 5). Every change a worker makes is guarded by the state
 * it expects, in one transaction with the counters it moves, so at-least-once delivery never counts an input
 * twice and a job ends once: an input leaves `pending` once, a job leaves `running`/`cancelling` once.
 */
import type { Database } from '../storage/index.js';
import type {
  JobFormat,
  JobInput,
  JobInputError,
  JobInputState,
  JobInputView,
  JobProgress,
  JobSource,
  JobState,
  JobTarget,
  JobView,
  JobWebhookStatus,
} from './wire-types.js';

/** What the jobs row keeps of a submission besides the target. */
export interface JobSpec {
  /** describeLocation of the output: a store prefix, or s3://bucket/prefix/. */
  output: string;
  formats: JobFormat[];
  webhookUrl?: string;
  /**
   * The job's own files under the output location: `manifest.json` and `coco-results.json` for a job of its
   * own; under `_jobs/<id>/` for jobs that share one output location (one job per storage event).
   */
  manifestName: string;
  cocoResultsName: string;
}

export interface NewJob {
  id: string;
  idempotencyKey?: string;
  source: JobSource;
  target: JobTarget;
  spec: JobSpec;
  webhookSecret?: string;
  createdBy: string;
  inputs: Array<{ input: JobInput; name: string; imageId: number }>;
}

interface JobRow extends Record<string, unknown> {
  id: string;
  state: JobState;
  source: JobSource;
  target: JobTarget;
  spec: JobSpec;
  webhook_secret: string | null;
  total: number;
  done: number;
  failed: number;
  cancelled: number;
  created_at: Date;
  finished_at: Date | null;
  webhook: JobWebhookStatus | null;
}

export interface JobRecord {
  view: JobView;
  spec: JobSpec;
  webhookSecret?: string;
}

interface InputRow extends Record<string, unknown> {
  idx: number;
  input: JobInput;
  name: string;
  image_id: number;
  state: JobInputState;
  attempts: number;
  error: JobInputError | null;
  outputs: string[] | null;
  served_by: JobInputView['served_by'] | null;
}

export interface ClaimedInput {
  jobState: JobState;
  input: JobInput;
  name: string;
  imageId: number;
  state: JobInputState;
  attempts: number;
}

export type InputOutcome =
  | { state: 'done'; outputs: string[]; servedBy: NonNullable<JobInputView['served_by']> }
  | { state: 'failed'; error: JobInputError };

export const MANIFEST_NAME = 'manifest.json';
export const COCO_RESULTS_NAME = 'coco-results.json';
/** Where jobs sharing an output location keep their own files. */
export const SHARED_OUTPUT_FOLDER = '_jobs';

function progressOf(row: JobRow): JobProgress {
  return { total: row.total, done: row.done, failed: row.failed, cancelled: row.cancelled };
}

function isFinished(state: JobState): boolean {
  return state === 'completed' || state === 'failed' || state === 'cancelled';
}

function viewOf(row: JobRow, now = Date.now()): JobView {
  const end = row.finished_at?.getTime() ?? now;
  const finished = isFinished(row.state);
  return {
    id: row.id,
    state: row.state,
    source: row.source,
    target: row.target,
    output: row.spec.output,
    formats: row.spec.formats,
    progress: progressOf(row),
    created_at: row.created_at.toISOString(),
    ...(row.finished_at ? { finished_at: row.finished_at.toISOString() } : {}),
    elapsed_s: Math.max(0, (end - row.created_at.getTime()) / 1000),
    ...(finished ? { manifest_key: `${row.spec.output}${row.spec.manifestName}` } : {}),
    ...(finished && row.spec.formats.includes('coco')
      ? { coco_results_key: `${row.spec.output}${row.spec.cocoResultsName}` }
      : {}),
    ...(row.webhook ? { webhook: row.webhook } : {}),
  };
}

function recordOf(row: JobRow): JobRecord {
  return {
    view: viewOf(row),
    spec: row.spec,
    ...(row.webhook_secret ? { webhookSecret: row.webhook_secret } : {}),
  };
}

export function inputViewOf(row: InputRow): JobInputView {
  return {
    index: row.idx,
    input: row.input,
    name: row.name,
    state: row.state,
    attempts: row.attempts,
    ...(row.outputs ? { outputs: row.outputs } : {}),
    ...(row.served_by ? { served_by: row.served_by } : {}),
    ...(row.error ? { error: row.error } : {}),
  };
}

/** Rows per INSERT when a job's inputs are written: well under PostgreSQL's 65 535 parameters. */
const INSERT_CHUNK = 1_000;

export class JobStore {
  constructor(private readonly db: Database) {}

  /**
   * Creates the job and its inputs in one transaction. With an idempotency key already used, creates nothing
   * and answers the job that key made.
   */
  async create(job: NewJob): Promise<{ record: JobRecord; created: boolean }> {
    return this.db.transaction(async (tx) => {
      const { rows } = await tx.query<JobRow>(
        `INSERT INTO jobs (id, idempotency_key, state, source, target, spec, webhook_secret, total, created_by,
           webhook)
         VALUES ($1, $2, 'running', $3, $4::jsonb, $5::jsonb, $6, $7, $8, $9::jsonb)
         ON CONFLICT (idempotency_key) DO NOTHING RETURNING *`,
        [
          job.id,
          job.idempotencyKey ?? null,
          job.source,
          JSON.stringify(job.target),
          JSON.stringify(job.spec),
          job.webhookSecret ?? null,
          job.inputs.length,
          job.createdBy,
          job.spec.webhookUrl
            ? JSON.stringify({
                url: job.spec.webhookUrl,
                state: 'pending',
                attempts: 0,
              } satisfies JobWebhookStatus)
            : null,
        ],
      );
      if (rows.length === 0) {
        const existing = await tx.query<JobRow>('SELECT * FROM jobs WHERE idempotency_key = $1', [
          job.idempotencyKey ?? null,
        ]);
        return { record: recordOf(existing.rows[0]), created: false };
      }
      for (let start = 0; start < job.inputs.length; start += INSERT_CHUNK) {
        const chunk = job.inputs.slice(start, start + INSERT_CHUNK);
        await tx.query(
          `INSERT INTO job_inputs (job_id, idx, input, name, image_id)
           SELECT $1, idx, input, name, image_id
           FROM unnest($2::int[], $3::jsonb[], $4::text[], $5::int[]) AS t(idx, input, name, image_id)`,
          [
            job.id,
            chunk.map((_, i) => start + i),
            chunk.map((item) => JSON.stringify(item.input)),
            chunk.map((item) => item.name),
            chunk.map((item) => item.imageId),
          ],
        );
      }
      return { record: recordOf(rows[0]), created: true };
    });
  }

  async get(id: string): Promise<JobRecord | undefined> {
    const { rows } = await this.db.query<JobRow>('SELECT * FROM jobs WHERE id = $1', [id]);
    return rows[0] && recordOf(rows[0]);
  }

  /** Newest first; `state` filters (running includes cancelling). */
  async list(options: { state?: JobState; limit: number }): Promise<JobView[]> {
    const states =
      options.state === undefined
        ? null
        : options.state === 'running'
          ? ['running', 'cancelling']
          : [options.state];
    const { rows } = await this.db.query<JobRow>(
      `SELECT * FROM jobs WHERE ($1::text[] IS NULL OR state = ANY($1::text[]))
       ORDER BY created_at DESC, id LIMIT $2`,
      [states, options.limit],
    );
    const now = Date.now();
    return rows.map((row) => viewOf(row, now));
  }

  async inputs(
    id: string,
    options: { state?: JobInputState; offset: number; limit: number },
  ): Promise<JobInputView[]> {
    const { rows } = await this.db.query<InputRow>(
      `SELECT * FROM job_inputs WHERE job_id = $1 AND ($2::text IS NULL OR state = $2)
       ORDER BY idx OFFSET $3 LIMIT $4`,
      [id, options.state ?? null, options.offset, options.limit],
    );
    return rows.map(inputViewOf);
  }

  /** Every input, in order (the manifest). */
  async allInputs(id: string): Promise<JobInputView[]> {
    const { rows } = await this.db.query<InputRow>(
      'SELECT * FROM job_inputs WHERE job_id = $1 ORDER BY idx',
      [id],
    );
    return rows.map(inputViewOf);
  }

  async pendingIndexes(id: string): Promise<number[]> {
    const { rows } = await this.db.query<{ idx: number }>(
      `SELECT idx FROM job_inputs WHERE job_id = $1 AND state = 'pending' ORDER BY idx`,
      [id],
    );
    return rows.map((row) => row.idx);
  }

  /** An input about to run: counts the attempt, and says what it is and where its job stands. */
  async claim(id: string, index: number): Promise<ClaimedInput | undefined> {
    const { rows } = await this.db.query<InputRow & { job_state: JobState }>(
      `UPDATE job_inputs i SET attempts = i.attempts + CASE WHEN i.state = 'pending' THEN 1 ELSE 0 END
       FROM jobs j WHERE j.id = i.job_id AND i.job_id = $1 AND i.idx = $2
       RETURNING i.*, j.state AS job_state`,
      [id, index],
    );
    const row = rows[0];
    return (
      row && {
        jobState: row.job_state,
        input: row.input,
        name: row.name,
        imageId: row.image_id,
        state: row.state,
        attempts: row.attempts,
      }
    );
  }

  /**
   * Records an input's outcome once: only a pending input changes, and its job's counter moves with it.
   * Answers whether this call recorded it, and whether the job has no pending input left.
   */
  async finish(
    id: string,
    index: number,
    outcome: InputOutcome,
  ): Promise<{ recorded: boolean; complete: boolean }> {
    return this.db.transaction(async (tx) => {
      const changed = await tx.query(
        `UPDATE job_inputs SET state = $3, outputs = $4::jsonb, served_by = $5::jsonb, error = $6::jsonb,
           finished_at = now()
         WHERE job_id = $1 AND idx = $2 AND state = 'pending'`,
        [
          id,
          index,
          outcome.state,
          outcome.state === 'done' ? JSON.stringify(outcome.outputs) : null,
          outcome.state === 'done' ? JSON.stringify(outcome.servedBy) : null,
          outcome.state === 'failed' ? JSON.stringify(outcome.error) : null,
        ],
      );
      const recorded = changed.rowCount > 0;
      const column = outcome.state === 'done' ? 'done' : 'failed';
      const { rows } = await tx.query<JobRow>(
        recorded
          ? `UPDATE jobs SET ${column} = ${column} + 1, progressed_at = now() WHERE id = $1 RETURNING *`
          : 'SELECT * FROM jobs WHERE id = $1',
        [id],
      );
      return { recorded, complete: rows[0] !== undefined && isComplete(rows[0]) };
    });
  }

  /** Marks a running job as cancelling and its pending inputs cancelled; answers the job as it now is. */
  async cancel(id: string): Promise<JobRecord | undefined> {
    return this.db.transaction(async (tx) => {
      const { rows } = await tx.query<JobRow>(
        `UPDATE jobs SET state = 'cancelling' WHERE id = $1 AND state = 'running' RETURNING *`,
        [id],
      );
      if (rows.length === 0) {
        const existing = await tx.query<JobRow>('SELECT * FROM jobs WHERE id = $1', [id]);
        return existing.rows[0] && recordOf(existing.rows[0]);
      }
      const cancelled = await tx.query(
        `UPDATE job_inputs SET state = 'cancelled', finished_at = now() WHERE job_id = $1 AND state = 'pending'`,
        [id],
      );
      const updated = await tx.query<JobRow>(
        'UPDATE jobs SET cancelled = cancelled + $2, progressed_at = now() WHERE id = $1 RETURNING *',
        [id, cancelled.rowCount],
      );
      return recordOf(updated.rows[0]);
    });
  }

  /**
   * Ends a job whose inputs are all settled, once: answers the record when this call ended it, undefined when
   * it had already ended (another worker's finalize) or still has pending inputs.
   */
  async end(id: string): Promise<JobRecord | undefined> {
    const { rows } = await this.db.query<JobRow>(
      `UPDATE jobs SET finished_at = now(),
         state = CASE WHEN state = 'cancelling' THEN 'cancelled' WHEN done = 0 THEN 'failed' ELSE 'completed' END
       WHERE id = $1 AND state IN ('running', 'cancelling') AND done + failed + cancelled = total
       RETURNING *`,
      [id],
    );
    return rows[0] && recordOf(rows[0]);
  }

  /** Jobs not yet ended, for the reconcile pass: with `staleMs`, only those without progress for that long. */
  async open(staleMs?: number): Promise<Array<{ id: string; complete: boolean }>> {
    const { rows } = await this.db.query<JobRow>(
      `SELECT * FROM jobs WHERE state IN ('running', 'cancelling')
       AND ($1::float8 IS NULL OR progressed_at < now() - make_interval(secs => $1::float8 / 1000))`,
      [staleMs ?? null],
    );
    return rows.map((row) => ({ id: row.id, complete: isComplete(row) }));
  }

  async countByState(): Promise<Record<JobState, number>> {
    const { rows } = await this.db.query<{ state: JobState; n: number }>(
      'SELECT state, count(*)::int AS n FROM jobs GROUP BY state',
    );
    const counts: Record<JobState, number> = {
      running: 0,
      cancelling: 0,
      completed: 0,
      failed: 0,
      cancelled: 0,
    };
    for (const row of rows) counts[row.state] = row.n;
    return counts;
  }

  /** Ended jobs whose webhook is still to be delivered. */
  async undeliveredWebhooks(): Promise<string[]> {
    const { rows } = await this.db.query<{ id: string }>(
      `SELECT id FROM jobs WHERE finished_at IS NOT NULL AND webhook->>'state' = 'pending'`,
    );
    return rows.map((row) => row.id);
  }

  async setWebhook(id: string, status: JobWebhookStatus): Promise<void> {
    await this.db.query('UPDATE jobs SET webhook = $2::jsonb WHERE id = $1', [id, JSON.stringify(status)]);
  }
}

function isComplete(row: JobRow): boolean {
  return row.done + row.failed + row.cancelled >= row.total;
}
