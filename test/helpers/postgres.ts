/**
 * The PostgreSQL server of the machine (`.ci/run` starts it), for the Database contract suite: each test file
 * works in databases of its own, created fresh and dropped afterwards, so files running in parallel never see
 * each other's tables. `SEGSERVE_TEST_DATABASE_URL` points elsewhere (a database the tests may create
 * databases from); suites skip with a SKIPPED message when the server cannot be reached.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';

export const TEST_POSTGRES_URL =
  process.env.SEGSERVE_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

async function withClient<T>(use: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: TEST_POSTGRES_URL, connectionTimeoutMillis: 3_000 });
  await client.connect();
  try {
    return await use(client);
  } finally {
    await client.end();
  }
}

/** Undefined when the server answers, else why not. */
export async function postgresProblem(): Promise<string | undefined> {
  try {
    await withClient((client) => client.query('SELECT 1'));
    return undefined;
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
}

export interface FreshDatabase {
  url: string;
  drop(): Promise<void>;
}

/** A new, empty database on the test server; `drop()` removes it, ending its connections. */
export async function freshDatabase(): Promise<FreshDatabase> {
  const name = `segserve_test_${process.pid}_${randomBytes(4).toString('hex')}`;
  await withClient((client) => client.query(`CREATE DATABASE ${name}`));
  const url = new URL(TEST_POSTGRES_URL);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: () =>
      withClient((client) => client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)).then(() => {}),
  };
}
