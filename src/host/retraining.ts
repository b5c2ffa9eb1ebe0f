/**
 * Retraining triggers for the server: they snapshot datasets through the server's stores. They follow the
 * repository, so a model that gains `retraining:` in its config.yaml (an edit and a reload, the watch, an upload)
 * triggers without a restart; as long as no model has the block, they touch no database.
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
): RetrainingTriggers {
  return new RetrainingTriggers({
    service,
    database: () => stores.database(),
    snapshot: async (dataset, note) =>
      (await snapshotDataset(await stores.database(), await stores.blobs(), dataset, note)).version,
    log,
    pollMs,
  });
}
