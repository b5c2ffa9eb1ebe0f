/**
 * The model lifecycle's rows (migration 3): aliases, evaluations and each model's history. Every replica reads
 * and writes the same database, so an alias moved through one replica is what all of them serve once they have
 * refreshed (aliases.ts), and the history is one list however many replicas took part.
 */
import type { Queryable } from '../storage/index.js';

export interface AliasRecord {
  model: string;
  alias: string;
  version: number;
  /** Where the alias pointed before its last change (what a rollback goes back to); null for a new alias. */
  previousVersion: number | null;
  updatedAt: string;
  updatedBy: string;
}

export const HISTORY_KINDS = [
  'uploaded',
  'evaluated',
  'alias_set',
  'alias_removed',
  'promoted',
  'promotion_refused',
  'rolled_back',
] as const;
export type HistoryKind = (typeof HISTORY_KINDS)[number];

export interface HistoryEntry {
  id: number;
  model: string;
  version: number | null;
  kind: HistoryKind;
  actor: string;
  details: Record<string, unknown>;
  at: string;
}

export interface EvaluationRecord {
  id: string;
  model: string;
  version: number;
  dataset: string;
  metric: string;
  value: number;
  createdAt: string;
}

type AliasRow = {
  model: string;
  alias: string;
  version: number;
  previous_version: number | null;
  updated_at: Date;
  updated_by: string;
};

function aliasOf(row: AliasRow): AliasRecord {
  return {
    model: row.model,
    alias: row.alias,
    version: row.version,
    previousVersion: row.previous_version,
    updatedAt: row.updated_at.toISOString(),
    updatedBy: row.updated_by,
  };
}

export async function listAliases(db: Queryable, model?: string): Promise<AliasRecord[]> {
  const { rows } = await db.query<AliasRow>(
    `SELECT model, alias, version, previous_version, updated_at, updated_by FROM model_aliases
     WHERE $1::text IS NULL OR model = $1 ORDER BY model, alias`,
    [model ?? null],
  );
  return rows.map(aliasOf);
}

/** The alias as it is, locked until the transaction ends, so two promotions of one alias run one after the other. */
export async function lockAlias(
  tx: Queryable,
  model: string,
  alias: string,
): Promise<AliasRecord | undefined> {
  // An advisory lock also covers an alias that has no row yet (FOR UPDATE locks only existing rows).
  await tx.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`alias:${model}:${alias}`]);
  const { rows } = await tx.query<AliasRow>(
    `SELECT model, alias, version, previous_version, updated_at, updated_by FROM model_aliases
     WHERE model = $1 AND alias = $2`,
    [model, alias],
  );
  return rows[0] && aliasOf(rows[0]);
}

/** Points `alias` at `version`, remembering where it pointed before. */
export async function writeAlias(
  tx: Queryable,
  model: string,
  alias: string,
  version: number,
  previousVersion: number | null,
  actor: string,
): Promise<AliasRecord> {
  const { rows } = await tx.query<AliasRow>(
    `INSERT INTO model_aliases (model, alias, version, previous_version, updated_by) VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT (model, alias) DO UPDATE SET version = $3, previous_version = $4, updated_at = now(), updated_by = $5
     RETURNING model, alias, version, previous_version, updated_at, updated_by`,
    [model, alias, version, previousVersion, actor],
  );
  return aliasOf(rows[0]);
}

export async function deleteAlias(tx: Queryable, model: string, alias: string): Promise<boolean> {
  const { rowCount } = await tx.query('DELETE FROM model_aliases WHERE model = $1 AND alias = $2', [
    model,
    alias,
  ]);
  return rowCount > 0;
}

export async function recordHistory(
  db: Queryable,
  entry: { model: string; version: number | null; kind: HistoryKind; actor: string; details?: object },
): Promise<void> {
  await db.query(
    'INSERT INTO model_history (model, version, kind, actor, details) VALUES ($1, $2, $3, $4, $5::jsonb)',
    [entry.model, entry.version, entry.kind, entry.actor, JSON.stringify(entry.details ?? {})],
  );
}

type HistoryRow = {
  id: string | number;
  model: string;
  version: number | null;
  kind: HistoryKind;
  actor: string;
  details: Record<string, unknown>;
  at: Date;
};

/** A model's history, oldest first (the last `limit` entries). */
export async function modelHistory(db: Queryable, model: string, limit = 500): Promise<HistoryEntry[]> {
  const { rows } = await db.query<HistoryRow>(
    `SELECT * FROM (SELECT id, model, version, kind, actor, details, at FROM model_history WHERE model = $1
     ORDER BY id DESC LIMIT $2) recent ORDER BY id`,
    [model, limit],
  );
  return rows.map((row) => ({
    id: Number(row.id),
    model: row.model,
    version: row.version,
    kind: row.kind,
    actor: row.actor,
    details: row.details,
    at: row.at.toISOString(),
  }));
}

export async function recordEvaluation(
  db: Queryable,
  evaluation: {
    model: string;
    version: number;
    dataset: string;
    metric: string;
    value: number;
    report: object;
  },
): Promise<EvaluationRecord> {
  const { rows } = await db.query<{ id: string; created_at: Date }>(
    `INSERT INTO model_evaluations (model, version, dataset, metric, value, report)
     VALUES ($1, $2, $3, $4, $5, $6::jsonb) RETURNING id, created_at`,
    [
      evaluation.model,
      evaluation.version,
      evaluation.dataset,
      evaluation.metric,
      evaluation.value,
      JSON.stringify(evaluation.report),
    ],
  );
  const { report: _report, ...fields } = evaluation;
  return { id: rows[0].id, ...fields, createdAt: rows[0].created_at.toISOString() };
}

type EvaluationRow = {
  id: string;
  model: string;
  version: number;
  dataset: string;
  metric: string;
  value: number;
  created_at: Date;
};

function evaluationOf(row: EvaluationRow): EvaluationRecord {
  return {
    id: row.id,
    model: row.model,
    version: row.version,
    dataset: row.dataset,
    metric: row.metric,
    value: row.value,
    createdAt: row.created_at.toISOString(),
  };
}

/** A model's evaluations, newest first (summaries: the reports stay in the table, read one at a time). */
export async function listEvaluations(db: Queryable, model: string): Promise<EvaluationRecord[]> {
  const { rows } = await db.query<EvaluationRow>(
    `SELECT id, model, version, dataset, metric, value, created_at FROM model_evaluations WHERE model = $1
     ORDER BY created_at DESC`,
    [model],
  );
  return rows.map(evaluationOf);
}
