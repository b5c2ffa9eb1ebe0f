/**
 * The model repository (Triton / TF-Serving layout): `<repository>/<model>/config.yaml`, `labels.txt` and
 * `<version>/model.onnx`, or ONNX files elsewhere named in the config's `versions` map. Every chosen version
 * gets its own Runtime (a SessionPool of worker threads unless the caller supplies another factory). A model that cannot load (bad config, missing or corrupt file, missing execution
 * provider) is kept with its reason and state 'failed'; it never takes the other models down.
 */
import { readdir } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { basename, isAbsolute, join, relative, resolve } from 'node:path';
import { SegserveError } from '../errors.js';
import { SessionPool } from '../runtime/pool.js';
import type { Runtime, RuntimeFactory } from '../runtime/runtime.js';
import type { ExecutionProvider } from '../runtime/session-options.js';
import { inputMismatch, pickInput } from './check-input.js';
import { classLabels } from './class-labels.js';
import type { DecoderName, ModelConfig, Task } from './config.js';
import {
  CONFIG_FILE,
  type Env,
  loadModelDefinition,
  type ModelDefinition,
  type VersionSource,
} from './load-config.js';
import type { ErrorSummary, LoadState } from './status.js';

export type { ErrorSummary, LoadState } from './status.js';

export interface VersionStatus {
  version: number;
  state: LoadState;
  modelPath: string;
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
  /** Ready when at least one version is ready. */
  state: LoadState;
  error?: ErrorSummary;
  versions: VersionStatus[];
}

/** One servable version: what the request pipeline needs to feed the model and decode its outputs. */
export interface LoadedVersion {
  name: string;
  version: number;
  config: ModelConfig;
  labels: string[];
  modelPath: string;
  runtime: Runtime;
  /** `config.input.name`, or the model's first input. */
  inputName: string;
}

export type RepositoryEvent =
  | { type: 'model-loading'; model: string; dir: string; versions: number[] }
  | { type: 'version-ready'; model: string; version: number; loadMs: number }
  | { type: 'version-failed'; model: string; version: number; error: ErrorSummary }
  | { type: 'model-failed'; model: string; dir: string; error: ErrorSummary };

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
}

interface Entry {
  status: ModelStatus;
  loaded: Map<number, LoadedVersion>;
}

function summarize(error: unknown): ErrorSummary {
  if (error instanceof SegserveError) return { code: error.code, message: error.message };
  return { code: 'MODEL_LOAD_FAILED', message: error instanceof Error ? error.message : String(error) };
}

/** Runs `task` over `items` with at most `limit` running at once. */
async function forEachLimited<T>(items: T[], limit: number, task: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const lanes = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) await task(items[next++]);
  });
  await Promise.all(lanes);
}

export class ModelRepository {
  readonly #entries = new Map<string, Entry>();
  readonly #options: RepositoryOptions;

  private constructor(options: RepositoryOptions) {
    this.#options = options;
  }

  /** Loads every model folder of `dir` (or those named in `options.models`) and each chosen version. */
  static async open(dir: string, options: RepositoryOptions = {}): Promise<ModelRepository> {
    const root = resolve(dir);
    let folders: string[];
    try {
      const entries = await readdir(root, { withFileTypes: true });
      folders = entries
        .filter((e) => e.isDirectory() && !e.name.startsWith('.'))
        .map((e) => join(root, e.name))
        .sort();
    } catch (error) {
      throw new SegserveError('INVALID_ARGUMENT', {
        reason: `model repository ${root} cannot be read: ${(error as Error).message}`,
      });
    }
    const repository = new ModelRepository(options);
    await repository.#load(folders, options.models);
    return repository;
  }

  /** Serves one model folder (a folder holding config.yaml), e.g. `segserve predict --model ./my-model`. */
  static async openModelFolder(
    dir: string,
    options: Omit<RepositoryOptions, 'models'> = {},
  ): Promise<ModelRepository> {
    const repository = new ModelRepository(options);
    await repository.#load([resolve(dir)], undefined);
    return repository;
  }

  /** Every model, by name. */
  list(): ModelStatus[] {
    return [...this.#entries.values()]
      .map((e) => copyStatus(e.status))
      .sort((a, b) => a.name.localeCompare(b.name));
  }

  get(name: string): ModelStatus | undefined {
    const entry = this.#entries.get(name);
    return entry && copyStatus(entry.status);
  }

  /** The version to serve: the one asked for, or the newest ready one. */
  resolve(name: string, version?: number): LoadedVersion {
    const entry = this.#entries.get(name);
    if (!entry) throw new SegserveError('MODEL_NOT_FOUND', { model: name });
    if (version !== undefined) {
      const loaded = entry.loaded.get(version);
      if (loaded) return loaded;
      const status = entry.status.versions.find((v) => v.version === version);
      if (!status) throw new SegserveError('MODEL_VERSION_NOT_FOUND', { model: name, version });
      throw new SegserveError('MODEL_NOT_READY', {
        model: name,
        version,
        reason: status.error?.message ?? 'still loading',
      });
    }
    const newest = Math.max(...entry.loaded.keys());
    const loaded = entry.loaded.get(newest);
    if (loaded) return loaded;
    throw new SegserveError('MODEL_NOT_READY', {
      model: name,
      version: 'latest',
      reason: entry.status.error?.message ?? 'still loading',
    });
  }

  /** Closes every runtime: running and queued jobs finish, new ones are refused. */
  async close(): Promise<void> {
    const runtimes = [...this.#entries.values()].flatMap((e) => [...e.loaded.values()].map((v) => v.runtime));
    await Promise.all(runtimes.map((runtime) => runtime.close()));
  }

  async #load(folders: string[], only: string[] | undefined): Promise<void> {
    const env = this.#options.env ?? process.env;
    const read = await Promise.all(
      folders.map((dir) =>
        loadModelDefinition(dir, env).then(
          (definition) => ({ dir, name: definition.name, definition, error: undefined }),
          (error: unknown) => ({ dir, name: basename(dir), definition: undefined, error }),
        ),
      ),
    );
    const wanted = only && new Set(only);
    const jobs: Array<{ entry: Entry; definition: ModelDefinition; source: VersionSource }> = [];
    for (const { dir, name, definition, error } of read) {
      if (wanted && !wanted.has(name) && !wanted.has(basename(dir))) continue;
      const taken = this.#entries.get(name);
      const entry: Entry = { status: { name, dir, state: 'loading', versions: [] }, loaded: new Map() };
      if (taken || !definition) {
        const reason = taken
          ? new SegserveError('CONFIG_INVALID', {
              file: join(dir, CONFIG_FILE),
              issues: `name: "${name}" is already served from ${taken.status.dir}`,
            })
          : error;
        this.#fail(entry, summarize(reason));
        // A duplicate is keyed by name and folder so that both stay visible in list().
        this.#entries.set(taken ? `${name} (${dir})` : name, entry);
        continue;
      }
      const { config, labels, versions } = definition;
      Object.assign(entry.status, {
        task: config.task,
        decoder: config.decoder,
        // What answers call class 0..N-1, not the labels file: they differ where the decoder adds background.
        labels: classLabels(config.decoder, labels),
        input: config.input,
      });
      entry.status.versions = versions.map((v) => ({
        version: v.version,
        state: 'loading',
        modelPath: v.modelPath,
      }));
      this.#entries.set(name, entry);
      this.#options.log?.({
        type: 'model-loading',
        model: name,
        dir,
        versions: versions.map((v) => v.version),
      });
      for (const source of versions) jobs.push({ entry, definition, source });
    }
    // Session creation and warm-up are CPU-bound: more at once than there are cores only makes each slower.
    await forEachLimited(jobs, availableParallelism(), ({ entry, definition, source }) =>
      this.#loadVersion(entry, definition, source),
    );
    for (const entry of this.#entries.values()) {
      if (entry.status.state !== 'loading') continue;
      if (entry.loaded.size > 0) {
        entry.status.state = 'ready';
        continue;
      }
      const firstError = entry.status.versions.find((v) => v.error)?.error;
      this.#fail(entry, firstError ?? { code: 'MODEL_LOAD_FAILED', message: 'no version could be loaded' });
    }
  }

  /**
   * A load error as clients may read it: errors name the files they failed on, and the server's folders are the
   * operator's business, so each model folder is shown by its own name (`yolo/config.yaml`) and a model file
   * outside it by its file name. The log keeps the full paths.
   */
  #public(summary: ErrorSummary, failing: Entry): ErrorSummary {
    let message = summary.message;
    for (const { status } of [failing, ...this.#entries.values()]) {
      const folder = basename(status.dir);
      for (const { modelPath } of status.versions) {
        const inside = relative(status.dir, modelPath);
        const shown =
          inside.startsWith('..') || isAbsolute(inside) ? basename(modelPath) : join(folder, inside);
        message = message.replaceAll(modelPath, shown);
      }
      message = message.replaceAll(status.dir, folder);
    }
    return { code: summary.code, message };
  }

  #fail(entry: Entry, summary: ErrorSummary): void {
    entry.status.state = 'failed';
    entry.status.error = this.#public(summary, entry);
    this.#options.log?.({
      type: 'model-failed',
      model: entry.status.name,
      dir: entry.status.dir,
      error: summary,
    });
  }

  async #loadVersion(entry: Entry, definition: ModelDefinition, source: VersionSource): Promise<void> {
    const { name, config, labels } = definition;
    const status = entry.status.versions.find((v) => v.version === source.version)!;
    const loadFailed = (reason: string) =>
      new SegserveError('MODEL_LOAD_FAILED', { model: name, version: source.version, reason });
    const started = performance.now();
    const createRuntime = this.#options.createRuntime ?? SessionPool.create;
    let runtime: Runtime | undefined;
    try {
      if (source.problem) throw loadFailed(source.problem);
      runtime = await createRuntime({
        modelPath: source.modelPath,
        modelName: name,
        version: source.version,
        instances: config.instances,
        intraOpThreads: config.threads.intra_op,
        interOpThreads: config.threads.inter_op,
        executionProvider: this.#options.executionProvider ?? config.execution_provider,
        maxQueue: config.max_queue,
        warmupShape: { width: config.input.width, height: config.input.height },
      });
      const input = pickInput(runtime.inputs, config.input);
      if (typeof input === 'string') throw loadFailed(input);
      const mismatch = inputMismatch(input, config.input);
      if (mismatch) throw loadFailed(mismatch);
      entry.loaded.set(source.version, {
        name,
        version: source.version,
        config,
        labels,
        modelPath: source.modelPath,
        runtime,
        inputName: input.name,
      });
      status.state = 'ready';
      const loadMs = performance.now() - started;
      status.loadSeconds = loadMs / 1000;
      this.#options.log?.({ type: 'version-ready', model: name, version: source.version, loadMs });
    } catch (error) {
      await runtime?.close();
      status.state = 'failed';
      const summary = summarize(error);
      status.error = this.#public(summary, entry);
      this.#options.log?.({ type: 'version-failed', model: name, version: source.version, error: summary });
    }
  }
}

function copyStatus(status: ModelStatus): ModelStatus {
  return { ...status, versions: status.versions.map((v) => ({ ...v })) };
}
