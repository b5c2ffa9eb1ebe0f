/**
 * Resolves the `--model` and `--models` options shared by CLI commands: a model is a name in a repository
 * (default: the repository shipped with segserve) or a path to a model folder holding a config.yaml.
 */
import { existsSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { SegserveError } from '../errors.js';
import { ModelRepository } from '../models/index.js';

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

/** Opens just the one model asked for, so a CLI run never pays for loading the whole repository. */
export async function openModel(model: string, repositoryDir: string): Promise<OpenedModel> {
  if (isModelFolder(model)) {
    const repository = await ModelRepository.openModelFolder(resolve(model));
    const name = repository.list()[0]?.name;
    if (!name) throw new SegserveError('MODEL_NOT_FOUND', { model });
    return { repository, name };
  }
  if (!existsSync(repositoryDir)) {
    throw new SegserveError('INVALID_ARGUMENT', {
      reason: `model repository ${repositoryDir} does not exist`,
    });
  }
  const repository = await ModelRepository.open(repositoryDir, { models: [model] });
  if (!repository.get(model)) {
    await repository.close();
    throw new SegserveError('MODEL_NOT_FOUND', { model });
  }
  return { repository, name: model };
}
