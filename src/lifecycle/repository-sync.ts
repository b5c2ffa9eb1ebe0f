/**
 * A model repository kept as a synced copy of an object store prefix (`serve --models-sync s3://bucket/prefix`):
 * every `intervalMs` the prefix is listed through the BlobStore port, and the local repository folder is made to
 * match it; the repository watch then applies what changed, as for any change on disk.
 *
 * - An object is downloaded when its key is new or its listed tag (S3's ETag) or size differs from what was
 *   downloaded before. Its bytes are written to a hidden file beside the target (`.name.segserve-sync-*`,
 *   which neither the repository nor the watch reads) and renamed over it once complete: a reader sees the old
 *   file or the new one, never a part.
 * - A local file whose object went away is deleted, and folders left empty with it. Only files this sync wrote
 *   are deleted (its manifest, `.segserve-sync.json` in the repository folder, lists them with their tags), so a
 *   folder that also holds models put there by hand keeps them.
 * - A pass that fails (the store unreachable, a refused request, a local write) stops where it is: files already
 *   renamed into place stay, the temporary file of the one in progress is removed, nothing is deleted unless the
 *   whole listing was read, and the manifest records what was done. The next pass carries on from there.
 * - Keys that cannot be files (`a//b`, `..`, a key that is also a prefix of others) are skipped and reported;
 *   hidden keys (a segment starting with `.`) and folder markers (`prefix/`) are not mirrored.
 * - While a pass runs the watch is paused (`onPassStart`/`onPassEnd`), so a model whose config and model file
 *   both change is applied once, with both.
 *
 * Objects are read whole (`BlobStore.get`), as every blob is: models of a few hundred MB are fine; larger ones
 * would want a streaming read.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, rmdir, stat, unlink, writeFile } from 'node:fs/promises';
import { basename, dirname, join, sep } from 'node:path';
import { SegserveError } from '../errors.js';
import type { ErrorSummary } from '../models/index.js';
import type { BlobInfo, BlobStore } from '../storage/index.js';

export const DEFAULT_MODELS_SYNC_INTERVAL_MS = 60_000;
export const SYNC_MANIFEST = '.segserve-sync.json';
const TEMP_MARK = '.segserve-sync-';

export interface SyncReport {
  /** Keys downloaded (new or changed). */
  downloaded: string[];
  /** Keys whose local file was deleted. */
  deleted: string[];
  /** Objects already up to date. */
  unchanged: number;
  /** Keys not mirrored, with why. */
  skipped: Array<{ key: string; reason: string }>;
  /** Why the pass stopped early; absent when it completed. */
  error?: ErrorSummary;
  ms: number;
}

export type SyncEvent =
  /** A pass that changed files or skipped keys (a pass with nothing to do is not reported). */
  | ({ type: 'models-sync-completed'; source: string } & SyncReport)
  /** A pass that stopped early; the next one tries again. */
  | ({ type: 'models-sync-failed'; source: string } & SyncReport)
  /** The first pass that completed after failures. */
  | { type: 'models-sync-recovered'; source: string; failedPasses: number };

export interface RepositorySyncOptions {
  /** The store listing the prefix (its keys relative to the prefix). */
  store: BlobStore;
  /** The local repository folder. */
  dir: string;
  /** Where the objects come from, for logs and errors (`s3://bucket/prefix`). */
  source: string;
  /** Between two passes (default 60 s). */
  intervalMs?: number;
  log?: (event: SyncEvent) => void;
  onPassStart?: () => void;
  /** After every pass; `changed` when files were written or deleted. */
  onPassEnd?: (changed: boolean) => void;
}

interface ManifestEntry {
  etag?: string;
  size: number;
}

interface Manifest {
  source: string;
  objects: Record<string, ManifestEntry>;
}

function summarize(error: unknown): ErrorSummary {
  if (error instanceof SegserveError) return { code: error.code, message: error.message };
  return { code: 'MODEL_SYNC_FAILED', message: error instanceof Error ? error.message : String(error) };
}

/** Why a key cannot be mirrored as a file, or undefined; `hidden` for keys not mirrored on purpose. */
function keyProblem(key: string): string | 'hidden' | undefined {
  if (key === '' || key.endsWith('/')) return 'hidden';
  const segments = key.split('/');
  if (segments.some((s) => s === '' || s === '.' || s === '..'))
    return 'it has an empty, "." or ".." segment';
  if (segments.some((s) => s.startsWith('.'))) return 'hidden';
  if (segments.some((s) => s.includes('\\') || s.includes('\0'))) return 'it holds a backslash or a NUL';
  return undefined;
}

export class RepositorySync {
  readonly #options: RepositorySyncOptions;
  readonly #intervalMs: number;
  readonly #log: (event: SyncEvent) => void;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<SyncReport> | undefined;
  #failedPasses = 0;
  #closed = false;

  constructor(options: RepositorySyncOptions) {
    this.#options = options;
    this.#intervalMs = options.intervalMs ?? DEFAULT_MODELS_SYNC_INTERVAL_MS;
    this.#log = options.log ?? (() => {});
  }

  /** Runs a first pass (awaited, so a server starts with the models of the prefix), then one every interval. */
  static async start(options: RepositorySyncOptions): Promise<RepositorySync> {
    const sync = new RepositorySync(options);
    await sync.syncOnce();
    sync.#schedule();
    return sync;
  }

  /** One pass now (after the one running, if any). Never throws: a failure is in the report. */
  syncOnce(): Promise<SyncReport> {
    const previous = this.#running ?? Promise.resolve(undefined);
    const run = previous.then(() => this.#pass());
    this.#running = run;
    void run.finally(() => {
      if (this.#running === run) this.#running = undefined;
    });
    return run;
  }

  /** Stops the passes; a pass running finishes first. */
  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#timer);
    await this.#running;
  }

  #schedule(): void {
    if (this.#closed) return;
    this.#timer = setTimeout(() => {
      void this.syncOnce().then(() => this.#schedule());
    }, this.#intervalMs);
    this.#timer.unref();
  }

  get #manifestPath(): string {
    return join(this.#options.dir, SYNC_MANIFEST);
  }

  async #readManifest(): Promise<Manifest> {
    try {
      const parsed = JSON.parse(await readFile(this.#manifestPath, 'utf8')) as Manifest;
      // A manifest of another source describes files this source did not write: start afresh (nothing deleted).
      if (parsed.source === this.#options.source && typeof parsed.objects === 'object') return parsed;
    } catch {
      // None yet, or unreadable: every object is downloaded once.
    }
    return { source: this.#options.source, objects: {} };
  }

  async #writeManifest(manifest: Manifest): Promise<void> {
    await this.#writeAtomic(this.#manifestPath, Buffer.from(`${JSON.stringify(manifest, null, 1)}\n`));
  }

  /** Writes `bytes` to a hidden file beside `path`, then renames it over `path`. */
  async #writeAtomic(path: string, bytes: Uint8Array): Promise<void> {
    const temp = join(dirname(path), `.${basename(path)}${TEMP_MARK}${randomBytes(4).toString('hex')}`);
    try {
      await writeFile(temp, bytes);
      await rename(temp, path);
    } catch (error) {
      await rm(temp, { force: true });
      throw error;
    }
  }

  #failed(reason: string, cause?: unknown): SegserveError {
    return new SegserveError('MODEL_SYNC_FAILED', { source: this.#options.source, reason }, { cause });
  }

  async #pass(): Promise<SyncReport> {
    const started = performance.now();
    const report: SyncReport = { downloaded: [], deleted: [], unchanged: 0, skipped: [], ms: 0 };
    const { store, dir, source } = this.#options;
    this.#options.onPassStart?.();
    let manifest: Manifest | undefined;
    try {
      await mkdir(dir, { recursive: true }).catch((error: unknown) => {
        throw this.#failed(
          `the repository folder ${dir} cannot be created: ${(error as Error).message}`,
          error,
        );
      });
      manifest = await this.#readManifest();
      await this.#removeStaleTemps(dir);
      const listed = new Map<string, BlobInfo>();
      for await (const info of store.list('')) listed.set(info.key, info);
      const keys = [...listed.keys()].sort();
      const folders = new Set<string>();
      for (const key of keys) {
        for (let i = key.indexOf('/'); i > 0; i = key.indexOf('/', i + 1)) folders.add(key.slice(0, i));
      }
      const wanted = new Set<string>();
      for (const key of keys) {
        const problem = keyProblem(key);
        if (problem === 'hidden') continue;
        if (problem) {
          report.skipped.push({ key, reason: problem });
          continue;
        }
        // A key that is also a folder of other keys cannot be a file too.
        if (folders.has(key)) {
          report.skipped.push({ key, reason: 'other keys lie below it, so it would have to be a folder' });
          continue;
        }
        wanted.add(key);
      }
      for (const key of keys) {
        if (!wanted.has(key)) continue;
        const info = listed.get(key)!;
        const known = manifest.objects[key];
        const path = join(dir, ...key.split('/'));
        const local = await stat(path).catch(() => undefined);
        if (
          known &&
          known.etag === info.etag &&
          known.size === info.size &&
          local?.isFile() &&
          local.size === info.size
        ) {
          report.unchanged++;
          continue;
        }
        const bytes = await store.get(key);
        try {
          await mkdir(dirname(path), { recursive: true });
          if (local?.isDirectory()) await rm(path, { recursive: true, force: true });
          await this.#writeAtomic(path, bytes);
        } catch (error) {
          throw this.#failed(`${key} cannot be written to ${path}: ${(error as Error).message}`, error);
        }
        manifest.objects[key] = { etag: info.etag, size: bytes.byteLength };
        report.downloaded.push(key);
      }
      // Only now is the listing known to be whole: deleting on a partial one would delete what still exists.
      for (const key of Object.keys(manifest.objects).sort()) {
        if (wanted.has(key)) continue;
        const path = join(dir, ...key.split('/'));
        await unlink(path).catch((error: NodeJS.ErrnoException) => {
          if (error.code !== 'ENOENT')
            throw this.#failed(`${path} cannot be deleted: ${error.message}`, error);
        });
        delete manifest.objects[key];
        report.deleted.push(key);
        await this.#removeEmptyFolders(dirname(path));
      }
    } catch (error) {
      report.error = summarize(error);
    } finally {
      if (manifest) {
        await this.#writeManifest(manifest).catch((error: unknown) => {
          report.error ??= summarize(
            this.#failed(`the manifest cannot be written: ${(error as Error).message}`),
          );
        });
      }
      report.ms = performance.now() - started;
      this.#options.onPassEnd?.(report.downloaded.length > 0 || report.deleted.length > 0);
    }
    if (report.error) {
      this.#failedPasses++;
      this.#log({ type: 'models-sync-failed', source, ...report });
    } else {
      if (this.#failedPasses > 0) {
        this.#log({ type: 'models-sync-recovered', source, failedPasses: this.#failedPasses });
        this.#failedPasses = 0;
      }
      if (report.downloaded.length + report.deleted.length + report.skipped.length > 0) {
        this.#log({ type: 'models-sync-completed', source, ...report });
      }
    }
    return report;
  }

  /** Folders emptied by deletions go too, up to (not including) the repository folder. */
  async #removeEmptyFolders(folder: string): Promise<void> {
    let current = folder;
    while (current.startsWith(`${this.#options.dir}${sep}`)) {
      try {
        await rmdir(current);
      } catch {
        return;
      }
      current = dirname(current);
    }
  }

  /** Temporary files a pass left when the process died mid-write. */
  async #removeStaleTemps(folder: string, depth = 3): Promise<void> {
    const entries = await readdir(folder, { withFileTypes: true }).catch(() => []);
    for (const entry of entries) {
      const path = join(folder, entry.name);
      if (entry.isFile() && entry.name.startsWith('.') && entry.name.includes(TEMP_MARK)) {
        await rm(path, { force: true });
      } else if (entry.isDirectory() && !entry.name.startsWith('.') && depth > 0) {
        await this.#removeStaleTemps(path, depth - 1);
      }
    }
  }
}
