/**
 * Retraining triggers: for each model whose config has `retraining:`, a trigger fires when `min_new_labels`
 * labels were added or changed in its dataset since the dataset's last version (checked every `pollMs`), or when
 * drift is detected (`on_drift`, from `drift.detected`). A trigger snapshots the dataset, calls the hooks with
 * the version id, and is recorded (`retrain_triggers`) with each hook's outcome, for the API and the UI.
 *
 * Several replicas share one database: the check-and-record step runs under a transaction-level advisory lock
 * per model and honours the model's cooldown against the recorded triggers, so one burst of labels fires once
 * however many replicas see it.
 */
import { SegserveError } from '../../errors.js';
import type { RetrainingConfig } from '../../models/retraining-config.js';
import { parseDuration } from '../../models/sampling-config.js';
import type { DriftDetected } from '../../serving/events.js';
import type { InferenceService } from '../../serving/service.js';
import type { Database } from '../../storage/index.js';
import { type HookOptions, type HookOutcome, runHook } from './hooks.js';

export type TriggerReason = 'new_labels' | 'drift';

export interface TriggerRecord {
  id: string;
  model: string;
  dataset: string;
  datasetVersion: string | null;
  reason: string;
  state: 'pending' | 'succeeded' | 'failed';
  hooks: HookOutcome[];
  /** Why the trigger failed before its hooks (the snapshot), when it did. */
  error?: string;
  createdAt: string;
  finishedAt: string | null;
}

/** Freezes a dataset's working set into a version (datasets); answers its id. */
export type Snapshot = (dataset: string, note: string) => Promise<{ id: string }>;

export type RetrainingLog = (
  level: 'info' | 'warn',
  fields: Record<string, unknown>,
  message: string,
) => void;

export interface RetrainingOptions {
  service: InferenceService;
  database: () => Promise<Database>;
  snapshot: Snapshot;
  log: RetrainingLog;
  /** How often label counts are checked (default 30 s). */
  pollMs?: number;
  hooks?: HookOptions;
}

interface ModelRetraining {
  model: string;
  dir: string;
  config: RetrainingConfig;
  dataset: string;
}

type TriggerRow = {
  id: string;
  model: string;
  dataset: string;
  dataset_version: string | null;
  reason: string;
  state: TriggerRecord['state'];
  hooks: HookOutcome[] | { hooks: HookOutcome[]; error?: string };
  created_at: Date;
  finished_at: Date | null;
};

function recordOf(row: TriggerRow): TriggerRecord {
  // `hooks` holds the outcomes, or, for a trigger that failed before them, the reason with no outcomes.
  const hooks = Array.isArray(row.hooks) ? row.hooks : row.hooks.hooks;
  const error = Array.isArray(row.hooks) ? undefined : row.hooks.error;
  return {
    id: row.id,
    model: row.model,
    dataset: row.dataset,
    datasetVersion: row.dataset_version,
    reason: row.reason,
    state: row.state,
    hooks,
    ...(error === undefined ? {} : { error }),
    createdAt: row.created_at.toISOString(),
    finishedAt: row.finished_at?.toISOString() ?? null,
  };
}

export class RetrainingTriggers {
  readonly #options: RetrainingOptions;
  readonly #timer: NodeJS.Timeout;
  readonly #running = new Set<Promise<unknown>>();
  #closed = false;

  constructor(options: RetrainingOptions) {
    this.#options = options;
    this.#timer = setInterval(() => this.#track(this.pollOnce()), options.pollMs ?? 30_000);
    this.#timer.unref();
    options.service.events.on('drift.detected', 'retraining', (event) => this.#onDrift(event));
  }

  /** Checks the label counts of every model with `min_new_labels` once (the timer calls it; tests too). */
  async pollOnce(): Promise<TriggerRecord[]> {
    const fired: TriggerRecord[] = [];
    for (const model of this.#models()) {
      if (model.config.min_new_labels === undefined) continue;
      const record = await this.check(model.model, 'new_labels').catch((error: unknown) => {
        this.#warn(model.model, error);
        return undefined;
      });
      if (record) fired.push(record);
    }
    return fired;
  }

  /**
   * Fires a trigger for `model` if its config and cooldown allow it: for `new_labels`, only once enough labels
   * are new. Answers the finished record, or undefined when nothing fired.
   */
  async check(model: string, reason: TriggerReason): Promise<TriggerRecord | undefined> {
    const target = this.#models().find((m) => m.model === model);
    if (!target || this.#closed) return undefined;
    const db = await this.#options.database();
    const pending = await db.transaction(async (tx) => {
      await tx.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`segserve-retraining ${model}`]);
      const cooldownMs = parseDuration(target.config.cooldown) ?? 0;
      const recent = await tx.query(
        `SELECT 1 FROM retrain_triggers WHERE model = $1 AND created_at > now() - $2 * interval '1 millisecond'`,
        [model, cooldownMs],
      );
      if (recent.rowCount > 0) return undefined;
      let why: string = reason;
      if (reason === 'new_labels') {
        const counted = await tx.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM dataset_items WHERE dataset = $1 AND updated_at >
             coalesce((SELECT max(created_at) FROM dataset_versions WHERE dataset = $1), '-infinity')`,
          [target.dataset],
        );
        const labels = counted.rows[0].n;
        if (labels < (target.config.min_new_labels ?? Number.POSITIVE_INFINITY)) return undefined;
        why = `new_labels: ${labels} since the last version`;
      } else if (!target.config.on_drift) {
        return undefined;
      }
      const inserted = await tx.query<TriggerRow>(
        `INSERT INTO retrain_triggers (model, dataset, reason, state) VALUES ($1, $2, $3, 'pending') RETURNING *`,
        [model, target.dataset, why],
      );
      return inserted.rows[0];
    });
    if (!pending) return undefined;
    return this.#fire(db, target, pending);
  }

  /** The latest triggers, newest first, of one model or of all. */
  async list(model?: string, limit = 50): Promise<TriggerRecord[]> {
    const db = await this.#options.database();
    const { rows } = await db.query<TriggerRow>(
      `SELECT * FROM retrain_triggers WHERE $1::text IS NULL OR model = $1 ORDER BY created_at DESC LIMIT $2`,
      [model ?? null, limit],
    );
    return rows.map(recordOf);
  }

  /** Stops the timer and waits for triggers in flight (their hooks included). */
  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#timer);
    await Promise.allSettled([...this.#running]);
  }

  async #fire(db: Database, target: ModelRetraining, row: TriggerRow): Promise<TriggerRecord> {
    const { model, dataset } = target;
    this.#options.log(
      'info',
      { model, dataset, trigger: row.id, reason: row.reason },
      'retraining triggered',
    );
    let version: string;
    try {
      version = (await this.#options.snapshot(dataset, `retraining trigger ${row.id}: ${row.reason}`)).id;
    } catch (error) {
      const message = error instanceof SegserveError ? `${error.code}: ${error.message}` : String(error);
      const { rows } = await db.query<TriggerRow>(
        `UPDATE retrain_triggers SET state = 'failed', hooks = $2::jsonb, finished_at = now() WHERE id = $1 RETURNING *`,
        [row.id, JSON.stringify({ hooks: [], error: `snapshot failed: ${message}` })],
      );
      this.#options.log(
        'warn',
        { model, dataset, trigger: row.id, error: message },
        'retraining snapshot failed',
      );
      return recordOf(rows[0]);
    }
    await db.query('UPDATE retrain_triggers SET dataset_version = $2 WHERE id = $1', [row.id, version]);
    const context = {
      triggerId: row.id,
      model,
      dataset,
      datasetVersion: version,
      reason: row.reason,
      modelDir: target.dir,
    };
    const outcomes: HookOutcome[] = [];
    for (const hook of target.config.hooks) outcomes.push(await runHook(hook, context, this.#options.hooks));
    const ok = outcomes.every((o) => o.ok);
    const { rows } = await db.query<TriggerRow>(
      `UPDATE retrain_triggers SET state = $2, hooks = $3::jsonb, finished_at = now() WHERE id = $1 RETURNING *`,
      [row.id, ok ? 'succeeded' : 'failed', JSON.stringify(outcomes)],
    );
    this.#options.log(
      ok ? 'info' : 'warn',
      { model, dataset, trigger: row.id, dataset_version: version, hooks: outcomes },
      ok ? 'retraining hooks called' : 'retraining hooks failed',
    );
    return recordOf(rows[0]);
  }

  #onDrift(event: DriftDetected): void {
    if (!event.detected) return;
    const target = this.#models().find((m) => m.model === event.model);
    if (!target?.config.on_drift) return;
    this.#track(this.check(event.model, 'drift').catch((error: unknown) => this.#warn(event.model, error)));
  }

  /** The models whose config has `retraining:`, read from their default version (one config per model folder). */
  #models(): ModelRetraining[] {
    const { repository } = this.#options.service;
    return repository.list().flatMap((status) => {
      if (status.state !== 'ready') return [];
      const config = repository.resolve(status.name).config.retraining;
      return config
        ? [{ model: status.name, dir: status.dir, config, dataset: config.dataset ?? status.name }]
        : [];
    });
  }

  #track(work: Promise<unknown>): void {
    this.#running.add(work);
    void work.finally(() => this.#running.delete(work));
  }

  #warn(model: string, error: unknown): void {
    const message = error instanceof Error ? error.message : String(error);
    this.#options.log('warn', { model, error: message }, 'retraining check failed');
  }
}
