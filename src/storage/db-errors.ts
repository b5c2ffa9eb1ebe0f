/**
 * Driver errors as catalogue errors, for both Database adapters. Both drivers raise PostgreSQL's own error
 * (the same SQLSTATE codes from the embedded engine and from a server), told apart from network and driver
 * errors by its `severity` field.
 */
import { SegserveError } from '../errors.js';

interface DriverError {
  code?: unknown;
  severity?: unknown;
  constraint?: unknown;
}

/** SQLSTATEs that mean "the server cannot serve now": shutting down, starting, out of connections. */
const UNAVAILABLE_STATES = new Set(['57P01', '57P02', '57P03', '53300']);

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * `error` as STORAGE_UNAVAILABLE, STORAGE_FAILED or DATABASE_QUERY_FAILED. `connectionErrors` says what an error
 * that is not PostgreSQL's means: for a server, the connection failed (retryable); for the embedded engine,
 * which has no connection, the engine itself failed.
 */
export function databaseError(
  error: unknown,
  store: string,
  connectionErrors: 'STORAGE_UNAVAILABLE' | 'STORAGE_FAILED',
): SegserveError {
  if (error instanceof SegserveError) return error;
  const driver = (error ?? {}) as DriverError;
  const reason = messageOf(error);
  if (typeof driver.severity !== 'string' || typeof driver.code !== 'string') {
    return new SegserveError(connectionErrors, { store, reason }, { cause: error });
  }
  const sqlstate = driver.code;
  // Class 08: connection exceptions.
  if (sqlstate.startsWith('08') || UNAVAILABLE_STATES.has(sqlstate)) {
    return new SegserveError('STORAGE_UNAVAILABLE', { store, reason: `${reason} (SQLSTATE ${sqlstate})` });
  }
  // Class 28: bad user or password; 3D000: no such database. Configuration, not an outage.
  if (sqlstate.startsWith('28') || sqlstate === '3D000') {
    return new SegserveError('STORAGE_FAILED', { store, reason: `${reason} (SQLSTATE ${sqlstate})` });
  }
  // The driver error is not kept as the cause: the embedded engine's carries the statement's parameters,
  // which could be whole images, into every log line that prints the error.
  const constraint = typeof driver.constraint === 'string' ? ` (constraint ${driver.constraint})` : '';
  return new SegserveError('DATABASE_QUERY_FAILED', { sqlstate, reason: `${reason}${constraint}` });
}
