/**
 * The repository watch: changes to the model repository folder apply by themselves (`serve --watch`).
 *
 * fs.watch alone is not to be trusted: editors save through temporary files and renames, a copy in progress
 * reports a change per block written, network filesystems report nothing at all, and inotify watches can run
 * out. So the watch looks at the files itself: every `intervalMs` it reads the size and modification time of
 * every visible file of every model folder (and of its version folders), a few stat calls per model. fs.watch
 * is only a hint that brings the next look forward to `settleMs`.
 *
 * A model folder is applied (`ModelRepository.rescan` of that folder) only once two consecutive looks, at least
 * `settleMs` apart, saw it the same, different from what was last applied, and none of its files was modified
 * in the last `settleMs`: a model.onnx still being copied changes between looks (or was just written) and is not
 * loaded half-written. (A modification time in the future, a network filesystem's clock ahead of ours, does not
 * hold a folder back: the two looks still must agree.) Hidden files (`.name`) are not looked at: rsync and the
 * S3 sync write there first and rename into place when complete. A folder whose load fails is not tried again
 * until its files change. A repository folder that cannot be read is not taken as empty: that look is skipped.
 */
import { type FSWatcher, watch } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { ModelRepository, RepositoryChange } from '../models/index.js';

/** The default period between two looks: a change applies within about two periods (or settles) of its end. */
export const DEFAULT_WATCH_INTERVAL_MS = 5_000;
/** After a hint from fs.watch, the next look comes this soon (at most the interval). */
const DEFAULT_SETTLE_MS = 1_000;

export type WatchEvent =
  /** Model folders that changed and settled were applied; `changes` is what the repository did. */
  | { type: 'watch-applied'; folders: string[]; changes: RepositoryChange[] }
  /** Applying failed (the repository refused the rescan); tried again at the next look. */
  | { type: 'watch-failed'; folders: string[]; error: string }
  /** The repository folder could not be read: nothing is applied until it can be again. */
  | { type: 'watch-unreadable'; dir: string; error: string };

export interface RepositoryWatchOptions {
  /** Between two looks at the files (default 5 s). */
  intervalMs?: number;
  /** After a change is seen (or hinted), the next look comes this soon (default 1 s, at most the interval). */
  settleMs?: number;
  log?: (event: WatchEvent) => void;
}

/** Each model folder by name, and what its files look like (names, sizes, modification times). */
type Look = Map<string, string>;

interface FolderLook {
  print: string;
  /** The latest modification time of its files (epoch ms). */
  newest: number;
}

async function filesOf(
  dir: string,
  prefix: string,
  depth: number,
  into: string[],
  newest: { ms: number },
): Promise<void> {
  const entries = await readdir(dir, { withFileTypes: true });
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const entry of entries) {
    if (entry.name.startsWith('.')) continue;
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      if (depth > 0) await filesOf(path, `${prefix}${entry.name}/`, depth - 1, into, newest);
      continue;
    }
    const s = await stat(path).catch(() => undefined);
    // A symbolic link is followed: what it points at is what loads.
    if (s?.isFile()) {
      into.push(`${prefix}${entry.name}:${s.size}:${s.mtimeMs}:${s.ino}`);
      newest.ms = Math.max(newest.ms, s.mtimeMs);
    }
  }
}

/** What a model folder's files look like now; undefined when the folder is gone. */
async function lookAtFolder(dir: string): Promise<FolderLook | undefined> {
  const files: string[] = [];
  const newest = { ms: 0 };
  try {
    await filesOf(dir, '', 1, files, newest);
  } catch {
    return undefined;
  }
  return { print: files.join('|'), newest: newest.ms };
}

export class RepositoryWatch {
  readonly #repository: ModelRepository;
  readonly #root: string;
  readonly #intervalMs: number;
  readonly #settleMs: number;
  readonly #log: (event: WatchEvent) => void;
  /** The previous look, and what was last applied, by folder name. */
  #previous: Look | undefined;
  readonly #applied: Look = new Map();
  readonly #watchers = new Map<string, FSWatcher>();
  #timer: NodeJS.Timeout | undefined;
  /** When the scheduled look runs (performance.now()). */
  #dueAt = Number.POSITIVE_INFINITY;
  #looking: Promise<void> | undefined;
  #lookAgain = false;
  #paused = 0;
  #closed = false;
  #unreadable = false;
  #waiters: Array<() => void> = [];
  /** Folders of the last look with a file modified within `settleMs`. */
  #fresh = new Set<string>();

  private constructor(repository: ModelRepository, root: string, options: RepositoryWatchOptions) {
    this.#repository = repository;
    this.#root = root;
    this.#intervalMs = options.intervalMs ?? DEFAULT_WATCH_INTERVAL_MS;
    this.#settleMs = Math.min(options.settleMs ?? DEFAULT_SETTLE_MS, this.#intervalMs);
    this.#log = options.log ?? (() => {});
  }

  /**
   * Starts watching the repository's folder. The first two looks (a settle apart) take stock: a folder that
   * changed since the repository opened is applied then.
   */
  static start(repository: ModelRepository, options: RepositoryWatchOptions = {}): RepositoryWatch {
    const root = repository.root;
    if (root === undefined)
      throw new Error('only a repository folder can be watched, not a single model folder');
    const watcher = new RepositoryWatch(repository, root, options);
    watcher.#hintOn(root);
    watcher.#schedule(0);
    return watcher;
  }

  /** A hint that something changed (fs.watch, the S3 sync): the next look comes within `settleMs`. */
  poke(): void {
    if (this.#closed) return;
    if (this.#dueAt > performance.now() + this.#settleMs) this.#schedule(this.#settleMs);
  }

  /**
   * While paused, looks are made but nothing is applied (the S3 sync pauses it during a pass, so a model is not
   * applied with half of its new files). Every pause needs its resume.
   */
  pause(): void {
    this.#paused++;
  }

  resume(): void {
    this.#paused = Math.max(0, this.#paused - 1);
    if (this.#paused === 0) this.poke();
  }

  /** Resolves once a look that starts after this call has finished (and applied what it could). */
  nextLook(): Promise<void> {
    return new Promise((resolve) => {
      const waiter = () => resolve();
      // A look running now started before the call: wait for the one after it.
      if (this.#looking) {
        this.#lookAgain = true;
        const first = this.#looking;
        void first.then(() => this.#waiters.push(waiter));
      } else {
        this.#waiters.push(waiter);
        this.poke();
      }
    });
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#timer);
    for (const watcher of this.#watchers.values()) watcher.close();
    this.#watchers.clear();
    await this.#looking;
    for (const waiter of this.#waiters.splice(0)) waiter();
  }

  #schedule(ms: number): void {
    if (this.#closed) return;
    clearTimeout(this.#timer);
    this.#dueAt = performance.now() + ms;
    this.#timer = setTimeout(() => this.#look(), ms);
    // The watch never keeps a process alive that is otherwise done.
    this.#timer.unref();
  }

  /** fs.watch on one folder, as a hint only: where it cannot watch (limits, filesystems), the looks still run. */
  #hintOn(dir: string): void {
    if (this.#watchers.has(dir)) return;
    try {
      const watcher = watch(dir, { persistent: false }, () => this.poke());
      watcher.on('error', () => {
        watcher.close();
        this.#watchers.delete(dir);
      });
      this.#watchers.set(dir, watcher);
    } catch {
      // No hint for this folder; the periodic look covers it.
    }
  }

  /** Keeps fs.watch on the root, every model folder and every version folder, and on nothing else. */
  async #refreshHints(folders: Iterable<string>): Promise<void> {
    const wanted = new Set<string>([this.#root]);
    for (const folder of folders) {
      const dir = join(this.#root, folder);
      wanted.add(dir);
      const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
      for (const entry of entries) {
        if (entry.isDirectory() && !entry.name.startsWith('.')) wanted.add(join(dir, entry.name));
      }
    }
    for (const [dir, watcher] of this.#watchers) {
      if (!wanted.has(dir)) {
        watcher.close();
        this.#watchers.delete(dir);
      }
    }
    for (const dir of wanted) this.#hintOn(dir);
  }

  /** Every model folder of the repository now; undefined when the folder cannot be read. */
  async #lookAtRepository(): Promise<Look | undefined> {
    let names: string[];
    try {
      const entries = await readdir(this.#root, { withFileTypes: true });
      names = entries.filter((e) => e.isDirectory() && !e.name.startsWith('.')).map((e) => e.name);
      if (this.#unreadable) this.#unreadable = false;
    } catch (error) {
      if (!this.#unreadable) {
        this.#unreadable = true;
        this.#log({ type: 'watch-unreadable', dir: this.#root, error: (error as Error).message });
      }
      return undefined;
    }
    const look: Look = new Map();
    const now = Date.now();
    this.#fresh = new Set();
    await Promise.all(
      names.map(async (name) => {
        const folder = await lookAtFolder(join(this.#root, name));
        if (folder === undefined) return;
        look.set(name, folder.print);
        const age = now - folder.newest;
        if (age >= 0 && age < this.#settleMs) this.#fresh.add(name);
      }),
    );
    return look;
  }

  #look(): void {
    if (this.#closed) return;
    if (this.#looking) {
      this.#lookAgain = true;
      return;
    }
    this.#dueAt = Number.POSITIVE_INFINITY;
    this.#looking = this.#lookOnce()
      .catch((error: unknown) =>
        this.#log({
          type: 'watch-failed',
          folders: [],
          error: error instanceof Error ? error.message : String(error),
        }),
      )
      .then((unsettled) => {
        this.#looking = undefined;
        for (const waiter of this.#waiters.splice(0)) waiter();
        if (this.#lookAgain) {
          this.#lookAgain = false;
          this.#schedule(this.#settleMs);
        } else if (this.#dueAt === Number.POSITIVE_INFINITY) {
          this.#schedule(unsettled === true ? this.#settleMs : this.#intervalMs);
        }
      });
  }

  /** One look; true when some folder is still changing (look again soon). */
  async #lookOnce(): Promise<boolean> {
    const current = await this.#lookAtRepository();
    if (!current) return false;
    const previous = this.#previous;
    this.#previous = current;
    await this.#refreshHints(current.keys());
    let unsettled = false;
    const settled: string[] = [];
    for (const folder of new Set([...current.keys(), ...(previous?.keys() ?? []), ...this.#applied.keys()])) {
      const now = current.get(folder);
      if (now === this.#applied.get(folder) && this.#applied.has(folder) === current.has(folder)) continue;
      if (
        previous === undefined ||
        previous.get(folder) !== now ||
        previous.has(folder) !== current.has(folder) ||
        this.#fresh.has(folder)
      ) {
        unsettled = true;
        continue;
      }
      settled.push(folder);
    }
    if (settled.length === 0 || this.#paused > 0 || this.#closed) return unsettled || settled.length > 0;
    settled.sort();
    try {
      const changes = await this.#repository.rescan({ folders: settled });
      for (const folder of settled) {
        const now = current.get(folder);
        if (now === undefined) this.#applied.delete(folder);
        else this.#applied.set(folder, now);
      }
      if (changes.length > 0) this.#log({ type: 'watch-applied', folders: settled, changes });
    } catch (error) {
      if (this.#closed) return false;
      this.#log({
        type: 'watch-failed',
        folders: settled,
        error: error instanceof Error ? error.message : String(error),
      });
    }
    return unsettled;
  }
}
