/**
 * BlobStore on the local filesystem: the default, `<data dir>/blobs`. Layout:
 *
 *     <root>/objects/<key>      one file per blob, the key's segments as folders
 *     <root>/staging/<uuid>     writes in progress
 *
 * A put writes a staging file, flushes it to disk, then renames it over the key's path: rename within one
 * filesystem is atomic, so a reader sees the old bytes or the new ones and a crash leaves no half-written blob
 * (only a staging file, removed at the next open once it is an hour old). Staging lives beside `objects/`,
 * not in it, so listings never see it and no key is reserved for it.
 *
 * A filesystem cannot hold both a key and keys below it (`a` and `a/b`: `a` would be a file and a folder);
 * S3 can. Such a put is refused with BLOB_KEY_INVALID. Content-addressed keys never collide this way.
 */
import { randomUUID } from 'node:crypto';
import { lstat, mkdir, readdir, readFile, rename, rm, stat, unlink } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { SegserveError } from '../errors.js';
import { type ContentKind, checkKey, checkPrefix } from './blob-keys.js';
import {
  type BlobInfo,
  type BlobStore,
  type ContentPut,
  type PutOptions,
  putContentVia,
} from './blob-store.js';
import { syncFolder, writeNewFileSynced } from './durable-files.js';

/** A staging file this old was left by a crash: no write takes an hour. */
const STALE_STAGING_MS = 3_600_000;

function codeOf(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException | undefined)?.code;
}

/** Errors that mean "no file at this path": the path or one of its folders is missing, or is not a folder. */
const ABSENT = new Set(['ENOENT', 'ENOTDIR']);

export class FsBlobStore implements BlobStore {
  readonly description: string;
  private readonly objects: string;
  private readonly staging: string;

  private constructor(readonly root: string) {
    this.description = `filesystem blob store at ${root}`;
    this.objects = join(root, 'objects');
    this.staging = join(root, 'staging');
  }

  /** Creates the folders when missing and removes staging files left by a crash. */
  static async open(root: string): Promise<FsBlobStore> {
    const store = new FsBlobStore(resolve(root));
    try {
      await mkdir(store.objects, { recursive: true });
      await mkdir(store.staging, { recursive: true });
      await store.removeStaleStaging();
    } catch (error) {
      throw store.failure(error, `cannot prepare ${store.root}`);
    }
    return store;
  }

  async put(key: string, bytes: Uint8Array, _options?: PutOptions): Promise<void> {
    checkKey(key);
    const target = this.pathOf(key);
    const temp = join(this.staging, randomUUID());
    try {
      await this.makeParent(key, target);
      // On disk before the rename makes it visible: a crash must not leave a key naming an empty file.
      await writeNewFileSynced(temp, bytes);
      await rename(temp, target);
      await syncFolder(dirname(target));
    } catch (error) {
      await rm(temp, { force: true });
      if (codeOf(error) === 'EISDIR') throw conflict(key, 'keys below it exist');
      if (error instanceof SegserveError) throw error;
      throw this.failure(error, `cannot write ${JSON.stringify(key)}`);
    }
  }

  async get(key: string): Promise<Uint8Array> {
    checkKey(key);
    try {
      return await readFile(this.pathOf(key));
    } catch (error) {
      // EISDIR: the key is only a prefix of other keys, which holds no bytes of its own.
      if (ABSENT.has(codeOf(error) ?? '') || codeOf(error) === 'EISDIR') {
        throw new SegserveError('BLOB_NOT_FOUND', { key, store: this.description });
      }
      throw this.failure(error, `cannot read ${JSON.stringify(key)}`);
    }
  }

  async head(key: string): Promise<BlobInfo | undefined> {
    checkKey(key);
    try {
      const stats = await stat(this.pathOf(key));
      return stats.isFile() ? { key, size: stats.size } : undefined;
    } catch (error) {
      if (ABSENT.has(codeOf(error) ?? '')) return undefined;
      throw this.failure(error, `cannot read ${JSON.stringify(key)}`);
    }
  }

  async exists(key: string): Promise<boolean> {
    return (await this.head(key)) !== undefined;
  }

  async delete(key: string): Promise<void> {
    checkKey(key);
    try {
      await unlink(this.pathOf(key));
    } catch (error) {
      // A folder is a prefix of other keys, not a blob: nothing to delete under this key (as in S3).
      if (ABSENT.has(codeOf(error) ?? '') || codeOf(error) === 'EISDIR') return;
      throw this.failure(error, `cannot delete ${JSON.stringify(key)}`);
    }
  }

  async *list(prefix: string): AsyncIterable<BlobInfo> {
    checkPrefix(prefix);
    // Start in the deepest folder the prefix names in full: `sha256/ab/c` is read from `sha256/ab/`.
    yield* this.walk(prefix.slice(0, prefix.lastIndexOf('/') + 1), prefix);
  }

  putContent(bytes: Uint8Array, kind?: ContentKind): Promise<ContentPut> {
    return putContentVia(this, bytes, kind);
  }

  async close(): Promise<void> {}

  /**
   * Keys under the folder `folderKey` (`''` or ending in `/`) that start with `prefix`, in S3's order: entries
   * sorted by their UTF-8 bytes with a folder compared as `name/`, which puts `a-c` before `a/b` as S3 does
   * (`-` is 0x2d, `/` is 0x2f). Each folder is read when the iteration reaches it.
   */
  private async *walk(folderKey: string, prefix: string): AsyncIterable<BlobInfo> {
    let entries: Array<{ key: string; folder: boolean; order: Buffer }>;
    try {
      entries = (await readdir(join(this.objects, folderKey), { withFileTypes: true }))
        .filter((entry) => entry.isFile() || entry.isDirectory())
        .map((entry) => {
          const key = `${folderKey}${entry.name}${entry.isDirectory() ? '/' : ''}`;
          return { key, folder: entry.isDirectory(), order: Buffer.from(key) };
        })
        .sort((a, b) => Buffer.compare(a.order, b.order));
    } catch (error) {
      if (ABSENT.has(codeOf(error) ?? '')) return;
      throw this.failure(error, `cannot list ${JSON.stringify(folderKey)}`);
    }
    for (const entry of entries) {
      if (entry.folder) {
        if (entry.key.startsWith(prefix) || prefix.startsWith(entry.key)) yield* this.walk(entry.key, prefix);
      } else if (entry.key.startsWith(prefix)) {
        const stats = await lstat(this.pathOf(entry.key)).catch((error: unknown) => {
          // Deleted between the folder read and now: no longer part of the listing.
          if (ABSENT.has(codeOf(error) ?? '')) return undefined;
          throw this.failure(error, `cannot list ${JSON.stringify(entry.key)}`);
        });
        // Every put writes a new file and renames it in place: a new inode, so a new tag even at the same size.
        if (stats)
          yield { key: entry.key, size: stats.size, etag: `${stats.ino}-${stats.size}-${stats.mtimeMs}` };
      }
    }
  }

  /** The file of a checked key; the check above already refuses `..`, so this only guards against a bug. */
  private pathOf(key: string): string {
    const path = join(this.objects, ...key.split('/'));
    if (!path.startsWith(`${this.objects}/`)) throw conflict(key, 'it leaves the store');
    return path;
  }

  /** The key's folders; a file where a folder must go means the key sits below another key. */
  private async makeParent(key: string, target: string): Promise<void> {
    try {
      await mkdir(dirname(target), { recursive: true });
    } catch (error) {
      if (codeOf(error) === 'ENOTDIR' || codeOf(error) === 'EEXIST') {
        throw conflict(key, 'a key it lies below exists (the filesystem cannot hold both "a" and "a/b")');
      }
      throw error;
    }
  }

  private async removeStaleStaging(): Promise<void> {
    const now = Date.now();
    for (const name of await readdir(this.staging)) {
      const path = join(this.staging, name);
      const stats = await lstat(path).catch(() => undefined);
      if (stats && now - stats.mtimeMs > STALE_STAGING_MS) await rm(path, { force: true, recursive: true });
    }
  }

  /** A filesystem error other than "absent": disk full, permissions, I/O. An operator must act. */
  private failure(error: unknown, what: string): SegserveError {
    const reason = `${what}: ${error instanceof Error ? error.message : String(error)}`;
    return new SegserveError('STORAGE_FAILED', { store: this.description, reason }, { cause: error });
  }
}

function conflict(key: string, reason: string): SegserveError {
  return new SegserveError('BLOB_KEY_INVALID', { key: JSON.stringify(key), reason });
}
