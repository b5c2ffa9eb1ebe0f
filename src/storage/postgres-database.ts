/**
 * Database on a PostgreSQL server through a `pg` connection pool: for several replicas, or a database that
 * outlives the machine. `SEGSERVE_DATABASE_URL=postgres://user:password@host:5432/database`.
 *
 * The pool opens connections on demand and replaces broken ones, so a server restart costs the queries in
 * flight (STORAGE_UNAVAILABLE) and nothing after it.
 */
import pg from 'pg';
import type { Database, Queryable, QueryResult, Row, SqlParam } from './database.js';
import { databaseError } from './db-errors.js';
import { pgTypeParsers } from './sql-types.js';
import { TransactionScope, transactionHandle } from './transaction-scope.js';

export interface PostgresOptions {
  /** `postgres://` or `postgresql://` connection URL. */
  url: string;
  /** Connections at most (default 10: the sink, the annotation API and jobs share them). */
  maxConnections?: number;
  /** Longest wait for a connection before STORAGE_UNAVAILABLE (default 5 s; pg's own default waits forever). */
  connectTimeoutMs?: number;
}

/** `PostgreSQL database "name" at host:port`, from the URL without its credentials. */
export function describePostgres(url: string): string {
  const parsed = new URL(url);
  const name = decodeURIComponent(parsed.pathname.slice(1)) || parsed.username || 'postgres';
  return `PostgreSQL database "${name}" at ${parsed.hostname || 'localhost'}:${parsed.port || '5432'}`;
}

const UNAVAILABLE = 'STORAGE_UNAVAILABLE';

type Client = pg.PoolClient;

export class PostgresDatabase implements Database {
  readonly kind = 'postgres';
  readonly description: string;
  private readonly pool: pg.Pool;
  private readonly scope = new TransactionScope();
  private closing: Promise<void> | undefined;

  /** Connects lazily: the first query reaches the server (and reports when it cannot). */
  constructor(options: PostgresOptions) {
    this.description = describePostgres(options.url);
    this.pool = new pg.Pool({
      connectionString: options.url,
      max: options.maxConnections ?? 10,
      connectionTimeoutMillis: options.connectTimeoutMs ?? 5_000,
      application_name: 'segserve',
      types: { getTypeParser: pgTypeParsers(pg.types.getTypeParser) },
    });
    // An idle connection that breaks (the server restarted) is dropped by the pool, and the next query opens a
    // new one. Without a listener the 'error' event would end the process.
    this.pool.on('error', () => {});
  }

  query<T extends Row = Row>(sql: string, params: readonly SqlParam[] = []): Promise<QueryResult<T>> {
    this.assertUsable('query');
    return run<T>(this.pool, this.description, sql, params);
  }

  exec(script: string): Promise<void> {
    this.assertUsable('exec');
    return execute(this.pool, this.description, script);
  }

  async transaction<R>(fn: (tx: Queryable) => Promise<R>): Promise<R> {
    this.assertUsable('transaction');
    let client: Client;
    try {
      client = await this.pool.connect();
    } catch (error) {
      throw databaseError(error, this.description, UNAVAILABLE);
    }
    // A checked-out connection has no listener of the pool's: one that breaks between two statements of the
    // body would emit an unhandled 'error'. Recorded here, it also tells release() to discard the connection.
    let broken: Error | undefined;
    const onError = (error: Error) => {
      broken = error;
    };
    client.on('error', onError);
    const handle = transactionHandle({
      query: <T extends Row = Row>(sql: string, params: readonly SqlParam[] = []) =>
        run<T>(client, this.description, sql, params),
      exec: (script: string) => execute(client, this.description, script),
    });
    try {
      await run(client, this.description, 'BEGIN', []);
      const result = await this.scope.run(() => fn(handle.tx));
      await run(client, this.description, 'COMMIT', []);
      return result;
    } catch (error) {
      await client.query('ROLLBACK').catch((rollbackError: Error) => {
        broken ??= rollbackError;
      });
      throw error;
    } finally {
      handle.end();
      client.off('error', onError);
      client.release(broken);
    }
  }

  close(): Promise<void> {
    this.closing ??= this.pool.end();
    return this.closing;
  }

  private assertUsable(what: string): void {
    if (this.closing) throw new Error(`${what} on the ${this.description} after close()`);
    this.scope.assertOutside(what);
  }
}

async function run<T extends Row>(
  target: pg.Pool | Client,
  store: string,
  sql: string,
  params: readonly SqlParam[],
): Promise<QueryResult<T>> {
  try {
    const result = await target.query<T>(sql, [...params]);
    return { rows: result.rows, rowCount: result.rowCount ?? result.rows.length };
  } catch (error) {
    throw databaseError(error, store, UNAVAILABLE);
  }
}

async function execute(target: pg.Pool | Client, store: string, script: string): Promise<void> {
  try {
    // Without parameters pg uses the simple query protocol, which runs several statements.
    await target.query(script);
  } catch (error) {
    throw databaseError(error, store, UNAVAILABLE);
  }
}
