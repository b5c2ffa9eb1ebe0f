/**
 * Endpoints' traffic policies and their history in the database (migration 4). Every replica reads the same
 * rows (traffic-table.ts), so a policy changed through one replica is what all of them apply once refreshed, and
 * the history is one list however many replicas took part.
 */
import type { Queryable } from '../storage/index.js';
import type { TrafficPolicyJson } from './wire-types.js';

export interface PolicyRecord {
  endpoint: string;
  /** As the admin API took it (validated then; read back, it is parsed again before use). */
  policy: TrafficPolicyJson;
  updatedAt: string;
  updatedBy: string;
}

export type TrafficHistoryKind = 'policy_set' | 'policy_removed';

export interface TrafficHistoryEntry {
  id: number;
  endpoint: string;
  kind: TrafficHistoryKind;
  actor: string;
  policy: TrafficPolicyJson | null;
  previous: TrafficPolicyJson | null;
  at: string;
}

type PolicyRow = { endpoint: string; policy: TrafficPolicyJson; updated_at: Date; updated_by: string };

function recordOf(row: PolicyRow): PolicyRecord {
  return {
    endpoint: row.endpoint,
    policy: row.policy,
    updatedAt: row.updated_at.toISOString(),
    updatedBy: row.updated_by,
  };
}

export async function listPolicies(db: Queryable, endpoint?: string): Promise<PolicyRecord[]> {
  const { rows } = await db.query<PolicyRow>(
    `SELECT endpoint, policy, updated_at, updated_by FROM traffic_policies
     WHERE $1::text IS NULL OR endpoint = $1 ORDER BY endpoint`,
    [endpoint ?? null],
  );
  return rows.map(recordOf);
}

/** The endpoint's policy as it is, locked until the transaction ends: two changes of one endpoint run in turn. */
export async function lockPolicy(tx: Queryable, endpoint: string): Promise<PolicyRecord | undefined> {
  // An advisory lock also covers an endpoint that has no row yet (FOR UPDATE locks only existing rows).
  await tx.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`traffic:${endpoint}`]);
  return (await listPolicies(tx, endpoint))[0];
}

export async function writePolicy(
  tx: Queryable,
  endpoint: string,
  policy: TrafficPolicyJson,
  actor: string,
): Promise<PolicyRecord> {
  const { rows } = await tx.query<PolicyRow>(
    `INSERT INTO traffic_policies (endpoint, policy, updated_by) VALUES ($1, $2::jsonb, $3)
     ON CONFLICT (endpoint) DO UPDATE SET policy = $2::jsonb, updated_at = now(), updated_by = $3
     RETURNING endpoint, policy, updated_at, updated_by`,
    [endpoint, JSON.stringify(policy), actor],
  );
  return recordOf(rows[0]);
}

export async function deletePolicy(tx: Queryable, endpoint: string): Promise<boolean> {
  const { rowCount } = await tx.query('DELETE FROM traffic_policies WHERE endpoint = $1', [endpoint]);
  return rowCount > 0;
}

export async function recordTrafficHistory(
  db: Queryable,
  entry: {
    endpoint: string;
    kind: TrafficHistoryKind;
    actor: string;
    policy: TrafficPolicyJson | null;
    previous: TrafficPolicyJson | null;
  },
): Promise<void> {
  await db.query(
    `INSERT INTO traffic_history (endpoint, kind, actor, policy, previous)
     VALUES ($1, $2, $3, $4::jsonb, $5::jsonb)`,
    [
      entry.endpoint,
      entry.kind,
      entry.actor,
      entry.policy === null ? null : JSON.stringify(entry.policy),
      entry.previous === null ? null : JSON.stringify(entry.previous),
    ],
  );
}

type HistoryRow = {
  id: string | number;
  endpoint: string;
  kind: TrafficHistoryKind;
  actor: string;
  policy: TrafficPolicyJson | null;
  previous: TrafficPolicyJson | null;
  at: Date;
};

/** An endpoint's changes, oldest first (the last `limit`). */
export async function trafficHistory(
  db: Queryable,
  endpoint: string,
  limit = 500,
): Promise<TrafficHistoryEntry[]> {
  const { rows } = await db.query<HistoryRow>(
    `SELECT * FROM (SELECT id, endpoint, kind, actor, policy, previous, at FROM traffic_history
     WHERE endpoint = $1 ORDER BY id DESC LIMIT $2) recent ORDER BY id`,
    [endpoint, limit],
  );
  return rows.map((row) => ({ ...row, id: Number(row.id), at: row.at.toISOString() }));
}
