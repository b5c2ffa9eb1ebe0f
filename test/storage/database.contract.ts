/**
 * The Database contract: one suite every adapter must pass (pglite-database.test.ts, postgres-database.test.ts),
 * on a database of its own that starts empty. It checks the promises of src/storage/database.ts: one SQL
 * dialect, values that read the same on both engines, transactions, errors with SQLSTATEs, and migrations
 * applied at open exactly once. Each test makes tables of its own names, so the tests share the database.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isSegserveError } from '../../src/errors.js';
import type { Database, Migration } from '../../src/storage/index.js';
import { MIGRATIONS } from '../../src/storage/migrations.js';
import { caught } from '../helpers/caught.js';

export interface DatabaseTarget {
  /**
   * Opens the database under test with `migrations` applied (what `openDatabase` does). Called again after a
   * close, it reopens the same database.
   */
  open(migrations?: readonly Migration[]): Promise<Database>;
  cleanup(): Promise<void>;
}

/** A migration appended to the product's list, as the next feature's would be. */
const widgets = (
  sql = 'CREATE TABLE widgets (id serial PRIMARY KEY, name text NOT NULL UNIQUE)',
): Migration => ({
  version: MIGRATIONS.length + 1,
  name: 'widgets',
  sql,
});

export function describeDatabaseContract(name: string, setup: () => Promise<DatabaseTarget>): void {
  describe(`Database contract: ${name}`, () => {
    let target: DatabaseTarget;
    let db: Database;

    beforeAll(async () => {
      target = await setup();
      db = await target.open();
    });

    afterAll(async () => {
      await db?.close();
      await target?.cleanup();
    });

    it('applies the product migrations at open and records them', async () => {
      const { rows } = await db.query<{ version: number; name: string }>(
        'SELECT version, name FROM schema_migrations ORDER BY version',
      );
      expect(rows).toEqual(MIGRATIONS.map(({ version, name }) => ({ version, name })));
      const installation = await db.query('SELECT id, created_at FROM installation');
      expect(installation.rowCount).toBe(1);
      expect(installation.rows[0].id).toMatch(/^[0-9a-f-]{36}$/);
      expect(installation.rows[0].created_at).toBeInstanceOf(Date);
    });

    it('reads every value the same way as the other engine', async () => {
      const { rows } = await db.query(
        `SELECT 1::int2 AS small, 7::int4 AS int, 42::int8 AS big, 9007199254740993::int8 AS huge,
                1.5::float8 AS float, 1.50::numeric AS exact, true AS yes, 'héllo'::text AS words,
                '{"k": [1, "two", null]}'::jsonb AS doc, '2024-01-02T03:04:05.678Z'::timestamptz AS at,
                '2024-01-02'::date AS day, '2024-01-02 03:04:05'::timestamp AS local,
                '1 day 02:00:00'::interval AS span, ARRAY[1, 2]::int4[] AS ints, ARRAY[3, 4]::int8[] AS bigs,
                ARRAY['a', 'b,c', NULL] AS texts, NULL::text AS nothing,
                '00000000-0000-0000-0000-000000000001'::uuid AS id`,
      );
      expect(rows[0]).toEqual({
        small: 1,
        int: 7,
        big: 42,
        huge: 9007199254740993n,
        float: 1.5,
        exact: '1.50',
        yes: true,
        words: 'héllo',
        doc: { k: [1, 'two', null] },
        at: new Date('2024-01-02T03:04:05.678Z'),
        day: '2024-01-02',
        local: '2024-01-02 03:04:05',
        span: '1 day 02:00:00',
        ints: [1, 2],
        bigs: [3, 4],
        texts: ['a', 'b,c', null],
        nothing: null,
        id: '00000000-0000-0000-0000-000000000001',
      });
    });

    it('takes every parameter type the port allows', async () => {
      const at = new Date('2024-05-06T07:08:09.123Z');
      const { rows } = await db.query(
        `SELECT $1::text AS words, $2::int4 AS int, $3::int8 AS big, $4::float8 AS float, $5::bool AS no,
                $6::timestamptz AS at, $7::jsonb AS doc, $8::text[] AS texts, $9::int4[] AS ints,
                $10::text AS nothing, $11::int8 AS huge`,
        [
          'ünï',
          5,
          6n,
          2.25,
          false,
          at,
          JSON.stringify([1, { a: 'b' }]),
          ['x', 'y,z'],
          [1, 2],
          null,
          2n ** 62n,
        ],
      );
      expect(rows[0]).toEqual({
        words: 'ünï',
        int: 5,
        big: 6,
        float: 2.25,
        no: false,
        at,
        doc: [1, { a: 'b' }],
        texts: ['x', 'y,z'],
        ints: [1, 2],
        nothing: null,
        huge: 2n ** 62n,
      });
    });

    it('stores and reads bytea exactly', async () => {
      await db.exec('CREATE TABLE contract_bytes (id int PRIMARY KEY, data bytea NOT NULL)');
      const every = Uint8Array.from({ length: 256 }, (_, i) => (i * 89) % 256);
      await db.query('INSERT INTO contract_bytes VALUES (1, $1), (2, $2)', [every, new Uint8Array(0)]);
      const { rows } = await db.query<{ id: number; data: Uint8Array }>(
        'SELECT id, data FROM contract_bytes ORDER BY id',
      );
      expect(rows[0].data).toBeInstanceOf(Uint8Array);
      expect(Buffer.compare(Buffer.from(rows[0].data), Buffer.from(every))).toBe(0);
      expect(rows[1].data.byteLength).toBe(0);
    });

    it('counts rows returned, or rows changed', async () => {
      await db.exec(
        'CREATE TABLE contract_counts (n int); INSERT INTO contract_counts SELECT generate_series(1, 5)',
      );
      expect((await db.query('SELECT n FROM contract_counts WHERE n > 2')).rowCount).toBe(3);
      expect((await db.query('UPDATE contract_counts SET n = n + 10 WHERE n <= 4')).rowCount).toBe(4);
      const deleted = await db.query<{ n: number }>('DELETE FROM contract_counts WHERE n > 12 RETURNING n');
      expect(deleted.rowCount).toBe(2);
      expect(deleted.rows.map((row) => row.n).sort((a, b) => a - b)).toEqual([13, 14]);
      expect((await db.query('DELETE FROM contract_counts WHERE n > 100')).rowCount).toBe(0);
    });

    it('commits a transaction that resolves, with its result', async () => {
      await db.exec('CREATE TABLE contract_commit (name text)');
      const result = await db.transaction(async (tx) => {
        await tx.query('INSERT INTO contract_commit VALUES ($1), ($2)', ['a', 'b']);
        return (await tx.query('SELECT count(*) AS n FROM contract_commit')).rows[0].n;
      });
      expect(result).toBe(2);
      expect((await db.query('SELECT name FROM contract_commit ORDER BY name')).rows).toEqual([
        { name: 'a' },
        { name: 'b' },
      ]);
    });

    it('rolls back a transaction that throws, and rethrows the error as it was', async () => {
      await db.exec('CREATE TABLE contract_rollback (name text)');
      await db.query("INSERT INTO contract_rollback VALUES ('kept')");
      class Refusal extends Error {}
      const refusal = new Refusal('the body refused');
      const thrown = await db
        .transaction(async (tx) => {
          await tx.query("INSERT INTO contract_rollback VALUES ('lost')");
          await tx.exec('CREATE TABLE contract_rollback_ddl (x int)');
          throw refusal;
        })
        .catch((error: unknown) => error);
      expect(thrown).toBe(refusal);
      expect((await db.query('SELECT name FROM contract_rollback')).rows).toEqual([{ name: 'kept' }]);
      expect((await caught(() => db.query('SELECT * FROM contract_rollback_ddl'))).details.sqlstate).toBe(
        '42P01',
      );
      // A failed statement inside also rolls everything back and reaches the caller as a catalogue error.
      const failed = await caught(() =>
        db.transaction(async (tx) => {
          await tx.query("INSERT INTO contract_rollback VALUES ('lost too')");
          await tx.query('INSERT INTO no_such_table VALUES (1)');
        }),
      );
      expect(failed.code).toBe('DATABASE_QUERY_FAILED');
      expect((await db.query('SELECT name FROM contract_rollback')).rows).toEqual([{ name: 'kept' }]);
    });

    it('runs concurrent transactions without losing an update', async () => {
      await db.exec(
        'CREATE TABLE contract_counter (id int PRIMARY KEY, n int NOT NULL); INSERT INTO contract_counter VALUES (1, 0)',
      );
      await Promise.all(
        Array.from({ length: 10 }, () =>
          db.transaction(async (tx) => {
            const { rows } = await tx.query<{ n: number }>(
              'SELECT n FROM contract_counter WHERE id = 1 FOR UPDATE',
            );
            await tx.query('UPDATE contract_counter SET n = $1 WHERE id = 1', [rows[0].n + 1]);
          }),
        ),
      );
      expect((await db.query('SELECT n FROM contract_counter')).rows).toEqual([{ n: 10 }]);
    });

    it('refuses a query on the database from inside its own transaction, and a transaction used after it ended', async () => {
      let leaked: Parameters<Parameters<Database['transaction']>[0]>[0] | undefined;
      const inner = await db
        .transaction(async (tx) => {
          leaked = tx;
          await db.query('SELECT 1');
        })
        .catch((error: unknown) => error);
      expect(String(inner)).toContain("use the transaction's own query");
      expect(() => leaked?.query('SELECT 1')).toThrow('already ended');
      expect((await db.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
    });

    it('reports a refused statement as DATABASE_QUERY_FAILED with its SQLSTATE', async () => {
      const missing = await caught(() => db.query('SELECT * FROM no_such_table'));
      expect(missing.code).toBe('DATABASE_QUERY_FAILED');
      expect(missing.details.sqlstate).toBe('42P01');
      expect(missing.message).toContain('no_such_table');
      await db.exec('CREATE TABLE contract_unique (name text CONSTRAINT contract_unique_name UNIQUE)');
      await db.query("INSERT INTO contract_unique VALUES ('x')");
      const duplicate = await caught(() => db.query('INSERT INTO contract_unique VALUES ($1)', ['x']));
      expect(duplicate.details.sqlstate).toBe('23505');
      expect(duplicate.message).toContain('contract_unique_name');
      expect(duplicate.status).toBe(500);
    });

    describe('migrations', () => {
      // These reopen the database in turn; they share `db` with the tests above, so they run after them.
      it('applies nothing when reopened on a current schema', async () => {
        await db.close();
        db = await target.open();
        const { rows } = await db.query('SELECT count(*) AS n FROM schema_migrations');
        expect(rows).toEqual([{ n: MIGRATIONS.length }]);
        expect((await db.query('SELECT count(*) AS n FROM installation')).rows).toEqual([{ n: 1 }]);
      });

      it('rolls back a failing migration whole: no table, no record, and the database still works', async () => {
        await db.close();
        const error = await target
          .open([
            ...MIGRATIONS,
            widgets('CREATE TABLE widgets (id int); INSERT INTO widgets VALUES (1); SELEC oops'),
          ])
          .catch((e: unknown) => e);
        expect(isSegserveError(error) && error.code).toBe('DATABASE_MIGRATION_FAILED');
        expect((error as Error).message).toContain(`migration ${MIGRATIONS.length + 1} (widgets) failed`);
        db = await target.open();
        expect((await caught(() => db.query('SELECT * FROM widgets'))).details.sqlstate).toBe('42P01');
        expect((await db.query('SELECT max(version) AS v FROM schema_migrations')).rows).toEqual([
          { v: MIGRATIONS.length },
        ]);
      });

      it('applies a new migration once, then refuses it once its SQL was edited', async () => {
        await db.close();
        db = await target.open([...MIGRATIONS, widgets()]);
        await db.query("INSERT INTO widgets (name) VALUES ('w')");
        await db.close();
        db = await target.open([...MIGRATIONS, widgets()]);
        expect((await db.query('SELECT name FROM widgets')).rows).toEqual([{ name: 'w' }]);
        await db.close();
        const edited = await target
          .open([...MIGRATIONS, widgets('CREATE TABLE widgets (id bigserial PRIMARY KEY)')])
          .catch((e: unknown) => e);
        expect(isSegserveError(edited) && edited.code).toBe('DATABASE_MIGRATION_FAILED');
        expect((edited as Error).message).toContain('changed after it was applied');
        // The code of an older release, which knows fewer migrations, still opens the database.
        db = await target.open();
      });

      it('refuses a list that is not numbered 1, 2, 3...', async () => {
        await db.close();
        const gap = await target
          .open([...MIGRATIONS, { ...widgets(), version: MIGRATIONS.length + 2 }])
          .catch((e: unknown) => e);
        expect(isSegserveError(gap) && gap.code).toBe('DATABASE_MIGRATION_FAILED');
        db = await target.open();
      });
    });

    it('refuses queries after close', async () => {
      await db.close();
      expect(() => db.query('SELECT 1')).toThrow('after close()');
      db = await target.open();
    });
  });
}
