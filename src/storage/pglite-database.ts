/**
 * Database on PGlite: PostgreSQL (18.7 in PGlite 0.5.17) compiled to WebAssembly, running inside this process on files in the data
 * directory. It needs no server, which makes it the default for one machine; it runs one statement at a time
 * and serves one process (process-lock.ts).
 *
 * Measured on this machine (2 shared cores, Node.js 20): the first open of a new folder runs initdb, 4.6-7 s and
 * a resident-memory peak of about 800 MB (760 MB above a bare Node.js); reopening takes 0.8-1.4 s and holds
 * 240-260 MB more than before. The host therefore opens it on first use, never at every start.
 */
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { PGlite, type Transaction } from '@electric-sql/pglite';
import type { Database, Queryable, QueryResult, Row, SqlParam } from './database.js';
import { databaseError } from './db-errors.js';
import { ProcessLock } from './process-lock.js';
import { PGLITE_PARSERS } from './sql-types.js';
import { TransactionScope, transactionHandle } from './transaction-scope.js';

type Engine = Pick<PGlite | Transaction, 'query' | 'exec'>;

/** PostgreSQL's own errors (a refused statement, BEGIN or COMMIT) carry a severity; the body's own do not. */
function isPostgresError(error: unknown): boolean {
  return typeof (error as { severity?: unknown } | undefined)?.severity === 'string';
}

export class PgliteDatabase implements Database {
  readonly kind = 'embedded';
  readonly description: string;
  private readonly scope = new TransactionScope();
  private closing: Promise<void> | undefined;

  private constructor(
    private readonly engine: PGlite,
    private readonly lock: ProcessLock,
    readonly dir: string,
  ) {
    this.description = `embedded database in ${dir}`;
  }

  /** Opens (creating it when new) the database in `dir`; its lock file is `<dir>.lock`. */
  static async open(dir: string): Promise<PgliteDatabase> {
    const store = `embedded database in ${dir}`;
    try {
      await mkdir(dirname(dir), { recursive: true });
    } catch (error) {
      throw databaseError(error, store, 'STORAGE_FAILED');
    }
    const lock = await ProcessLock.acquire(`${dir}.lock`, store);
    try {
      const engine = await PGlite.create(dir, { parsers: { ...PGLITE_PARSERS } });
      return new PgliteDatabase(engine, lock, dir);
    } catch (error) {
      await lock.release();
      throw databaseError(error, store, 'STORAGE_FAILED');
    }
  }

  query<T extends Row = Row>(sql: string, params: readonly SqlParam[] = []): Promise<QueryResult<T>> {
    this.assertUsable('query');
    return run<T>(this.engine, this.description, sql, params);
  }

  exec(script: string): Promise<void> {
    this.assertUsable('exec');
    return execute(this.engine, this.description, script);
  }

  async transaction<R>(fn: (tx: Queryable) => Promise<R>): Promise<R> {
    this.assertUsable('transaction');
    try {
      return await this.scope.run(() =>
        this.engine.transaction(async (raw) => {
          const handle = transactionHandle({
            query: <T extends Row = Row>(sql: string, params: readonly SqlParam[] = []) =>
              run<T>(raw, this.description, sql, params),
            exec: (script: string) => execute(raw, this.description, script),
          });
          try {
            return await fn(handle.tx);
          } finally {
            handle.end();
          }
        }),
      );
    } catch (error) {
      // Only BEGIN and COMMIT reach here untranslated; errors of `fn` (its queries' included) pass as they are.
      throw isPostgresError(error) ? databaseError(error, this.description, 'STORAGE_FAILED') : error;
    }
  }

  close(): Promise<void> {
    this.closing ??= this.engine.close().finally(() => this.lock.release());
    return this.closing;
  }

  private assertUsable(what: string): void {
    if (this.closing) throw new Error(`${what} on the ${this.description} after close()`);
    this.scope.assertOutside(what);
  }
}

async function run<T extends Row>(
  engine: Engine,
  store: string,
  sql: string,
  params: readonly SqlParam[],
): Promise<QueryResult<T>> {
  try {
    const result = await engine.query<T>(sql, [...params]);
    // PGlite counts changed rows in affectedRows and leaves it 0 for a SELECT.
    return { rows: result.rows, rowCount: Math.max(result.affectedRows ?? 0, result.rows.length) };
  } catch (error) {
    throw databaseError(error, store, 'STORAGE_FAILED');
  }
}

async function execute(engine: Engine, store: string, script: string): Promise<void> {
  try {
    await engine.exec(script);
  } catch (error) {
    throw databaseError(error, store, 'STORAGE_FAILED');
  }
}
