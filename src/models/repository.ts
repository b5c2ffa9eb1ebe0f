/**
 * The model repository (Triton / TF-Serving layout): `<repository>/<model>/config.yaml`, `labels.txt` and
 * `<version>/model.onnx`, or ONNX files elsewhere named in the config's `versions` map. Every chosen version
 * gets its own Runtime (a SessionPool of worker threads unless the caller supplies another factory). A model that
 * cannot load (bad config, missing or corrupt file, missing execution provider) is kept with its reason and state
 * 'failed'; it never takes the other models down.
 *
 * The registry changes while it serves, as MLServer's registry does: load, unload and reload a model or one
 * version, and `rescan()` to apply what changed on disk. The rules:
 * - The new is loaded before the old is retired, and each model's state is one immutable view swapped in by a
 *   single assignment, so `resolve()` answers the old version until the new one is ready, never an error.
 * - A version that fails to load leaves the version it would have replaced serving, and says why.
 * - Operations on one model run one at a time (a per-model queue); repeating one changes nothing more.
 * - A version leaves in two steps: it stops being resolvable at once, then its runtime is closed once every
 *   request holding it (a `lease`, taken when the serving core admits a request) has finished, or after
 *   `retireTimeoutMs`. A request in flight finishes on the version it started with.
 */
import { readdir, stat } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { basename, isAbsolute, join, relative, resolve } from 'node:path';
import { SegserveError } from '../errors.js';
import type { RuntimeFactory } from '../runtime/runtime.js';
import type { ExecutionProvider } from '../runtime/session-options.js';
import { classLabels } from './class-labels.js';
import type { DecoderName, GateConfig, ModelConfig, Task } from './config.js';
import {
  CONFIG_FILE,
  type Env,
  loadModelDefinition,
  type ModelDefinition,
  type VersionSource,
} from './load-config.js';
import { type LoadedVersion, openVersion } from './open-version.js';
import type { ErrorSummary, LoadState } from './status.js';

export type { LoadedVersion } from './open-version.js';
export type { ErrorSummary, LoadState } from './status.js';

export interface VersionStatus {
  version: number;
  state: LoadState;
  modelPath: string;
  /**
   * Why it failed to load; on a ready version, why the last attempt to reload it failed (the version loaded
   * before keeps serving).
   */
  error?: ErrorSummary;
  /** Seconds the version took to load and warm up, once ready. */
  loadSeconds?: number;
}

export interface ModelStatus {
  name: string;
  dir: string;
  task?: Task;
  decoder?: DecoderName;
  /** Class names by class id, as answers name them (classLabels): the labels file plus any background. */
  labels?: string[];
  input?: ModelConfig['input'];
  /** The gate classifier that must accept each image first (`pipeline.gate`), for a model with one. */
  gate?: GateConfig;
  /** Ready when at least one version is ready. */
  state: LoadState;
  /** Why the model cannot serve; on a ready model, why the last change of its folder could not be applied. */
  error?: ErrorSummary;
  versions: VersionStatus[];
}

/** One servable version: what the request pipeline needs to feed the model and decode its outputs. */
/**
 * Why a version stops serving: an operator asked (`requested`), a reload replaced it (`replaced`), the version
 * policy no longer picks it (`policy`), its files or model folder went away (`removed`), or the repository
 * closed (`closed`).
 */
export type RetireReason = 'requested' | 'replaced' | 'policy' | 'removed' | 'closed';

export type RepositoryEvent =
  | { type: 'model-loading'; model: string; dir: string; versions: number[] }
  | { type: 'version-ready'; model: string; version: number; loadMs: number }
  | { type: 'version-failed'; model: string; version: number; error: ErrorSummary }
  | { type: 'model-failed'; model: string; dir: string; error: ErrorSummary }
  /** A reload swapped a new runtime in for a version; the one before is retiring. */
  | { type: 'version-reloaded'; model: string; version: number; loadMs: number }
  /** Reloading a version failed; the one loaded before keeps serving. */
  | { type: 'version-reload-failed'; model: string; version: number; error: ErrorSummary }
  /** The model folder changed (config.yaml, labels) but cannot be read; the versions loaded keep serving. */
  | { type: 'model-reload-failed'; model: string; dir: string; error: ErrorSummary }
  /** The version no longer resolves; its runtime closes once the requests holding it are done. */
  | { type: 'version-retiring'; model: string; version: number; reason: RetireReason; inFlight: number }
  /**
   * The version's runtime is closed. `abandoned`: requests still holding it when `retireTimeoutMs` ran out
   * (they fail with RUNTIME_CLOSED if they had not reached their runtime yet).
   */
  | {
      type: 'version-unloaded';
      model: string;
      version: number;
      reason: RetireReason;
      waitedMs: number;
      abandoned: number;
    }
  /** The model no longer serves: unloaded on request, or its folder went away. */
  | { type: 'model-unloaded'; model: string; dir: string; reason: 'requested' | 'removed' };

export interface RepositoryOptions {
  /** Serve only these models, by folder name or configured name. */
  models?: string[];
  /** Overrides every config's `execution_provider` (e.g. `--device cuda`). */
  executionProvider?: ExecutionProvider;
  log?: (event: RepositoryEvent) => void;
  /** Environment for `${VAR}` in config paths; default `process.env`. */
  env?: Env;
  /** What runs each version; default onnxruntime in worker threads (SessionPool). */
  createRuntime?: RuntimeFactory;
  /**
   * Versions that stay loaded (when present on disk) whatever the version policy says, e.g. the versions that
   * aliases point at: with `latest: 1`, a newer version arriving must not unload the one `stable` names.
   * Asked again at every change of the model.
   */
  keepVersions?: (model: string) => Iterable<number>;
  /**
   * Longest wait for the requests holding a retired version before its runtime is closed anyway (default
   * 120 s: longer than a request may take to arrive, wait and be answered under the default limits).
   */
  retireTimeoutMs?: number;
}

export const DEFAULT_RETIRE_TIMEOUT_MS = 120_000;

/** Changes of a model that can make it fit, or stop fitting, as the gate of other models. */
const GATE_EVENTS: ReadonlySet<RepositoryEvent['type']> = new Set<RepositoryEvent['type']>([
  'version-ready',
  'version-reloaded',
  'version-failed',
  'version-unloaded',
  'model-failed',
  'model-unloaded',
]);

/** One change an operation made, as operations and `rescan()` report them. */
export interface RepositoryChange {
  model: string;
  /** Absent for a change of the model as a whole (its folder, its config). */
  version?: number;
  change:
    | 'loaded'
    | 'reloaded'
    | 'unloaded'
    | 'failed'
    | 'reload-failed'
    | 'model-failed'
    | 'model-reload-failed'
    | 'model-unloaded';
  /** Why: the load error, or the reason a version was unloaded. */
  reason?: string;
}

/** What loading one version came to (`loadVersion`, `installVersion`). */
export type VersionOutcome =
  | { state: 'ready'; model: string; version: number; loadSeconds?: number; changes: RepositoryChange[] }
  | { state: 'failed'; model: string; version: number; error: ErrorSummary; changes: RepositoryChange[] };

/** A model (or one version) as the repository index lists it, loaded or not. */
export interface IndexEntry {
  /** The configured name, or the folder name of a folder not read yet. */
  name: string;
  version?: number;
  state: 'ready' | 'failed' | 'loading' | 'unloading' | 'unloaded';
  reason?: string;
}

/** A model's state in one object, replaced whole (one assignment) whenever anything about the model changes. */
interface View {
  status: ModelStatus;
  loaded: ReadonlyMap<number, LoadedVersion>;
  /** Published: listed and resolvable. False while a model met for the first time loads. */
  published: boolean;
  /** Unloaded on request (the model, or every one of its versions): not listed, resolve says MODEL_UNLOADED. */
  offline: boolean;
}

/** The last attempt to load a version: its file and model definition then, and whether it failed. */
interface Attempt {
  fingerprint: string;
  definitionKey: string;
  failed?: ErrorSummary;
}

interface Entry {
  readonly dir: string;
  view: View;
  attempts: Map<number, Attempt>;
  /** Versions an operator loaded: they stay whatever the policy says, until unloaded or gone from disk. */
  pinned: Set<number>;
  /** Versions an operator unloaded: the policy does not bring them back until they are loaded again. */
  blocked: Set<number>;
  /** The whole model was unloaded on request: rescans leave it alone until it is loaded again. */
  unloaded: boolean;
  /** Versions being loaded now (the index shows them as loading). */
  loading: Set<number>;
  /** The config as last read from disk. */
  config?: ModelConfig;
}

/** The lifecycle of one LoadedVersion: who holds it, and whether it is leaving. */
interface Held {
  model: string;
  version: number;
  leases: number;
  retiring?: Promise<void>;
  closed: boolean;
  /** Called when the last lease is released (set while retiring). */
  onIdle?: () => void;
}

interface SyncPlan {
  /** Versions to load afresh even when nothing changed (`all`: every version the model keeps). */
  force?: ReadonlySet<number> | 'all';
  /** A version that must end up loaded (pinned if neither the policy nor keepVersions picks it). */
  ensure?: number;
  /** Load the model even if it was unloaded on request. */
  load?: boolean;
  /** Try again the versions whose last attempt failed, even with the same files. */
  retryFailed?: boolean;
}

function summarize(error: unknown): ErrorSummary {
  if (error instanceof SegserveError) return { code: error.code, message: error.message };
  return { code: 'MODEL_LOAD_FAILED', message: error instanceof Error ? error.message : String(error) };
}

/** A file as seen now: a change of size, modification time or inode means new content. */
async function fingerprint(source: VersionSource): Promise<string> {
  if (source.problem) return `problem:${source.problem}`;
  try {
    const s = await stat(source.modelPath);
    return `${s.size}:${s.mtimeMs}:${s.ino}`;
  } catch {
    return 'missing';
  }
}

/**
 * What makes two loads of a model the same, apart from its ONNX file: the config (without the version policy
 * and `versions` map, which choose versions and never change how one runs) and the labels.
 */
function definitionKey(definition: ModelDefinition): string {
  const { version_policy: _policy, versions: _versions, ...rest } = definition.config;
  return JSON.stringify([rest, definition.labels]);
}

async function isDirectory(path: string): Promise<boolean> {
  return stat(path).then(
    (s) => s.isDirectory(),
    () => false,
  );
}

/** Limits how many version loads run at once across the repository. */
class Slots {
  #free: number;
  readonly #waiting: Array<() => void> = [];

  constructor(count: number) {
    this.#free = count;
  }

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.#free > 0) this.#free--;
    else await new Promise<void>((resolve) => this.#waiting.push(resolve));
    try {
      return await task();
    } finally {
      const next = this.#waiting.shift();
      if (next) next();
      else this.#free++;
    }
  }
}

function emptyStatus(name: string, dir: string): ModelStatus {
  return { name, dir, state: 'loading', versions: [] };
}

export class ModelRepository {
  /** Every model folder met, by absolute path. */
  readonly #entries = new Map<string, Entry>();
  /** The folder serving each name. */
  readonly #byName = new Map<string, Entry>();
  readonly #held = new WeakMap<LoadedVersion, Held>();
  /** Versions retiring now, for the index and for close(). */
  readonly #retiring = new Set<{ held: Held; reason: RetireReason; done: Promise<void> }>();
  readonly #listeners = new Set<(event: RepositoryEvent) => void>();
  /** The tail of each model folder's operation queue. */
  readonly #queues = new Map<string, Promise<unknown>>();
  readonly #options: RepositoryOptions;
  readonly #retireTimeoutMs: number;
  /** Session creation and warm-up are CPU-bound: more at once than there are cores only makes each slower. */
  readonly #slots = new Slots(availableParallelism());
  /** The repository folder; undefined when serving one model folder (`openModelFolder`). */
  readonly #root?: string;
  readonly #fixedFolders?: string[];
  #rescanning: Promise<unknown> = Promise.resolve();
  #closed = false;

  private constructor(options: RepositoryOptions, root: string | undefined, fixedFolders?: string[]) {
    this.#options = options;
    this.#retireTimeoutMs = options.retireTimeoutMs ?? DEFAULT_RETIRE_TIMEOUT_MS;
    this.#root = root;
    this.#fixedFolders = fixedFolders;
  }

  /** Loads every model folder of `dir` (or those named in `options.models`) and each chosen version. */
  static async open(dir: string, options: RepositoryOptions = {}): Promise<ModelRepository> {
    const root = resolve(dir);
    const repository = new ModelRepository(options, root);
    await repository.#syncMany(await repository.#listFolders(), {});
    return repository;
  }

  /** Serves one model folder (a folder holding config.yaml), e.g. `segserve predict --model ./my-model`. */
  static async openModelFolder(
    dir: string,
    options: Omit<RepositoryOptions, 'models'> = {},
  ): Promise<ModelRepository> {
    const folder = resolve(dir);
    const repository = new ModelRepository(options, undefined, [folder]);
    await repository.#syncMany([folder], {});
    return repository;
  }

  /** The repository folder, or undefined when serving a single model folder. */
  get root(): string | undefined {
    return this.#root;
  }

  /** Hears every event (besides `options.log`); returns the unsubscribe function. */
  subscribe(listener: (event: RepositoryEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Every model that serves or failed, by name (not those unloaded on request, nor those still loading). */
  list(): ModelStatus[] {
    return [...this.#entries.values()]
      .filter((e) => e.view.published && !e.view.offline)
      .map((e) => copyStatus(e.view.status))
      .sort((a, b) => a.name.localeCompare(b.name));
  }

  get(name: string): ModelStatus | undefined {
    const view = this.#byName.get(name)?.view;
    return view?.published && !view.offline ? copyStatus(view.status) : undefined;
  }

  /** Like `get`, also by folder name (a model whose config names it otherwise). */
  find(model: string): ModelStatus | undefined {
    const byName = this.get(model);
    if (byName) return byName;
    for (const { dir, view } of this.#entries.values()) {
      if (basename(dir) === model && view.published && !view.offline) return copyStatus(view.status);
    }
    return undefined;
  }

  /** The config of a model as last read from its folder (its version policy included). */
  config(name: string): ModelConfig | undefined {
    return this.#byName.get(name)?.config;
  }

  /** The version to serve: the one asked for, or the newest ready one. */
  resolve(name: string, version?: number): LoadedVersion {
    const entry = this.#byName.get(name);
    if (!entry) throw new SegserveError('MODEL_NOT_FOUND', { model: name });
    const { view } = entry;
    if (view.offline) throw new SegserveError('MODEL_UNLOADED', { model: name });
    if (version !== undefined) {
      const loaded = view.loaded.get(version);
      if (loaded) return loaded;
      const status = view.status.versions.find((v) => v.version === version);
      if (!status) {
        if (entry.loading.has(version)) {
          throw new SegserveError('MODEL_NOT_READY', { model: name, version, reason: 'still loading' });
        }
        throw new SegserveError('MODEL_VERSION_NOT_FOUND', { model: name, version });
      }
      throw new SegserveError('MODEL_NOT_READY', {
        model: name,
        version,
        reason: status.error?.message ?? 'still loading',
      });
    }
    let newest: LoadedVersion | undefined;
    for (const loaded of view.loaded.values())
      if (!newest || loaded.version > newest.version) newest = loaded;
    if (newest) return newest;
    throw new SegserveError('MODEL_NOT_READY', {
      model: name,
      version: 'latest',
      reason: view.status.error?.message ?? 'still loading',
    });
  }

  /**
   * Holds `loaded` for a request until the returned function is called (once; later calls do nothing): a retired
   * version's runtime is closed only once it is released by every holder. Throws RUNTIME_CLOSED for a version
   * whose runtime is closed already (unloaded, or the repository closing).
   */
  lease(loaded: LoadedVersion): () => void {
    const held = this.#held.get(loaded);
    if (!held) return () => {};
    if (held.closed) throw new SegserveError('RUNTIME_CLOSED');
    held.leases++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      held.leases--;
      if (held.leases === 0) held.onIdle?.();
    };
  }

  /** Requests holding a version now (0 for one this repository did not load). */
  leases(loaded: LoadedVersion): number {
    return this.#held.get(loaded)?.leases ?? 0;
  }

  /**
   * Every model of the repository, loaded or not, one entry per version where it has versions (the model
   * repository extension's index). Folders not read yet are listed by folder name as `unloaded`.
   */
  async index(): Promise<IndexEntry[]> {
    const entries: IndexEntry[] = [];
    const known = new Set<string>();
    for (const entry of this.#entries.values()) {
      known.add(entry.dir);
      const { view } = entry;
      const name = view.status.name;
      if (view.offline) {
        entries.push({ name, state: 'unloaded', reason: 'unloaded' });
        continue;
      }
      const listed = new Set<number>();
      for (const v of view.status.versions) {
        if (!view.published) break;
        listed.add(v.version);
        const reason = v.state === 'failed' ? v.error?.message : undefined;
        entries.push({ name, version: v.version, state: v.state, ...(reason ? { reason } : {}) });
      }
      for (const version of entry.loading) {
        if (!listed.has(version)) entries.push({ name, version, state: 'loading' });
      }
      if (view.published && view.status.versions.length === 0 && entry.loading.size === 0) {
        const reason = view.status.error?.message;
        entries.push({ name, state: view.status.state, ...(reason ? { reason } : {}) });
      }
    }
    for (const { held, reason } of this.#retiring) {
      // A runtime replaced by a reload is not a version leaving: the version is listed once, as ready.
      if (reason !== 'replaced')
        entries.push({ name: held.model, version: held.version, state: 'unloading' });
    }
    for (const dir of await this.#listFolders().catch(() => [])) {
      if (known.has(dir) || !this.#wanted(basename(dir), dir)) continue;
      entries.push({ name: basename(dir), state: 'unloaded', reason: 'not loaded' });
    }
    return entries.sort(
      (a, b) =>
        a.name.localeCompare(b.name) || (b.version ?? 0) - (a.version ?? 0) || a.state.localeCompare(b.state),
    );
  }

  // ---- registry operations ----------------------------------------------------------------------------------

  /**
   * Loads a model (by configured or folder name) as its version policy says, or applies what changed in its
   * folder when it is loaded already. A model unloaded on request is loaded again. MODEL_NOT_FOUND when no folder
   * of the repository holds it.
   */
  async load(model: string): Promise<RepositoryChange[]> {
    const dir = await this.#folderOf(model);
    return this.#locked(dir, async (entry) => {
      if (entry) {
        entry.unloaded = false;
        entry.blocked.clear();
      }
      return this.#sync(dir, { load: true, retryFailed: true });
    });
  }

  /**
   * Loads every version of a model afresh (new runtimes from the files on disk), each swapped in once ready;
   * a version that fails keeps its current runtime serving.
   */
  async reload(model: string): Promise<RepositoryChange[]> {
    const dir = await this.#folderOf(model);
    return this.#locked(dir, async (entry) => {
      if (entry) entry.unloaded = false;
      return this.#sync(dir, { load: true, force: 'all' });
    });
  }

  /** Unloads every version of a model; it stays unloaded (rescans leave it) until loaded again. */
  async unload(model: string): Promise<RepositoryChange[]> {
    const dir = this.#knownFolder(model);
    return this.#locked(dir, async (entry) => {
      if (!entry) return [];
      if (entry.unloaded) return [];
      entry.unloaded = true;
      entry.pinned.clear();
      entry.blocked.clear();
      return this.#takeOffline(entry, 'requested');
    });
  }

  /**
   * Loads one version and keeps it loaded whatever the version policy says, until `unloadVersion` or until its
   * files go away. Loaded already and unchanged: nothing happens. A version that failed before is tried again.
   */
  async loadVersion(model: string, version: number): Promise<VersionOutcome> {
    const dir = await this.#folderOf(model);
    return this.#locked(dir, async (entry) => {
      const target = entry ?? this.#entries.get(dir);
      if (target) {
        target.unloaded = false;
        target.blocked.delete(version);
        target.pinned.add(version);
      }
      const loadedNow = target?.view.loaded.has(version) ?? false;
      const changes = await this.#sync(dir, {
        load: true,
        ensure: version,
        force: loadedNow ? undefined : new Set([version]),
      });
      this.#entries.get(dir)?.pinned.add(version);
      return this.#outcome(dir, version, changes);
    });
  }

  /**
   * For a version folder that has just been moved into the repository (the upload flow): reads the model
   * folder again and loads the version, trying again even if an earlier attempt with the same files failed.
   * It stays loaded as the version policy and `keepVersions` say; a version neither of them picks is pinned, as
   * by `loadVersion`. Resolves with the outcome: ready, or failed with the reason.
   */
  async installVersion(model: string, version: number): Promise<VersionOutcome> {
    const dir = await this.#folderOf(model);
    return this.#locked(dir, async (entry) => {
      if (entry) {
        entry.unloaded = false;
        entry.blocked.delete(version);
      }
      const changes = await this.#sync(dir, { load: true, ensure: version, force: new Set([version]) });
      return this.#outcome(dir, version, changes);
    });
  }

  /**
   * Unloads one version: it stops resolving at once and its runtime closes once the requests holding it are
   * done. The version policy does not bring it back until it is loaded again (or its folder is replaced).
   */
  async unloadVersion(model: string, version: number): Promise<RepositoryChange[]> {
    const dir = this.#knownFolder(model);
    return this.#locked(dir, async (entry) => {
      if (!entry) throw new SegserveError('MODEL_NOT_FOUND', { model });
      const known =
        entry.view.loaded.has(version) ||
        entry.view.status.versions.some((v) => v.version === version) ||
        entry.blocked.has(version);
      if (!known) throw new SegserveError('MODEL_VERSION_NOT_FOUND', { model, version });
      if (entry.blocked.has(version) && !entry.view.loaded.has(version)) return [];
      entry.pinned.delete(version);
      entry.blocked.add(version);
      return this.#sync(dir, {});
    });
  }

  /**
   * Reconciles the loaded state with the disk now: new model folders load, removed ones unload, version folders
   * added or removed, and a changed config.yaml, labels or model.onnx are applied (load before unload). Models
   * unloaded on request are left alone. `models`: only these models, by configured or folder name (a name not
   * known yet is read as a folder name). `folders`: only these folders of the repository (what the watch saw
   * change), known or new.
   */
  async rescan(options: { models?: string[]; folders?: string[] } = {}): Promise<RepositoryChange[]> {
    const run = this.#rescanning.then(async () => {
      this.#checkOpen();
      let dirs: string[];
      if (options.folders) {
        const root = this.#root;
        dirs = options.folders.map((folder) =>
          root
            ? join(root, basename(folder))
            : (this.#fixedFolders?.find((d) => basename(d) === folder) ?? ''),
        );
        dirs = dirs.filter((dir) => dir !== '');
      } else if (options.models) {
        dirs = [...new Set(options.models.map((model) => this.#dirOf(model)))];
      } else {
        dirs = [...new Set([...(await this.#listFolders()), ...this.#entries.keys()])];
      }
      return this.#syncMany(dirs.sort(), {});
    });
    this.#rescanning = run.catch(() => undefined);
    return run;
  }

  /** Resolves once every retiring version has closed its runtime. */
  async settled(): Promise<void> {
    while (this.#retiring.size > 0) await Promise.all([...this.#retiring].map((r) => r.done));
  }

  /**
   * Closes every runtime: running and queued jobs finish, new ones are refused. Retiring versions stop waiting
   * for their requests.
   */
  async close(): Promise<void> {
    this.#closed = true;
    for (const { held } of this.#retiring) held.onIdle?.();
    const runtimes = [...this.#entries.values()].flatMap((e) =>
      [...e.view.loaded.values()].map((loaded) => {
        const held = this.#held.get(loaded);
        if (held) held.closed = true;
        return loaded.runtime;
      }),
    );
    await Promise.all([...runtimes.map((runtime) => runtime.close()), this.settled()]);
  }

  // ---- internals --------------------------------------------------------------------------------------------

  #emit(event: RepositoryEvent): void {
    this.#options.log?.(event);
    for (const listener of this.#listeners) {
      try {
        listener(event);
      } catch {
        // A listener's failure is its own; the repository goes on.
      }
    }
    if (GATE_EVENTS.has(event.type)) this.#recheckGates(event.model);
  }

  #checkOpen(): void {
    if (this.#closed) throw new SegserveError('SERVER_CLOSING');
  }

  /** The model folders of the repository now (absolute, sorted), or the single folder served. */
  async #listFolders(): Promise<string[]> {
    if (this.#fixedFolders) return [...this.#fixedFolders];
    const root = this.#root!;
    try {
      const entries = await readdir(root, { withFileTypes: true });
      return entries
        .filter((e) => e.isDirectory() && !e.name.startsWith('.'))
        .map((e) => join(root, e.name))
        .sort();
    } catch (error) {
      throw new SegserveError('INVALID_ARGUMENT', {
        reason: `model repository ${root} cannot be read: ${(error as Error).message}`,
      });
    }
  }

  /** The folder a rescan of `model` reads: the known model's, else the repository's folder of that name. */
  #dirOf(model: string): string {
    try {
      return this.#knownFolder(model);
    } catch {
      if (this.#root) return join(this.#root, basename(model));
      return this.#fixedFolders?.find((dir) => basename(dir) === model) ?? resolve(model);
    }
  }

  /** The folder of a model known to the repository, by configured name or folder name. */
  #knownFolder(model: string): string {
    const byName = this.#byName.get(model);
    if (byName) return byName.dir;
    for (const entry of this.#entries.values()) if (basename(entry.dir) === model) return entry.dir;
    throw new SegserveError('MODEL_NOT_FOUND', { model });
  }

  /** The folder of a model, known or not yet read: a folder of that name, or one whose config names it. */
  async #folderOf(model: string): Promise<string> {
    this.#checkOpen();
    try {
      return this.#knownFolder(model);
    } catch (error) {
      const folders = await this.#listFolders();
      const byFolder = folders.find((dir) => basename(dir) === model);
      if (byFolder && this.#wanted(model, byFolder)) return byFolder;
      const env = this.#options.env ?? process.env;
      for (const dir of folders) {
        if (this.#entries.has(dir)) continue;
        const name = await loadModelDefinition(dir, env).then(
          (d) => d.name,
          () => undefined,
        );
        if (name === model && this.#wanted(name, dir)) return dir;
      }
      throw error;
    }
  }

  #wanted(name: string, dir: string): boolean {
    const only = this.#options.models;
    return !only || only.includes(name) || only.includes(basename(dir));
  }

  /** Runs `task` after the model's earlier operations (one at a time per model folder). */
  #locked<T>(dir: string, task: (entry: Entry | undefined) => Promise<T>): Promise<T> {
    const previous = this.#queues.get(dir) ?? Promise.resolve();
    const run = previous.then(() => {
      this.#checkOpen();
      return task(this.#entries.get(dir));
    });
    const tail = run.then(
      () => undefined,
      () => undefined,
    );
    this.#queues.set(dir, tail);
    void tail.then(() => {
      if (this.#queues.get(dir) === tail) this.#queues.delete(dir);
    });
    return run;
  }

  async #syncMany(dirs: string[], plan: SyncPlan): Promise<RepositoryChange[]> {
    // Folders are read in order first, so that of two folders claiming one name the first (by path) keeps it.
    // Models with a gate wait until every model without one has settled: their gate classifier may sort after
    // them, and it must have loaded (or failed) before the gate can be checked.
    const prepared: Array<Promise<RepositoryChange[]>> = [];
    const ungated: Array<Promise<unknown>> = [];
    let openBarrier!: () => void;
    const barrier = new Promise<void>((resolve) => {
      openBarrier = resolve;
    });
    const settled = (run: Promise<unknown>) =>
      run.then(
        () => undefined,
        () => undefined,
      );
    for (const dir of dirs) {
      let gated = false;
      let ready!: (hasGate: boolean) => void;
      const claimed = new Promise<void>((resolve) => {
        ready = (hasGate) => {
          gated = hasGate;
          resolve();
        };
      });
      const run = this.#locked(dir, () => this.#sync(dir, plan, ready, barrier));
      prepared.push(run);
      await Promise.race([claimed, settled(run)]);
      if (!gated) ungated.push(settled(run));
    }
    void Promise.all(ungated).then(() => openBarrier());
    const results = await Promise.all(prepared);
    return results.flat();
  }

  /**
   * Brings one model folder in line with the disk and the operator's requests; runs under the folder's lock.
   * `claimed` is called once the model's name is settled (before any loading), saying whether the model has a
   * gate; such a model waits for `gateBarrier` (the other models of the same pass) before its gate is checked.
   */
  async #sync(
    dir: string,
    plan: SyncPlan,
    claimed: (hasGate: boolean) => void = () => {},
    gateBarrier: Promise<void> = Promise.resolve(),
  ): Promise<RepositoryChange[]> {
    const env = this.#options.env ?? process.env;
    let entry = this.#entries.get(dir);
    if (!(await isDirectory(dir))) {
      claimed(false);
      return entry ? this.#remove(entry) : [];
    }
    if (entry?.unloaded && !plan.load) {
      claimed(false);
      return [];
    }
    let definition: ModelDefinition | undefined;
    let readError: unknown;
    try {
      definition = await loadModelDefinition(dir, env);
    } catch (error) {
      readError = error;
    }
    const name = definition?.name ?? entry?.view.status.name ?? basename(dir);
    if (!this.#wanted(name, dir)) {
      claimed(false);
      return entry ? this.#remove(entry) : [];
    }
    if (!entry) {
      entry = {
        dir,
        view: { status: emptyStatus(name, dir), loaded: new Map(), published: false, offline: false },
        attempts: new Map(),
        pinned: new Set(),
        blocked: new Set(),
        unloaded: false,
        loading: new Set(),
      };
      this.#entries.set(dir, entry);
    }
    if (definition) entry.config = definition.config;
    const previousName = entry.view.status.name;
    const renamed = entry.view.published && previousName !== name;
    const owner = this.#byName.get(name);
    if (owner && owner !== entry && this.#entries.get(owner.dir) === owner) {
      claimed(false);
      const error = new SegserveError('CONFIG_INVALID', {
        file: join(dir, CONFIG_FILE),
        issues: `name: "${name}" is already served from ${owner.dir}`,
      });
      return this.#publishFailure(entry, name, summarize(error));
    }
    if (!owner) this.#byName.set(name, entry);
    const gate = definition?.config.pipeline?.gate;
    claimed(gate !== undefined);

    if (!definition) {
      const summary = summarize(readError);
      if (!renamed && entry.view.loaded.size > 0) {
        // A broken edit of a serving model: what was loaded keeps serving, and the status says why.
        const status = { ...copyStatus(entry.view.status), error: this.#public(summary, entry) };
        if (entry.view.status.error?.message === status.error.message) return [];
        entry.view = { ...entry.view, status };
        this.#emit({ type: 'model-reload-failed', model: name, dir, error: summary });
        return [{ model: name, change: 'model-reload-failed', reason: summary.message }];
      }
      return this.#publishFailure(entry, name, summary);
    }
    if (gate) {
      await gateBarrier;
      const problem = this.#gateProblem(gate);
      if (problem) {
        const error = new SegserveError('GATE_INVALID', { model: name, gate: gate.model, reason: problem });
        return this.#publishFailure(entry, name, summarize(error));
      }
    }
    return this.#apply(entry, definition, plan, renamed ? previousName : undefined);
  }

  /**
   * Why `gate` cannot serve as a gate now, or undefined when it can: its model must be in the repository, ready,
   * a classification model, with the version asked for (a number; an alias is resolved per request) and every
   * accepted label among its labels.
   */
  #gateProblem(gate: GateConfig): string | undefined {
    const target = this.#byName.get(gate.model);
    if (!target || this.#entries.get(target.dir) !== target)
      return `no model "${gate.model}" is in the repository`;
    const { view } = target;
    if (!view.published) return `"${gate.model}" is still loading`;
    if (view.offline) return `"${gate.model}" is unloaded`;
    const task = view.status.task ?? target.config?.task;
    if (task !== undefined && task !== 'classification') {
      return `"${gate.model}" is a ${task} model, not a classification model (task classification, decoder softmax-classifier)`;
    }
    if (view.loaded.size === 0) {
      return `"${gate.model}" has no ready version (${view.status.error?.message ?? 'none loaded'})`;
    }
    if (typeof gate.version === 'number' && !view.loaded.has(gate.version)) {
      const ready = [...view.loaded.keys()].sort((a, b) => a - b).join(', ');
      return `"${gate.model}" has no ready version ${gate.version} (ready: ${ready}); its version_policy must keep it`;
    }
    const labels = view.status.labels ?? [];
    const missing = gate.accept.filter((label) => !labels.includes(label));
    if (missing.length > 0) {
      const shown = labels.length > 20 ? `${labels.slice(0, 20).join(', ')}, ...` : labels.join(', ');
      return `"${gate.model}" has no label ${missing.map((l) => `"${l}"`).join(', ')} to accept (its labels: ${shown})`;
    }
    return undefined;
  }

  /**
   * After a change to model `changed`: the models gated by it whose state no longer fits their gate are synced
   * again, later, under their own lock. One serving behind a gate that can no longer serve fails (GATE_INVALID);
   * one that failed for its gate loads once the gate can serve (e.g. the gate model arrived after it).
   */
  #recheckGates(changed: string): void {
    if (this.#closed) return;
    for (const entry of this.#entries.values()) {
      const gate = entry.config?.pipeline?.gate;
      if (!gate || gate.model !== changed || entry.unloaded) continue;
      const { view } = entry;
      if (!view.published || view.offline) continue;
      const failedForGate = view.loaded.size === 0 && view.status.error?.code === 'GATE_INVALID';
      const problem = this.#gateProblem(gate);
      if (!failedForGate && !(problem && view.loaded.size > 0)) continue;
      void this.#locked(entry.dir, () => this.#sync(entry.dir, {})).catch(() => undefined);
    }
  }

  /** Loads what the model needs, then swaps the new view in and retires what left. */
  async #apply(
    entry: Entry,
    definition: ModelDefinition,
    plan: SyncPlan,
    previousName: string | undefined,
  ): Promise<RepositoryChange[]> {
    const { name } = definition;
    const key = definitionKey(definition);
    const shown = (summary: ErrorSummary) => this.#public(summary, entry, definition.available);
    const available = new Map(definition.available.map((v) => [v.version, v]));
    const current = previousName === undefined ? entry.view.loaded : new Map<number, LoadedVersion>();
    for (const version of entry.blocked) if (!available.has(version)) entry.blocked.delete(version);
    for (const version of entry.pinned) if (!available.has(version)) entry.pinned.delete(version);

    const want = new Map<number, VersionSource>();
    for (const source of definition.versions) {
      if (!entry.blocked.has(source.version)) want.set(source.version, source);
    }
    for (const version of this.#keep(name)) {
      const source = available.get(version);
      if (source && !entry.blocked.has(version)) want.set(version, source);
    }
    if (plan.ensure !== undefined) {
      if (!available.has(plan.ensure)) {
        throw new SegserveError('MODEL_VERSION_NOT_FOUND', { model: name, version: plan.ensure });
      }
      if (!want.has(plan.ensure)) entry.pinned.add(plan.ensure);
    }
    for (const version of entry.pinned) want.set(version, available.get(version)!);

    // Every version the model had is unloaded on request: the model is offline until loaded again.
    if (want.size === 0 && entry.blocked.size > 0) return this.#takeOffline(entry, 'requested');

    const prints = new Map<number, string>();
    await Promise.all([...want.values()].map(async (s) => prints.set(s.version, await fingerprint(s))));
    const toLoad: VersionSource[] = [];
    for (const source of want.values()) {
      const attempt = entry.attempts.get(source.version);
      const forced = plan.force === 'all' || plan.force?.has(source.version) === true;
      const same =
        attempt !== undefined &&
        attempt.fingerprint === prints.get(source.version) &&
        attempt.definitionKey === key &&
        (current.has(source.version) || (attempt.failed !== undefined && !plan.retryFailed));
      if (!same || forced) toLoad.push(source);
    }

    if (toLoad.length > 0) {
      this.#emit({
        type: 'model-loading',
        model: name,
        dir: entry.dir,
        versions: toLoad.map((s) => s.version),
      });
    }
    for (const source of toLoad) entry.loading.add(source.version);
    const outcomes = new Map<number, { loaded?: LoadedVersion; error?: ErrorSummary; loadMs: number }>();
    await Promise.all(
      toLoad.map(async (source) => {
        const started = performance.now();
        const result = await this.#slots.run(() => this.#createVersion(definition, source));
        const loadMs = performance.now() - started;
        outcomes.set(source.version, { ...result, loadMs });
        entry.attempts.set(source.version, {
          fingerprint: prints.get(source.version)!,
          definitionKey: key,
          failed: result.error,
        });
      }),
    );
    for (const source of toLoad) entry.loading.delete(source.version);
    if (this.#closed) {
      for (const outcome of outcomes.values()) await outcome.loaded?.runtime.close();
      throw new SegserveError('SERVER_CLOSING');
    }

    // The new view, from what was kept, what loaded and what failed.
    const changes: RepositoryChange[] = [];
    const events: RepositoryEvent[] = [];
    const loaded = new Map<number, LoadedVersion>();
    const versions: VersionStatus[] = [];
    const retire: Array<[LoadedVersion, RetireReason]> = [];
    const oldStatus = new Map(entry.view.status.versions.map((v) => [v.version, v]));
    let replacementFailed = false;
    for (const source of [...want.values()].sort((a, b) => b.version - a.version)) {
      const { version, modelPath } = source;
      const before = current.get(version);
      const outcome = outcomes.get(version);
      if (!outcome) {
        // Unchanged: as it was (ready, or failed for the same files).
        const attempt = entry.attempts.get(version);
        if (before) {
          loaded.set(version, before);
          versions.push({ ...(oldStatus.get(version) ?? { version, state: 'ready', modelPath }) });
        } else {
          replacementFailed = true;
          versions.push({
            version,
            state: 'failed',
            modelPath,
            error: attempt?.failed && shown(attempt.failed),
          });
        }
        continue;
      }
      if (outcome.loaded) {
        loaded.set(version, outcome.loaded);
        versions.push({ version, state: 'ready', modelPath, loadSeconds: outcome.loadMs / 1000 });
        if (before) {
          retire.push([before, 'replaced']);
          events.push({ type: 'version-reloaded', model: name, version, loadMs: outcome.loadMs });
          changes.push({ model: name, version, change: 'reloaded' });
        } else {
          events.push({ type: 'version-ready', model: name, version, loadMs: outcome.loadMs });
          changes.push({ model: name, version, change: 'loaded' });
        }
        continue;
      }
      const error = outcome.error!;
      if (before) {
        loaded.set(version, before);
        const kept = oldStatus.get(version);
        versions.push({
          ...(kept ?? { version, state: 'ready', modelPath: before.modelPath }),
          error: shown(error),
        });
        events.push({ type: 'version-reload-failed', model: name, version, error });
        changes.push({ model: name, version, change: 'reload-failed', reason: error.message });
      } else {
        replacementFailed = true;
        versions.push({ version, state: 'failed', modelPath, error: shown(error) });
        events.push({ type: 'version-failed', model: name, version, error });
        changes.push({ model: name, version, change: 'failed', reason: error.message });
      }
    }
    for (const [version, before] of current) {
      if (want.has(version)) continue;
      const onDisk = available.has(version);
      if (onDisk && !entry.blocked.has(version) && replacementFailed) {
        // The policy would drop it for a version that failed to load: it keeps serving meanwhile.
        loaded.set(version, before);
        versions.push({
          ...(oldStatus.get(version) ?? { version, state: 'ready', modelPath: before.modelPath }),
        });
        continue;
      }
      retire.push([before, entry.blocked.has(version) ? 'requested' : onDisk ? 'policy' : 'removed']);
    }
    for (const [old, reason] of retire) {
      if (reason !== 'replaced')
        changes.push({ model: name, version: old.version, change: 'unloaded', reason });
    }
    for (const version of entry.attempts.keys()) if (!want.has(version)) entry.attempts.delete(version);
    versions.sort((a, b) => b.version - a.version);

    const status = this.#modelStatus(name, entry.dir, definition, loaded, versions);
    const previous = entry.view;
    // The swap: one assignment, after which resolve() answers from the new view.
    entry.view = { status, loaded, published: true, offline: false };
    if (previousName !== undefined) {
      // Renamed: nothing loaded under the old name carries over.
      if (this.#byName.get(previousName) === entry) this.#byName.delete(previousName);
      if (previous.loaded.size > 0) {
        for (const old of previous.loaded.values()) retire.push([old, 'removed']);
        this.#emit({ type: 'model-unloaded', model: previousName, dir: entry.dir, reason: 'removed' });
        changes.push({ model: previousName, change: 'model-unloaded', reason: `renamed to ${name}` });
      }
    }
    this.#byName.set(name, entry);
    for (const event of events) this.#emit(event);
    if (status.state === 'failed' && (toLoad.length > 0 || previous.status.state !== 'failed')) {
      this.#emit({ type: 'model-failed', model: name, dir: entry.dir, error: status.error! });
      changes.push({ model: name, change: 'model-failed', reason: status.error?.message });
    }
    for (const [old, reason] of retire) this.#retire(old, reason);
    return changes;
  }

  #keep(name: string): number[] {
    try {
      return [...(this.#options.keepVersions?.(name) ?? [])].filter((v) => Number.isSafeInteger(v) && v > 0);
    } catch {
      return [];
    }
  }

  #modelStatus(
    name: string,
    dir: string,
    definition: ModelDefinition,
    loaded: ReadonlyMap<number, LoadedVersion>,
    versions: VersionStatus[],
  ): ModelStatus {
    // The model's fields come from the version served by default, or from the config when none serves.
    let newest: LoadedVersion | undefined;
    for (const l of loaded.values()) if (!newest || l.version > newest.version) newest = l;
    const config = newest?.config ?? definition.config;
    const labels = newest?.labels ?? definition.labels;
    const status: ModelStatus = {
      name,
      dir,
      task: config.task,
      decoder: config.decoder,
      // What answers call class 0..N-1, not the labels file: they differ where the decoder adds background.
      labels: classLabels(config.decoder, labels),
      input: config.input,
      ...(config.pipeline ? { gate: config.pipeline.gate } : {}),
      state: loaded.size > 0 ? 'ready' : 'failed',
      versions,
    };
    if (loaded.size === 0) {
      const firstError = versions.find((v) => v.error)?.error;
      status.error = firstError ?? { code: 'MODEL_LOAD_FAILED', message: 'no version could be loaded' };
    }
    return status;
  }

  /** A model that cannot serve at all: failed, with its reason; whatever it served is retired. */
  #publishFailure(entry: Entry, name: string, summary: ErrorSummary): RepositoryChange[] {
    const previous = entry.view;
    const status: ModelStatus = { ...emptyStatus(name, entry.dir), state: 'failed' };
    status.error = this.#public(summary, entry);
    const unchanged =
      previous.published &&
      previous.status.state === 'failed' &&
      previous.loaded.size === 0 &&
      previous.status.error?.message === status.error.message;
    entry.view = { status, loaded: new Map(), published: true, offline: false };
    entry.attempts.clear();
    if (unchanged) return [];
    this.#emit({ type: 'model-failed', model: name, dir: entry.dir, error: summary });
    for (const loaded of previous.loaded.values()) this.#retire(loaded, 'removed');
    return [{ model: name, change: 'model-failed', reason: summary.message }];
  }

  /** Unloaded on request: every version retires, the model stays known (for the index) but not served. */
  #takeOffline(entry: Entry, reason: 'requested'): RepositoryChange[] {
    const previous = entry.view;
    const name = previous.status.name;
    entry.view = {
      status: { ...copyStatus(previous.status), state: 'failed', versions: [] },
      loaded: new Map(),
      published: true,
      offline: true,
    };
    entry.attempts.clear();
    const changes: RepositoryChange[] = [...previous.loaded.values()].map((loaded) => ({
      model: name,
      version: loaded.version,
      change: 'unloaded' as const,
      reason,
    }));
    if (!previous.offline) {
      this.#emit({ type: 'model-unloaded', model: name, dir: entry.dir, reason });
      changes.push({ model: name, change: 'model-unloaded', reason });
    }
    for (const loaded of previous.loaded.values()) this.#retire(loaded, reason);
    return changes;
  }

  /** The model folder went away: the model is forgotten, its versions retire. */
  #remove(entry: Entry): RepositoryChange[] {
    const { view } = entry;
    const name = view.status.name;
    this.#entries.delete(entry.dir);
    if (this.#byName.get(name) === entry) this.#byName.delete(name);
    if (!view.published) return [];
    const changes: RepositoryChange[] = [...view.loaded.values()].map((loaded) => ({
      model: name,
      version: loaded.version,
      change: 'unloaded' as const,
      reason: 'removed',
    }));
    this.#emit({ type: 'model-unloaded', model: name, dir: entry.dir, reason: 'removed' });
    changes.push({ model: name, change: 'model-unloaded', reason: 'removed' });
    for (const loaded of view.loaded.values()) this.#retire(loaded, 'removed');
    return changes;
  }

  /** The outcome of loading `version` of the model in `dir`, read from its view after the operation. */
  #outcome(dir: string, version: number, changes: RepositoryChange[]): VersionOutcome {
    const entry = this.#entries.get(dir);
    const model = entry?.view.status.name ?? basename(dir);
    const status = entry?.view.status.versions.find((v) => v.version === version);
    if (entry?.view.loaded.has(version) && status) {
      const failedNow = changes.find((c) => c.version === version && c.change === 'reload-failed');
      if (!failedNow) return { state: 'ready', model, version, loadSeconds: status.loadSeconds, changes };
    }
    const error = status?.error ??
      entry?.view.status.error ?? { code: 'MODEL_LOAD_FAILED', message: `version ${version} did not load` };
    return { state: 'failed', model, version, error, changes };
  }

  /** Loads one version's runtime and checks it against its config (open-version.ts); never throws. */
  async #createVersion(
    definition: ModelDefinition,
    source: VersionSource,
  ): Promise<{ loaded?: LoadedVersion; error?: ErrorSummary }> {
    const { name, config, labels } = definition;
    try {
      if (source.problem) {
        throw new SegserveError('MODEL_LOAD_FAILED', {
          model: name,
          version: source.version,
          reason: source.problem,
        });
      }
      const loaded = await openVersion(
        { name, version: source.version, config, labels, modelPath: source.modelPath },
        { createRuntime: this.#options.createRuntime, executionProvider: this.#options.executionProvider },
      );
      this.#held.set(loaded, { model: name, version: source.version, leases: 0, closed: false });
      return { loaded };
    } catch (error) {
      return { error: summarize(error) };
    }
  }

  /** Step two of leaving: wait until no request holds the version (or the timeout), then close its runtime. */
  #retire(loaded: LoadedVersion, reason: RetireReason): void {
    const held = this.#held.get(loaded);
    if (!held || held.retiring) return;
    const started = performance.now();
    this.#emit({
      type: 'version-retiring',
      model: loaded.name,
      version: loaded.version,
      reason,
      inFlight: held.leases,
    });
    const record = { held, reason, done: Promise.resolve() };
    held.retiring = (async () => {
      if (held.leases > 0 && !this.#closed) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, this.#retireTimeoutMs);
          timer.unref();
          held.onIdle = () => {
            clearTimeout(timer);
            resolve();
          };
        });
      }
      held.onIdle = undefined;
      held.closed = true;
      try {
        await loaded.runtime.close();
      } finally {
        this.#retiring.delete(record);
        this.#emit({
          type: 'version-unloaded',
          model: loaded.name,
          version: loaded.version,
          reason,
          waitedMs: performance.now() - started,
          abandoned: held.leases,
        });
      }
    })();
    record.done = held.retiring.catch(() => undefined);
    this.#retiring.add(record);
  }

  /**
   * A load error as clients may read it: errors name the files they failed on, and the server's folders are the
   * operator's business, so each model folder is shown by its own name (`yolo/config.yaml`) and a model file
   * outside it by its file name. The log keeps the full paths.
   */
  #public(summary: ErrorSummary, failing: Entry, sources: readonly VersionSource[] = []): ErrorSummary {
    let message = summary.message;
    const folders = [
      { dir: failing.dir, paths: sources.map((s) => s.modelPath) },
      ...[...this.#entries.values()].map(({ dir, view }) => ({
        dir,
        paths: view.status.versions.map((v) => v.modelPath),
      })),
    ];
    for (const { dir, paths } of folders) {
      const folder = basename(dir);
      for (const modelPath of paths) {
        const inside = relative(dir, modelPath);
        const shown =
          inside.startsWith('..') || isAbsolute(inside) ? basename(modelPath) : join(folder, inside);
        message = message.replaceAll(modelPath, shown);
      }
      message = message.replaceAll(dir, folder);
    }
    return { code: summary.code, message };
  }
}

function copyStatus(status: ModelStatus): ModelStatus {
  return { ...status, versions: status.versions.map((v) => ({ ...v })) };
}
