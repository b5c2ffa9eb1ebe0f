/**
 * The order of the queue and the cursor that pages through it.
 *
 * Most uncertain first: the sort key (`priority`) is the uncertainty less SKIP_PENALTY for every skip. A skipped
 * item goes behind the unskipped items up to 0.05 less uncertain than it, not to the end of the queue: a hard
 * image one annotator passed over does not come straight back to the next one, yet a very uncertain item still
 * comes before much surer ones. Ties break on the id, so the order is total.
 *
 * Pages are cut by keyset (the last item's priority and id), not by offset: items inserted while a client pages
 * never shift the pages still to come, so no item is listed twice or skipped. (An item whose priority changes
 * meanwhile, skipped by someone, moves with it.)
 */
import { SegserveError } from '../../errors.js';

/** Uncertainty a skip costs an item's place in the queue. */
export const SKIP_PENALTY = 0.05;

/** The sort key in SQL, over `samples` as `s`. float8 throughout, so the value round-trips through a cursor. */
export const PRIORITY_SQL = `(s.uncertainty - ${SKIP_PENALTY}::float8 * s.skip_count)`;

export const ORDER_SQL = `${PRIORITY_SQL} DESC, s.id ASC`;

export interface CursorPosition {
  priority: number;
  id: string;
}

/** An opaque token for "after this item". JSON keeps a double exactly (shortest round-trip form). */
export function encodeCursor(position: CursorPosition): string {
  return Buffer.from(JSON.stringify([position.priority, position.id]), 'utf8').toString('base64url');
}

export function decodeCursor(cursor: string): CursorPosition {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    value = undefined;
  }
  if (
    !Array.isArray(value) ||
    value.length !== 2 ||
    typeof value[0] !== 'number' ||
    !Number.isFinite(value[0]) ||
    typeof value[1] !== 'string'
  ) {
    throw new SegserveError('INVALID_ARGUMENT', {
      reason: 'cursor: not a cursor this server gave (pass next_cursor from the previous page unchanged)',
    });
  }
  return { priority: value[0], id: value[1] };
}

/** The WHERE clause for items after `position`, with its parameters numbered from `first`. */
export function afterCursorSql(first: number): string {
  return `(${PRIORITY_SQL} < $${first} OR (${PRIORITY_SQL} = $${first} AND s.id > $${first + 1}))`;
}
