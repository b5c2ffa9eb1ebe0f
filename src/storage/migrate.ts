/**
 * Schema migrations: an ordered list of SQL scripts (migrations.ts), each applied once per database and
 * recorded in `schema_migrations` with a checksum of its SQL. `migrate` runs when a database is opened:
 * every pending migration in one transaction, so a failure leaves the schema as it was.
 *
 * Several processes may open one PostgreSQL database at once (replicas starting together): a transaction-level
 * advisory lock makes them take turns, and each one reads what is applied only once it holds the lock, so each
 * migration runs exactly once. The embedded engine serves one process (process-lock.ts) and takes the same
 * lock at no cost.
 *
 * An applied migration whose SQL has since changed is refused (DATABASE_MIGRATION_FAILED): the database no
 * longer matches what the code believes; change the schema with a new migration instead. Versions in the
 * database that the code does not know are accepted: that is a newer release of segserve having migrated
 * during a rolling update, and migrations are written to keep the previous release working.
 */
import { createHash } from 'node:crypto';
import { SegserveError } from '../errors.js';
import type { Database, Queryable } from './database.js';

export interface Migration {
  /** 1, 2, 3...: applied in this order, each once. */
  version: number;
  /** Lower-case words joined by dashes, e.g. `annotation-queue`. */
  name: string;
  /** Statements separated by `;`, run as one script inside the migration transaction. */
  sql: string;
}

/** "segserve" in ASCII as a 64-bit number: the advisory lock no other application takes by chance. */
const MIGRATION_LOCK = '8315161548163348069';

function checksum(sql: string): string {
  return createHash('sha256').update(sql).digest('hex');
}

/** Versions 1, 2, 3... without gaps, and names in the documented form: a mistake in the list fails at once. */
export function checkMigrations(migrations: readonly Migration[]): void {
  migrations.forEach((migration, index) => {
    if (migration.version !== index + 1 || !/^[a-z0-9]+(-[a-z0-9]+)*$/.test(migration.name)) {
      throw new SegserveError('DATABASE_MIGRATION_FAILED', {
        version: migration.version,
        name: migration.name,
        reason: `the list must be numbered 1, 2, 3... in order (entry ${index + 1} has version ${migration.version}) with names of lower-case words joined by dashes`,
      });
    }
  });
}

interface Applied {
  version: number;
  name: string;
  checksum: string;
}

/** Applies the pending `migrations`; returns the versions it applied (none when the schema was current). */
export async function migrate(db: Database, migrations: readonly Migration[]): Promise<number[]> {
  checkMigrations(migrations);
  return db.transaction(async (tx) => {
    await tx.query(`SELECT pg_advisory_xact_lock(${MIGRATION_LOCK})`);
    await tx.exec(
      `CREATE TABLE IF NOT EXISTS schema_migrations (
         version integer PRIMARY KEY,
         name text NOT NULL,
         checksum text NOT NULL,
         applied_at timestamptz NOT NULL DEFAULT now()
       )`,
    );
    const { rows } = await tx.query<Applied & Record<string, unknown>>(
      'SELECT version, name, checksum FROM schema_migrations ORDER BY version',
    );
    const applied = new Map(rows.map((row) => [row.version, row]));
    const pending: Migration[] = [];
    for (const migration of migrations) {
      const done = applied.get(migration.version);
      if (!done) pending.push(migration);
      else if (done.checksum !== checksum(migration.sql)) {
        throw new SegserveError('DATABASE_MIGRATION_FAILED', {
          version: migration.version,
          name: migration.name,
          reason: `its SQL changed after it was applied to this database (as "${done.name}"); add a new migration instead of editing an applied one`,
        });
      }
    }
    for (const migration of pending) await apply(tx, migration);
    return pending.map((migration) => migration.version);
  });
}

async function apply(tx: Queryable, migration: Migration): Promise<void> {
  try {
    await tx.exec(migration.sql);
  } catch (error) {
    // An outage stays an outage (retryable); only a statement the database refused is the migration's fault.
    if (error instanceof SegserveError && error.code !== 'DATABASE_QUERY_FAILED') throw error;
    throw new SegserveError(
      'DATABASE_MIGRATION_FAILED',
      {
        version: migration.version,
        name: migration.name,
        reason: error instanceof Error ? error.message : String(error),
      },
      { cause: error },
    );
  }
  await tx.query('INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)', [
    migration.version,
    migration.name,
    checksum(migration.sql),
  ]);
}
