/**
 * What the admin routes of /v1 and the model repository extension of /v2 share: an operator's load is a request
 * that either leaves the model serving what its folder holds, or fails with every reason.
 */
import { SegserveError } from '../errors.js';
import type { ModelRepository, ModelStatus } from '../models/index.js';

/**
 * REPOSITORY_LOAD_FAILED when the model, after an operator's load or reload, cannot serve or has versions that
 * failed (those loaded before keep serving); otherwise its status.
 */
export function checkLoaded(repository: ModelRepository, model: string): ModelStatus {
  const status = repository.find(model);
  if (!status) throw new SegserveError('MODEL_NOT_FOUND', { model });
  const problems = [
    ...(status.error ? [status.error.message] : []),
    ...status.versions.flatMap((v) => (v.error ? [`version ${v.version}: ${v.error.message}`] : [])),
  ];
  if (problems.length > 0) {
    throw new SegserveError('REPOSITORY_LOAD_FAILED', { model: status.name, reason: problems.join('; ') });
  }
  return status;
}
