/**
 * Adding a model version while the server runs (`POST /v1/admin/models/{m}/versions`, `segserve models push`).
 * A version becomes visible only once it has loaded, answered a warm-up inference and produced outputs its
 * decoder reads; anything less is refused with the reason, and nothing of it stays behind.
 *
 * The files arrive in a staging folder inside the repository (hidden: the repository and its watch skip
 * dot-folders), on the same filesystem, so letting a version in is one rename, as the TFLite importer and the
 * dataset snapshots do. In order:
 *
 *   1. read the model's definition: the config and labels on disk for an existing model (a version cannot bring
 *      its own: a model's config and labels are shared by all its versions), or the uploaded ones for a new model;
 *   2. open the candidate as the repository would (one session, warmed up, input checked: open-version.ts), then
 *      run a synthetic image through the whole pipeline, so the decoder reads the real outputs;
 *   3. when the model serves traffic and has no `stable` alias yet, point `stable` at the version serving now, so
 *      the new version takes no traffic until it is promoted (through the gate);
 *   4. rename the version folder (or, for a new model, the model folder) into place, and have the repository load
 *      it; if that fails after all, the folder is removed again.
 */
import { createHash, randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, readdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { isSegserveError, SegserveError } from '../errors.js';
import { MODEL_NAME, MODEL_NAME_RULE } from '../models/config.js';
import { CONFIG_FILE, loadModelDefinition, type ModelDefinition } from '../models/load-config.js';
import { openVersion } from '../models/open-version.js';
import { runPipeline } from '../serving/pipeline.js';
import { DEFAULT_ALIAS, type InferenceService } from '../serving/service.js';
import type { Database } from '../storage/index.js';
import type { ModelLifecycle } from './lifecycle.js';
import { recordHistory } from './store.js';

/** Where uploads are staged, inside the repository folder; hidden, so nothing serves from it. */
export const STAGING_FOLDER = '.uploads';

export interface StagedUpload {
  /** The staging folder the files were written to (removed when the upload ends, whatever the outcome). */
  dir: string;
  onnx: string;
  config?: string;
  labels?: string;
}

export interface UploadRequest {
  model: string;
  /** Default: one more than the highest version on disk. */
  version?: number;
  staged: StagedUpload;
  actor: string;
}

export interface UploadOutcome {
  model: string;
  version: number;
  /** Whether the upload created the model. */
  created: boolean;
  bytes: number;
  sha256: string;
  /** Output tensor shapes of the synthetic inference, and how long loading and that inference took. */
  validation: { loadMs: number; inferMs: number; outputs: Record<string, number[]> };
  /** The version `stable` was pointed at so the upload takes no traffic, when the upload had to set it. */
  keptStableAt?: number;
}

export interface UploadDeps {
  repositoryDir: string;
  service: InferenceService;
  lifecycle: ModelLifecycle;
  database: () => Promise<Database>;
  /**
   * Has the repository load a version folder that was just moved into place (for a new model, the model folder);
   * resolves once it serves, throws with the reason when it cannot.
   */
  loadVersion(model: string, version: number, created: boolean): Promise<void>;
  /** Has the repository forget a version (or model) whose folder was removed again after a failed load. */
  forgetVersion(model: string, version: number, created: boolean): Promise<void>;
}

/** A new staging folder for one upload's files. */
export async function stagingFolder(repositoryDir: string): Promise<string> {
  const dir = join(repositoryDir, STAGING_FOLDER, randomUUID());
  await mkdir(dir, { recursive: true });
  return dir;
}

function refused(model: string, reason: string): SegserveError {
  return new SegserveError('UPLOAD_REFUSED', { model, reason });
}

async function fileFacts(path: string): Promise<{ bytes: number; sha256: string }> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return { bytes: (await stat(path)).size, sha256: hash.digest('hex') };
}

async function numericFolders(dir: string): Promise<number[]> {
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  return entries.filter((e) => e.isDirectory() && /^[1-9][0-9]*$/.test(e.name)).map((e) => Number(e.name));
}

/** Uploads of one model run one after another: two cannot take the same version number. */
const modelLocks = new Map<string, Promise<unknown>>();

export function publishUpload(deps: UploadDeps, request: UploadRequest): Promise<UploadOutcome> {
  const previous = modelLocks.get(request.model) ?? Promise.resolve();
  const run = previous.catch(() => undefined).then(() => publish(deps, request));
  const tail = run.catch(() => undefined);
  modelLocks.set(request.model, tail);
  void tail.then(() => {
    if (modelLocks.get(request.model) === tail) modelLocks.delete(request.model);
  });
  return run.finally(() => rm(request.staged.dir, { recursive: true, force: true }));
}

async function publish(deps: UploadDeps, request: UploadRequest): Promise<UploadOutcome> {
  const { model, staged } = request;
  if (!MODEL_NAME.test(model)) {
    throw refused(model.slice(0, 128), `a model name is ${MODEL_NAME_RULE} characters`);
  }
  const existing = deps.service.repository.get(model);
  const created = existing === undefined;
  if (!created && (staged.config || staged.labels)) {
    throw refused(
      model,
      'the model exists: its config.yaml and labels are shared by all its versions, so a version cannot bring its own (edit them in the repository and reload the model, or upload under a new model name)',
    );
  }
  if (created && !staged.config)
    throw refused(model, 'a new model needs its config.yaml (the `config` part)');
  const modelDir = created ? join(deps.repositoryDir, model) : existing.dir;
  const versionsOnDisk = await numericFolders(modelDir);
  const version =
    request.version ??
    Math.max(0, ...versionsOnDisk, ...(existing?.versions.map((v) => v.version) ?? [])) + 1;
  if (versionsOnDisk.includes(version) || existing?.versions.some((v) => v.version === version)) {
    throw new SegserveError('MODEL_VERSION_EXISTS', { model, version });
  }

  // The candidate's own folder layout, as it will be in the repository.
  const stagedModel = join(staged.dir, 'candidate');
  await mkdir(join(stagedModel, String(version)), { recursive: true });
  const modelPath = join(stagedModel, String(version), 'model.onnx');
  await rename(staged.onnx, modelPath);
  const facts = await fileFacts(modelPath);
  const definition = await readDefinition(model, modelDir, stagedModel, staged, created);
  const policy = definition.config.version_policy;
  if ('specific' in policy && !policy.specific.includes(version)) {
    throw refused(
      model,
      `version_policy.specific lists ${policy.specific.join(', ')}: version ${version} would never be served`,
    );
  }

  const validation = await validateCandidate(definition, version, modelPath);
  const keptStableAt = created ? undefined : await keepTrafficWhereItIs(deps, model, request.actor);

  const target = created ? modelDir : join(modelDir, String(version));
  try {
    await rename(created ? stagedModel : join(stagedModel, String(version)), target);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EEXIST' || code === 'ENOTEMPTY') {
      throw created
        ? refused(model, `a folder named "${model}" already exists in the repository but serves no model`)
        : new SegserveError('MODEL_VERSION_EXISTS', { model, version });
    }
    throw error;
  }
  try {
    await deps.loadVersion(model, version, created);
  } catch (error) {
    await rm(target, { recursive: true, force: true });
    await deps.forgetVersion(model, version, created).catch(() => undefined);
    throw refused(model, `version ${version} did not load in the repository: ${reasonOf(error)}`);
  }
  await recordHistory(await deps.database(), {
    model,
    version,
    kind: 'uploaded',
    actor: request.actor,
    details: { created, ...facts, validation },
  });
  return {
    model,
    version,
    created,
    ...facts,
    validation,
    ...(keptStableAt === undefined ? {} : { keptStableAt }),
  };
}

function reasonOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** The definition the candidate runs with: the model's own on disk, or the uploaded config and labels. */
async function readDefinition(
  model: string,
  modelDir: string,
  stagedModel: string,
  staged: StagedUpload,
  created: boolean,
): Promise<ModelDefinition> {
  if (!created) return loadModelDefinition(modelDir);
  await rename(staged.config as string, join(stagedModel, CONFIG_FILE));
  if (staged.labels) await rename(staged.labels, join(stagedModel, 'labels.txt'));
  let definition: ModelDefinition;
  try {
    definition = await loadModelDefinition(stagedModel);
  } catch (error) {
    // CONFIG_INVALID names the staging path; the client knows its file as config.yaml.
    throw refused(model, reasonOf(error).replaceAll(stagedModel, model));
  }
  if (Object.keys(definition.config.versions).length > 0) {
    throw refused(
      model,
      'an uploaded config cannot have a `versions` map: uploaded versions live in <n>/ folders',
    );
  }
  if (definition.config.name !== undefined && definition.config.name !== model) {
    throw refused(model, `the config names the model "${definition.config.name}", the upload "${model}"`);
  }
  return definition;
}

/**
 * Opens the candidate with one session (warm-up included), then segments a mid-grey image of the model's input
 * size through the whole pipeline: the decoder reads the real outputs, so a model whose outputs do not have the
 * shapes its decoder needs is refused here, not on its first request.
 */
async function validateCandidate(
  definition: ModelDefinition,
  version: number,
  modelPath: string,
): Promise<UploadOutcome['validation']> {
  const { name, config, labels } = definition;
  const started = performance.now();
  let loaded: Awaited<ReturnType<typeof openVersion>>;
  try {
    loaded = await openVersion({ name, version, config, labels, modelPath }, { instances: 1 });
  } catch (error) {
    throw refused(name, `it does not load: ${reasonOf(error)}`);
  }
  const loadMs = performance.now() - started;
  try {
    const { width, height } = config.input;
    const image = await sharp({
      create: { width, height, channels: 3, background: { r: 128, g: 128, b: 128 } },
    })
      .png()
      .toBuffer();
    const outputs: Record<string, number[]> = {};
    for (const output of loaded.runtime.outputs)
      outputs[output.name] = output.dims.map((d) => (typeof d === 'number' ? d : -1));
    const inferStarted = performance.now();
    await runPipeline(loaded, image, {}, { beforeDecode: () => {}, afterRun: () => {} });
    return { loadMs, inferMs: performance.now() - inferStarted, outputs };
  } catch (error) {
    const code = isSegserveError(error) ? `${error.code}: ` : '';
    throw refused(name, `its warm-up inference failed: ${code}${reasonOf(error)}`);
  } finally {
    await loaded.runtime.close();
  }
}

/**
 * A model serving traffic without a `stable` alias sends requests that name no version to its newest version:
 * the upload would take them at once. So `stable` is first pointed at the version serving now.
 */
async function keepTrafficWhereItIs(
  deps: UploadDeps,
  model: string,
  actor: string,
): Promise<number | undefined> {
  const { service } = deps;
  if (service.aliasOf(model, DEFAULT_ALIAS) !== undefined) return undefined;
  let serving: number;
  try {
    serving = service.resolve({ model }).version;
  } catch {
    return undefined; // Nothing serves: there is no traffic to keep.
  }
  await deps.lifecycle.setAlias(model, DEFAULT_ALIAS, serving, actor, {
    force: true,
    why: 'an upload kept requests on the version serving them',
  });
  return serving;
}
