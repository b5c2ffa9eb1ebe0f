import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const PROJECT_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
/** The model repository shipped with segserve (configs pointing at ../shared/models). */
export const REPOSITORY_DIR = resolve(PROJECT_ROOT, 'model-repository');
