/**
 * Resolves the `--model` and `--models` options shared by CLI commands: a model is a name in a repository
 * (default: the repository shipped with segserve) or a path to a model folder holding a config.yaml.
 */
import { existsSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { SegserveError } from '../errors.js';
import { ModelRepository, readModelConfig } from '../models/index.js';

/**
 * The model repository when none is given: `SEGSERVE_MODELS`, else `models/` in the working directory (a
 * writable folder: uploads and first-run provisioning go there). The `model-repository/` folder of the
 * project holds ready configurations for the shared real models; pass it with `--models`.
 */
export function defaultRepositoryDir(): string {
  return resolve(process.env.SEGSERVE_MODELS ?? 'models');
}

function isModelFolder(path: string): boolean {
  return existsSync(path) && statSync(path).isDirectory() && existsSync(join(path, 'config.yaml'));
}

export interface OpenedModel {
  repository: ModelRepository;
  name: string;
}

/**
 * The gate model a model folder's config names (`pipeline.gate.model`), if any: it is opened with the model, as
 * the model cannot serve without it. An unreadable config is left for the repository to report.
 */
async function gateOf(folder: string): Promise<string | undefined> {
  if (!isModelFolder(folder)) return undefined;
  return readModelConfig(join(folder, 'config.yaml')).then(
    (config) => config.pipeline?.gate.model,
    () => undefined,
  );
}

/**
 * Opens just the one model asked for, so a CLI run never pays for loading the whole repository; a model with a
 * gate comes with its gate model (for a model folder: the folder of that name beside it).
 */
export async function openModel(model: string, repositoryDir: string): Promise<OpenedModel> {
  if (isModelFolder(model)) {
    const folder = resolve(model);
    const gate = await gateOf(folder);
    if (gate !== undefined && isModelFolder(join(dirname(folder), gate))) {
      const repository = await ModelRepository.open(dirname(folder), { models: [basename(folder), gate] });
      return { repository, name: repository.find(basename(folder))?.name ?? basename(folder) };
    }
    const repository = await ModelRepository.openModelFolder(folder);
    const name = repository.list()[0]?.name;
    if (!name) throw new SegserveError('MODEL_NOT_FOUND', { model });
    return { repository, name };
  }
  if (!existsSync(repositoryDir)) {
    throw new SegserveError('INVALID_ARGUMENT', {
      reason: `model repository ${repositoryDir} does not exist`,
    });
  }
  const gate = await gateOf(join(repositoryDir, model));
  const repository = await ModelRepository.open(repositoryDir, {
    models: gate === undefined ? [model] : [model, gate],
  });
  if (!repository.get(model)) {
    await repository.close();
    throw new SegserveError('MODEL_NOT_FOUND', { model });
  }
  return { repository, name: model };
}
