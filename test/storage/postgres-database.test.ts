/**
 * The PostgreSQL adapter against the machine's PostgreSQL server (`.ci/run` starts it): the contract suite in a
 * database created for this file, openers racing on a new database, connections the server ends, and servers
 * that cannot be reached or refuse. SKIPPED, saying so, when the server cannot be reached.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { isSegserveError } from '../../src/errors.js';
import { openDatabase } from '../../src/storage/index.js';
import { MIGRATIONS } from '../../src/storage/migrations.js';
import { PostgresDatabase } from '../../src/storage/postgres-database.js';
import {
  type FreshDatabase,
  freshDatabase,
  postgresProblem,
  TEST_POSTGRES_URL,
} from '../helpers/postgres.js';
import { describeDatabaseContract } from './database.contract.js';

const problem = await postgresProblem();
if (problem) {
  console.warn(
    `SKIPPED "PostgreSQL database": ${TEST_POSTGRES_URL} cannot be reached (${problem}); start it with ` +
      'pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start, or set SEGSERVE_TEST_DATABASE_URL',
  );
}

const databases: FreshDatabase[] = [];
async function fresh(): Promise<FreshDatabase> {
  const database = await freshDatabase();
  databases.push(database);
  return database;
}

afterAll(async () => {
  await Promise.all(databases.map((database) => database.drop()));
});

describe.skipIf(problem !== undefined)('PostgreSQL database', () => {
  describeDatabaseContract('PostgreSQL (pg)', async () => {
    const { url } = await fresh();
    return {
      open: (migrations) => openDatabase({ kind: 'postgres', url }, migrations),
      cleanup: async () => {},
    };
  });

  it('lets openers race on a new database: each migration runs once, every opener gets a current schema', async () => {
    const { url } = await fresh();
    const openers = await Promise.all(
      Array.from({ length: 6 }, () => openDatabase({ kind: 'postgres', url })),
    );
    try {
      const { rows } = await openers[0].query('SELECT version FROM schema_migrations ORDER BY version');
      expect(rows.map((row) => row.version)).toEqual(MIGRATIONS.map((migration) => migration.version));
      for (const db of openers) {
        expect((await db.query('SELECT count(*) AS n FROM installation')).rows).toEqual([{ n: 1 }]);
      }
    } finally {
      await Promise.all(openers.map((db) => db.close()));
    }
  });

  it('gets over the server ending its connections, as a restart does', async () => {
    const { url } = await fresh();
    const db = await openDatabase({ kind: 'postgres', url });
    const admin = new PostgresDatabase({ url: TEST_POSTGRES_URL });
    const name = new URL(url).pathname.slice(1);
    const endConnections = () =>
      admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1', [name]);
    try {
      // Idle pooled connections that die are dropped; the next query opens a new one.
      await Promise.all([db.query('SELECT pg_sleep(0.05)'), db.query('SELECT pg_sleep(0.05)')]);
      await endConnections();
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect((await db.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
      // A transaction whose connection dies mid-way fails as an outage, and the next one works.
      const broken = await db
        .transaction(async (tx) => {
          await tx.query('SELECT 1');
          await endConnections();
          await tx.query('SELECT 1');
        })
        .catch((e: unknown) => e);
      expect(isSegserveError(broken) && broken.code).toBe('STORAGE_UNAVAILABLE');
      expect(await db.transaction(async (tx) => (await tx.query('SELECT 2 AS two')).rows)).toEqual([
        { two: 2 },
      ]);
    } finally {
      await admin.close();
      await db.close();
    }
  });

  it('reports a server that cannot be reached as STORAGE_UNAVAILABLE, naming it and never the password', async () => {
    const started = Date.now();
    const error = await openDatabase({
      kind: 'postgres',
      url: 'postgres://segserve:s3cret@127.0.0.1:1/app',
    }).catch((e: unknown) => e);
    expect(isSegserveError(error) && error.code).toBe('STORAGE_UNAVAILABLE');
    expect((error as Error).message).toMatch(
      /^The PostgreSQL database "app" at 127\.0\.0\.1:1 cannot be reached: .*ECONNREFUSED/,
    );
    expect((error as Error).message).not.toContain('s3cret');
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('reports a database that does not exist as STORAGE_FAILED, not as an outage', async () => {
    const url = new URL(TEST_POSTGRES_URL);
    url.pathname = '/segserve_no_such_database';
    const error = await openDatabase({ kind: 'postgres', url: url.toString() }).catch((e: unknown) => e);
    expect(isSegserveError(error) && error.code).toBe('STORAGE_FAILED');
    expect((error as Error).message).toContain('3D000');
  });
});
