/**
 * Claims: an annotator's lock on a queued item, with an expiry, so an item someone abandoned (a closed tab, a
 * lost phone) returns to the queue by itself. Every change of a claim is one UPDATE whose WHERE checks the claim,
 * so two annotators racing for an item can never both win: the database decides, and the loser is told who won.
 * Times come from the caller's clock (tests move it), never from the database's now().
 */
import { SegserveError } from '../../errors.js';
import type { Queryable, SqlParam } from '../../storage/index.js';
import { ORDER_SQL } from './order.js';
import { liveClaim, type SampleRow } from './rows.js';

export type ClaimState = Pick<SampleRow, 'state' | 'claimed_by' | 'claim_expires_at'>;

/** Rows an annotator may claim at `$now`: queued, and free, expired or already theirs. */
const CLAIMABLE_SQL = (annotator: string, now: string) =>
  `s.state = 'queued' AND (s.claimed_by IS NULL OR s.claim_expires_at <= ${now} OR s.claimed_by = ${annotator})`;

/**
 * Why `annotator` may not act on the item as if they held it: the error to answer. `row` undefined: no such item.
 */
export function claimRefusal(
  id: string,
  row: ClaimState | undefined,
  annotator: string,
  now: number,
): SegserveError {
  if (!row) return new SegserveError('SAMPLE_NOT_FOUND', { id });
  if (row.state !== 'queued') return new SegserveError('SAMPLE_NOT_QUEUED', { id, state: row.state });
  const live = liveClaim(row, now);
  if (live && live.annotator !== annotator) {
    return new SegserveError('SAMPLE_CLAIMED', {
      id,
      claimed_by: live.annotator,
      until: live.expires.toISOString(),
    });
  }
  const reason =
    row.claimed_by === annotator && row.claim_expires_at
      ? `the claim expired at ${row.claim_expires_at.toISOString()}; claim it again`
      : 'nobody holds it; claim it first';
  return new SegserveError('SAMPLE_NOT_CLAIMED', { id, annotator, reason });
}

/** Throws unless `annotator` holds a live claim on the queued item `row`. */
export function requireClaim(id: string, row: ClaimState | undefined, annotator: string, now: number): void {
  const live = row && row.state === 'queued' ? liveClaim(row, now) : undefined;
  if (live?.annotator !== annotator) throw claimRefusal(id, row, annotator, now);
}

export async function readClaim(db: Queryable, id: string, lock = false): Promise<ClaimState | undefined> {
  const { rows } = await db.query<ClaimState>(
    `SELECT state, claimed_by, claim_expires_at FROM samples WHERE id = $1${lock ? ' FOR UPDATE' : ''}`,
    [id],
  );
  return rows[0];
}

/** Claims (or renews the caller's own claim on) item `id` until `expires`; throws why not. */
export async function claimItem(
  db: Queryable,
  id: string,
  annotator: string,
  now: number,
  expires: number,
): Promise<void> {
  const { rowCount } = await db.query(
    `UPDATE samples s SET claimed_by = $2, claim_expires_at = $3
     WHERE s.id = $1 AND ${CLAIMABLE_SQL('$2', '$4')}`,
    [id, annotator, new Date(expires), new Date(now)],
  );
  if (rowCount === 0) throw claimRefusal(id, await readClaim(db, id), annotator, now);
}

export interface NextFilter {
  model: string;
  strategy?: string;
  /** A class the prediction holds. */
  className?: string;
  /** Items not to hand out (the ones the caller already shows). */
  exclude: readonly string[];
}

/**
 * Claims the first item of the model's queue the annotator may take, their own live claims first (so a reloaded
 * page gets back what it held), then the queue's order. The inner SELECT locks its row with SKIP LOCKED, so
 * concurrent calls on PostgreSQL each take a different row instead of queueing behind one, and the outer WHERE
 * checks the claim again against the row as committed. Answers the id claimed, or undefined.
 */
export async function claimNextItem(
  db: Queryable,
  filter: NextFilter,
  annotator: string,
  now: number,
  expires: number,
): Promise<string | undefined> {
  const params: SqlParam[] = [annotator, new Date(expires), new Date(now), filter.model, [...filter.exclude]];
  const where = [CLAIMABLE_SQL('$1', '$3'), 's.model = $4', 'NOT (s.id = ANY($5::text[]))'];
  if (filter.strategy !== undefined) {
    params.push(filter.strategy);
    where.push(`s.strategy = $${params.length}`);
  }
  if (filter.className !== undefined) {
    params.push(filter.className);
    where.push(`$${params.length} = ANY(s.classes)`);
  }
  const { rows } = await db.query<{ id: string }>(
    `UPDATE samples SET claimed_by = $1, claim_expires_at = $2
     WHERE id = (
       SELECT s.id FROM samples s WHERE ${where.join(' AND ')}
       ORDER BY (s.claimed_by IS NOT DISTINCT FROM $1 AND s.claim_expires_at > $3) DESC, ${ORDER_SQL}
       LIMIT 1 FOR UPDATE SKIP LOCKED
     ) AND state = 'queued' AND (claimed_by IS NULL OR claim_expires_at <= $3 OR claimed_by = $1)
     RETURNING id`,
    params,
  );
  return rows[0]?.id;
}

/** Ends the caller's claim: held until it expired and nobody took it since also counts as theirs. */
export async function releaseItem(db: Queryable, id: string, annotator: string, now: number): Promise<void> {
  const { rowCount } = await db.query(
    `UPDATE samples SET claimed_by = NULL, claim_expires_at = NULL
     WHERE id = $1 AND state = 'queued' AND claimed_by = $2`,
    [id, annotator],
  );
  if (rowCount === 0) throw claimRefusal(id, await readClaim(db, id), annotator, now);
}

/**
 * Changes the item the caller holds (`set`: a constant SQL SET list, e.g. `state = 'rejected'`) and ends the
 * claim, in one statement that checks the claim is live.
 */
export async function changeClaimed(
  db: Queryable,
  id: string,
  annotator: string,
  now: number,
  set: string,
): Promise<void> {
  const { rowCount } = await db.query(
    `UPDATE samples SET ${set}, claimed_by = NULL, claim_expires_at = NULL
     WHERE id = $1 AND state = 'queued' AND claimed_by = $2 AND claim_expires_at > $3`,
    [id, annotator, new Date(now)],
  );
  if (rowCount === 0) throw claimRefusal(id, await readClaim(db, id), annotator, now);
}
