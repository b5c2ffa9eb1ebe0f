/**
 * The Database port: PostgreSQL's SQL, in the embedded engine (PGlite, the default: PostgreSQL compiled to
 * WebAssembly, files in the data directory) or on a PostgreSQL server (`pg`). One dialect, so every statement a
 * feature writes runs on both; test/storage/database.contract.ts runs the same suite against each.
 *
 * Values cross the port the same way on both engines (sql-types.ts sets both drivers up for it):
 * - parameters: string, number, bigint, boolean, Date (timestamptz), Uint8Array (bytea), null, and arrays of
 *   scalars (PostgreSQL arrays). JSON goes in as a string (`JSON.stringify(value)` with `$1::jsonb`): the two
 *   drivers would turn a JS array into a PostgreSQL array, not into JSON.
 * - results: int2/int4/float/oid as number; int8 as number, or bigint beyond 2^53; numeric as string (exact);
 *   bool; text; bytea as Uint8Array; json/jsonb parsed; timestamptz as Date; date, timestamp without time
 *   zone and interval as PostgreSQL's text, which no time zone of the Node process can shift.
 *
 * Store bytes in the BlobStore and keys in rows: the embedded engine sends bytea parameters as hex text,
 * measured at 0.8 s per MB on this machine.
 *
 * Errors: STORAGE_UNAVAILABLE when the server cannot be reached (retryable), STORAGE_FAILED when it refuses the
 * connection (credentials, no such database), DATABASE_QUERY_FAILED with the SQLSTATE for a refused statement.
 */

export type SqlScalar = string | number | bigint | boolean | Date | Uint8Array | null;
export type SqlParam = SqlScalar | readonly SqlScalar[];
export type Row = Record<string, unknown>;

export interface QueryResult<T extends Row> {
  rows: T[];
  /** Rows returned, or for INSERT/UPDATE/DELETE without RETURNING, rows changed. */
  rowCount: number;
}

export interface Queryable {
  /** One statement, with `$1`, `$2`... parameters. */
  query<T extends Row = Row>(sql: string, params?: readonly SqlParam[]): Promise<QueryResult<T>>;
  /** A script of several statements separated by `;`, without parameters (migrations). */
  exec(script: string): Promise<void>;
}

export interface Database extends Queryable {
  /** `embedded` (PGlite) or `postgres` (a PostgreSQL server). */
  readonly kind: 'embedded' | 'postgres';
  /** Where the data lives, for logs and error messages; never a password. */
  readonly description: string;
  /**
   * Runs `fn` in a transaction: committed when it resolves, rolled back when it throws (the error is rethrown).
   * Inside, use only `tx`: a query on the database itself while the transaction is open throws an Error,
   * since on the embedded engine, which has one connection, it would wait for the transaction forever.
   */
  transaction<R>(fn: (tx: Queryable) => Promise<R>): Promise<R>;
  /** Waits for queries in flight, then closes; the database is unusable afterwards. */
  close(): Promise<void>;
}
