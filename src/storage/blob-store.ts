/**
 * The BlobStore port: bytes under string keys, on the local filesystem or in an S3-protocol bucket (AWS, MinIO,
 * GCS's S3 interface). Every adapter passes test/storage/blob-store.contract.ts. Errors are catalogue codes:
 * BLOB_NOT_FOUND, BLOB_KEY_INVALID (see blob-keys.ts), STORAGE_UNAVAILABLE when the store cannot be reached
 * (retryable: keep the bytes and try later) and STORAGE_FAILED when it answered with a refusal.
 *
 * Objects are whole byte arrays, not streams: segserve stores images, masks and predictions of a few MB at most,
 * already in memory when they are stored. Each adapter reads and writes them in one linear pass.
 */
import { type ContentKind, contentKey } from './blob-keys.js';

export interface BlobInfo {
  key: string;
  /** Bytes. */
  size: number;
  /**
   * An opaque tag of the object's bytes, given by listings: another tag means other bytes were stored (S3's
   * ETag; the filesystem adapter's file identity, size and modification time). Compare for equality only.
   */
  etag?: string;
}

export interface PutOptions {
  /**
   * Stored as the object's Content-Type where the store keeps one (S3), so objects served straight from a
   * bucket carry it; default: the type of the key's extension. The filesystem keeps no metadata: readers take
   * the type from the key (`contentTypeOf`), which is why content-addressed keys carry an extension.
   */
  contentType?: string;
}

export interface ContentPut {
  key: string;
  /** False when the store already held these bytes: nothing was written. */
  created: boolean;
}

export interface BlobStore {
  /** Where the blobs live, for logs and error messages, e.g. `filesystem blob store at /data/blobs`. */
  readonly description: string;
  /** Stores `bytes` under `key`, replacing what was there; readers see the old or the new bytes, never a mix. */
  put(key: string, bytes: Uint8Array, options?: PutOptions): Promise<void>;
  /** The bytes under `key`; BLOB_NOT_FOUND when there are none. */
  get(key: string): Promise<Uint8Array>;
  /** The key's size, or undefined when it does not exist. */
  head(key: string): Promise<BlobInfo | undefined>;
  exists(key: string): Promise<boolean>;
  /** Removes `key`; removing a key that does not exist is not an error (as in S3). */
  delete(key: string): Promise<void>;
  /**
   * Every key starting with `prefix`, each once, fetched a page at a time as the caller iterates. The order is
   * the store's: ascending UTF-8 bytes on AWS S3 and the filesystem adapter, not on every S3-compatible server
   * (s3rver lists `a/b` before `a-c`); a caller that needs an order sorts.
   */
  list(prefix: string): AsyncIterable<BlobInfo>;
  /**
   * Stores `bytes` under their content-addressed key (`contentKey`): the same bytes always land on the same key,
   * and storing them again writes nothing. Safe to call concurrently with the same bytes.
   */
  putContent(bytes: Uint8Array, kind?: ContentKind): Promise<ContentPut>;
  /** Releases connections; the store is unusable afterwards. */
  close(): Promise<void>;
}

/**
 * `putContent` in terms of `head` and `put`, shared by the adapters. A key already holding as many bytes is
 * taken as holding these bytes (a SHA-256 collision is not a concern); one of another size can only be the
 * leftover of a corrupted write, and is replaced. Two concurrent calls may both write: they write the same bytes,
 * and each adapter's put is atomic, so the outcome is the same.
 */
export async function putContentVia(
  store: Pick<BlobStore, 'head' | 'put'>,
  bytes: Uint8Array,
  kind: ContentKind = {},
): Promise<ContentPut> {
  const key = contentKey(bytes, kind);
  const existing = await store.head(key);
  if (existing?.size === bytes.byteLength) return { key, created: false };
  await store.put(key, bytes, kind.contentType === undefined ? {} : { contentType: kind.contentType });
  return { key, created: true };
}
