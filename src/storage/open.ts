/**
 * Opens the configured blob store, database and work queues. Each adapter's module is imported here only when that
 * adapter is configured: importing the AWS SDK takes 285 ms and 23 MB, `pg` 98 ms, PGlite 90 ms, BullMQ with
 * ioredis 670-930 ms and 37-43 MB (measured here, each alone in a fresh Node.js 20), which every start of every
 * process would otherwise pay. And the AWS SDK's Node.js support warning (printed once per process when a client
 * is created on Node.js < 22) appears only where S3 is configured, not on every start.
 */
import type { BlobStore } from './blob-store.js';
import type { Database } from './database.js';
import { checkMigrations, type Migration, migrate } from './migrate.js';
import { MIGRATIONS } from './migrations.js';
import type { JsonValue, RetryPolicy, WorkQueue } from './queue.js';
import type { BlobSettings, DatabaseSettings, QueueSettings } from './settings.js';

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

export interface OpenQueueOptions {
  /** Of the messages this handle adds: each message keeps the policy of the handle that added it. */
  retry: RetryPolicy;
  /** Redis only: how long a consumer's lock on a message lasts without renewal (default 30 s); see BullmqQueueOptions. */
  lockMs?: number;
  /** Redis only: the prefix of the queue's keys (default `segserve`). */
  prefix?: string;
  /** Dead letters kept, the most recent (default 1000). */
  deadLetters?: number;
}

/**
 * A handle on the work queue `name`, in this process or in Redis. Opening does not wait for Redis: while it cannot
 * be reached, `add` and `counts` fail with STORAGE_UNAVAILABLE and consumers wait.
 */
export async function openQueue<T extends JsonValue>(
  name: string,
  settings: QueueSettings,
  options: OpenQueueOptions,
): Promise<WorkQueue<T>> {
  if (settings.kind === 'redis') {
    const { BullmqQueue } = await import('./bullmq-queue.js');
    return new BullmqQueue<T>(name, {
      ...options,
      prefix: options.prefix ?? settings.prefix,
      url: settings.url,
    });
  }
  const { MemoryQueue } = await import('./memory-queue.js');
  return new MemoryQueue<T>(name, options);
}
