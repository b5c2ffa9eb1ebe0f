/**
 * Retraining triggers for the server, when a model asks for them (`retraining:` in its config.yaml): they
 * snapshot datasets through the server's stores. A server without such a model starts none, and so opens no
 * database for them.
 */
import { snapshotDataset } from '../learning/datasets/index.js';
import { type RetrainingLog, RetrainingTriggers } from '../learning/retraining/triggers.js';
import type { InferenceService } from '../serving/service.js';
import type { LazyStorage } from './storage.js';

export function startRetraining(
  service: InferenceService,
  stores: LazyStorage,
  log: RetrainingLog,
  pollMs?: number,
): RetrainingTriggers | undefined {
  const { repository } = service;
  const wanted = repository
    .list()
    .some(
      (model) => model.state === 'ready' && repository.resolve(model.name).config.retraining !== undefined,
    );
  if (!wanted) return undefined;
  return new RetrainingTriggers({
    service,
    database: () => stores.database(),
    snapshot: async (dataset, note) =>
      (await snapshotDataset(await stores.database(), await stores.blobs(), dataset, note)).version,
    log,
    pollMs,
  });
}
