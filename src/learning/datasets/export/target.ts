/**
 * Where an export is written: a local folder or a BlobStore prefix. Either way nobody sees half an export:
 * - a folder is written in a staging folder beside it and renamed into place at the end (as a model version is,
 *   src/models/tflite/import.ts); a folder that exists must be empty;
 * - a prefix gets its files one by one (each put is atomic) with `export.json` last, so a reader that finds it
 *   finds everything; a failed export deletes what it wrote. A prefix that already holds files is refused,
 *   unless they are this very export (then there is nothing to do).
 */
import { randomUUID } from 'node:crypto';
import { mkdir, readdir, rename, rm, rmdir, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { SegserveError } from '../../../errors.js';
import { type BlobStore, checkKey } from '../../../storage/index.js';

export const EXPORT_RECORD = 'export.json';

export interface ExportTarget {
  /** For messages: the folder's path or `<store> prefix <p>`. */
  readonly description: string;
  /** The export record already there, when the target holds a finished export. */
  existingRecord(): Promise<Uint8Array | undefined>;
  write(path: string, bytes: Uint8Array, contentType: string): Promise<void>;
  /** Makes everything written visible at once (folders) or is a no-op (prefixes: the record went last). */
  commit(): Promise<void>;
  /** Removes what was written. */
  abort(): Promise<void>;
}

function notWritable(path: string, error: unknown): SegserveError {
  const reason = error instanceof Error ? error.message : String(error);
  return new SegserveError('OUTPUT_NOT_WRITABLE', { path, reason });
}

async function entriesOf(dir: string): Promise<string[] | undefined> {
  try {
    return await readdir(dir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw notWritable(dir, error);
  }
}

/** A folder target; OUTPUT_NOT_WRITABLE when `dir` exists and is not an empty folder. */
export async function folderTarget(dir: string): Promise<ExportTarget> {
  const path = resolve(dir);
  const existing = await entriesOf(path);
  if (existing && existing.length > 0) {
    throw notWritable(
      path,
      new Error('the folder exists and is not empty; exports go to a new or empty folder'),
    );
  }
  const staging = join(dirname(path), `.${basename(path)}.partial-${randomUUID()}`);
  try {
    await mkdir(staging, { recursive: true });
  } catch (error) {
    throw notWritable(path, error);
  }
  return {
    description: path,
    existingRecord: async () => undefined,
    async write(file, bytes) {
      const target = join(staging, file);
      try {
        await mkdir(dirname(target), { recursive: true });
        await writeFile(target, bytes);
      } catch (error) {
        throw notWritable(path, error);
      }
    },
    async commit() {
      try {
        if (existing) await rmdir(path);
        await rename(staging, path);
      } catch (error) {
        throw notWritable(path, error);
      }
    },
    abort: () => rm(staging, { recursive: true, force: true }),
  };
}

/** Where segserve keeps its own blobs: content-addressed bytes, and version summaries (summary.ts). */
const RESERVED_PREFIXES = ['sha256/', 'datasets/summaries/'];

/**
 * `prefix` with one trailing slash, checked as a key prefix (BLOB_KEY_INVALID otherwise); INVALID_ARGUMENT
 * inside segserve's own areas, where an export's files would pose as content-addressed blobs.
 */
function normalizePrefix(prefix: string): string {
  const trimmed = prefix.replace(/\/+$/, '');
  checkKey(trimmed);
  const root = `${trimmed}/`;
  const reserved = RESERVED_PREFIXES.find((area) => root.startsWith(area) || area.startsWith(root));
  if (reserved) {
    throw new SegserveError('INVALID_ARGUMENT', {
      reason: `export prefix "${trimmed}" overlaps ${reserved}, where segserve keeps its own blobs`,
    });
  }
  return root;
}

/** A BlobStore prefix target. */
export async function blobTarget(blobs: BlobStore, prefix: string): Promise<ExportTarget> {
  const root = normalizePrefix(prefix);
  const description = `${blobs.description} prefix ${root}`;
  const written: string[] = [];
  const recordKey = `${root}${EXPORT_RECORD}`;
  const record = (await blobs.exists(recordKey)) ? await blobs.get(recordKey) : undefined;
  let holdsFiles = false;
  for await (const _ of blobs.list(root)) {
    holdsFiles = true;
    break;
  }
  return {
    description,
    async existingRecord() {
      if (holdsFiles && !record) {
        throw notWritable(
          description,
          new Error('the prefix already holds other files; export to a new prefix'),
        );
      }
      return record;
    },
    async write(file, bytes, contentType) {
      const key = `${root}${file}`;
      await blobs.put(key, bytes, { contentType });
      written.push(key);
    },
    commit: async () => {},
    async abort() {
      for (const key of written) await blobs.delete(key).catch(() => undefined);
    },
  };
}
