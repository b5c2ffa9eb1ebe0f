/**
 * The run history of the reference trainer (migration 6): one row per run, its epochs appended as they come,
 * so a run that crashed half-way still shows how far it got, and what the run produced (the version it was
 * uploaded as and the promotion gate's verdict) once the upload answered.
 */
import { randomUUID } from 'node:crypto';
import type { Database } from '../../storage/index.js';
import type { TrainerKind } from './trainer.js';
import type { TrainingRunJson } from './wire-types.js';

interface RunRow extends Record<string, unknown> {
  id: string;
  model: string;
  kind: TrainerKind;
  state: TrainingRunJson['state'];
  dataset: string | null;
  dataset_version: string | null;
  code_version: string | null;
  params: Record<string, unknown>;
  epochs: Array<Record<string, unknown>>;
  metrics: Record<string, unknown> | null;
  produced: TrainingRunJson['produced'] | null;
  error: string | null;
  started_at: Date;
  finished_at: Date | null;
}

function jsonOf(row: RunRow): TrainingRunJson {
  return {
    id: row.id,
    model: row.model,
    kind: row.kind,
    state: row.state,
    ...(row.dataset ? { dataset: row.dataset } : {}),
    ...(row.dataset_version ? { dataset_version: row.dataset_version } : {}),
    ...(row.code_version ? { code_version: row.code_version } : {}),
    params: row.params,
    epochs: row.epochs,
    ...(row.metrics ? { metrics: row.metrics } : {}),
    ...(row.produced ? { produced: row.produced } : {}),
    ...(row.error ? { error: row.error } : {}),
    started_at: row.started_at.toISOString(),
    ...(row.finished_at ? { finished_at: row.finished_at.toISOString() } : {}),
  };
}

export class TrainingRuns {
  constructor(private readonly db: Database) {}

  async start(run: {
    model: string;
    kind: TrainerKind;
    dataset?: string;
    datasetVersion?: string;
    params: Record<string, unknown>;
  }): Promise<string> {
    const id = randomUUID();
    await this.db.query(
      `INSERT INTO training_runs (id, model, kind, state, dataset, dataset_version, params)
       VALUES ($1, $2, $3, 'running', $4, $5, $6::jsonb)`,
      [id, run.model, run.kind, run.dataset ?? null, run.datasetVersion ?? null, JSON.stringify(run.params)],
    );
    return id;
  }

  async epoch(id: string, epoch: Record<string, unknown>): Promise<void> {
    await this.db.query(`UPDATE training_runs SET epochs = epochs || $2::jsonb WHERE id = $1`, [
      id,
      JSON.stringify([epoch]),
    ]);
  }

  async succeeded(
    id: string,
    result: { metrics?: Record<string, unknown>; codeVersion?: string },
  ): Promise<void> {
    await this.db.query(
      `UPDATE training_runs SET state = 'succeeded', metrics = $2::jsonb, code_version = $3, finished_at = now()
       WHERE id = $1`,
      [id, JSON.stringify(result.metrics ?? {}), result.codeVersion ?? null],
    );
  }

  async failed(id: string, error: string): Promise<void> {
    await this.db.query(
      `UPDATE training_runs SET state = 'failed', error = $2, finished_at = now() WHERE id = $1`,
      [id, error],
    );
  }

  async produced(id: string, produced: NonNullable<TrainingRunJson['produced']>): Promise<void> {
    await this.db.query('UPDATE training_runs SET produced = $2::jsonb WHERE id = $1', [
      id,
      JSON.stringify(produced),
    ]);
  }

  async get(id: string): Promise<TrainingRunJson | undefined> {
    const { rows } = await this.db.query<RunRow>('SELECT * FROM training_runs WHERE id = $1', [id]);
    return rows[0] && jsonOf(rows[0]);
  }

  /** A model's runs, newest first. */
  async ofModel(model: string, limit = 50): Promise<TrainingRunJson[]> {
    const { rows } = await this.db.query<RunRow>(
      'SELECT * FROM training_runs WHERE model = $1 ORDER BY started_at DESC, id LIMIT $2',
      [model, limit],
    );
    return rows.map(jsonOf);
  }
}
