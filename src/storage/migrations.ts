/**
 * The schema of segserve's database, as migrations applied in order (migrate.ts). To change the schema, append
 * an entry with the next version; never edit one that has shipped (a changed checksum is refused at open).
 * One dialect: the SQL runs on the embedded engine and on PostgreSQL 13 or newer, and the Database contract
 * suite applies this list on both.
 */
import type { Migration } from './migrate.js';

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'installation',
    // One row naming this database: dataset versions and exports (issue 10) record the installation they came
    // from, so two installations' versions are never taken for one another.
    sql: `
      CREATE TABLE installation (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        created_at timestamptz NOT NULL DEFAULT now(),
        only_row boolean NOT NULL DEFAULT true UNIQUE CHECK (only_row)
      );
      INSERT INTO installation DEFAULT VALUES;
    `,
  },
];
