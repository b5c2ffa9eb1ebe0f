/**
 * How a feature reaches the stores without opening them itself: the server hands features this, opened on
 * first use (src/host/storage.ts), and tests hand them stores they opened. Each call may open the store, so a
 * store that was down is tried again on the next call.
 */
import type { BlobStore } from './blob-store.js';
import type { Database } from './database.js';

export interface StorageAccess {
  database(): Promise<Database>;
  blobs(): Promise<BlobStore>;
}
