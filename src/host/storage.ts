/**
 * The server's storage, opened on first use rather than at start. Measured here (see
 * src/storage/pglite-database.ts): opening the embedded database takes 0.8-1.4 s and 240-260 MB of memory,
 * 4.6-7 s and an 800 MB peak the first time (initdb); every `segserve serve`, and every test that starts one,
 * would pay that before its first request although most never store anything. Features that store (the
 * active-learning sink, the annotation API) call `database()` / `blobs()` when they first need them.
 *
 * An open that fails is forgotten, so the next call tries again: a PostgreSQL or S3 server that was down at the
 * first use is picked up once it is back.
 */
import { existsSync } from 'node:fs';
import type { BlobStore, Database, StorageAccess, StorageSettings } from '../storage/index.js';
import { openBlobStore, openDatabase } from '../storage/index.js';

/** A store opened on its first use; an open that fails is forgotten, so the next use tries again. */
class OnFirstUse<T extends { close(): Promise<void> }> {
  private opened: Promise<T> | undefined;

  constructor(private readonly open: () => Promise<T>) {}

  get(): Promise<T> {
    this.opened ??= this.open().catch((error: unknown) => {
      this.opened = undefined;
      throw error;
    });
    return this.opened;
  }

  isOpen(): boolean {
    return this.opened !== undefined;
  }

  /** Closes the store if it was opened (waiting for an open in flight); a failed open has nothing to close. */
  async close(): Promise<void> {
    const store = await this.opened?.catch(() => undefined);
    await store?.close();
  }
}

export class LazyStorage implements StorageAccess {
  private readonly db: OnFirstUse<Database>;
  private readonly blobStore: OnFirstUse<BlobStore>;
  private closed = false;

  constructor(readonly settings: StorageSettings) {
    this.db = new OnFirstUse(() => openDatabase(settings.database));
    this.blobStore = new OnFirstUse(() => openBlobStore(settings.blobs));
  }

  /**
   * Whether a database exists to read from without creating one: a PostgreSQL server always may hold data;
   * an embedded one only once its folder exists. Start-up reads (aliases) ask first, so a server that never
   * stored anything does not pay the embedded engine's first open.
   */
  databaseExists(): boolean {
    const { database } = this.settings;
    return database.kind === 'postgres' || existsSync(database.dir) || this.db.isOpen();
  }

  /** Whether the database is open (or opening): readers that must not open it themselves, such as a scrape, ask. */
  databaseOpened(): boolean {
    return this.db.isOpen();
  }

  database(): Promise<Database> {
    return this.closed ? closedError() : this.db.get();
  }

  blobs(): Promise<BlobStore> {
    return this.closed ? closedError() : this.blobStore.get();
  }

  /** Closes what was opened; database() and blobs() refuse from then on. */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([this.db.close(), this.blobStore.close()]);
  }
}

function closedError(): Promise<never> {
  return Promise.reject(new Error('storage used after the server closed it'));
}
