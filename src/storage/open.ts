/**
 * Opens the configured blob store and database. Each adapter's module is imported here only when that adapter
 * is configured: importing the AWS SDK takes 285 ms and 23 MB, `pg` 98 ms, PGlite 90 ms (measured here, each
 * alone in a fresh Node.js 20), which every start of every process would otherwise pay. And the AWS SDK's
 * Node.js support warning (printed once per process when a client is created on Node.js < 22) appears only
 * where S3 is configured, not on every start.
 */
import type { BlobStore } from './blob-store.js';
import type { Database } from './database.js';
import { checkMigrations, type Migration, migrate } from './migrate.js';
import { MIGRATIONS } from './migrations.js';
import type { BlobSettings, DatabaseSettings } from './settings.js';

export async function openBlobStore(settings: BlobSettings): Promise<BlobStore> {
  if (settings.kind === 's3') {
    const { S3BlobStore } = await import('./s3-blob-store.js');
    return new S3BlobStore(settings);
  }
  const { FsBlobStore } = await import('./fs-blob-store.js');
  return FsBlobStore.open(settings.root);
}

/** Opens the database and brings its schema up to date (`migrations`: the product's own unless a test's). */
export async function openDatabase(
  settings: DatabaseSettings,
  migrations: readonly Migration[] = MIGRATIONS,
): Promise<Database> {
  // A malformed list fails before an engine is started for nothing.
  checkMigrations(migrations);
  let db: Database;
  if (settings.kind === 'postgres') {
    const { PostgresDatabase } = await import('./postgres-database.js');
    db = new PostgresDatabase({ url: settings.url });
  } else {
    const { PgliteDatabase } = await import('./pglite-database.js');
    db = await PgliteDatabase.open(settings.dir);
  }
  try {
    await migrate(db, migrations);
  } catch (error) {
    await db.close();
    throw error;
  }
  return db;
}
