/**
 * How features reach the stores without opening them: the server opens each on its first use
 * (src/host/storage.ts), a command opens both for its run. Routes take this, so they never open or close stores.
 */
import type { BlobStore } from './blob-store.js';
import type { Database } from './database.js';

export interface StorageAccess {
  database(): Promise<Database>;
  blobs(): Promise<BlobStore>;
}
