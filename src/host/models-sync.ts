/**
 * A model folder mirrored from a bucket prefix (`--models-sync`), for every process that serves from a model
 * folder: the API (`serve`) and the batch-job workers (`worker`), so a worker needs no volume shared with the
 * API. The first pass runs before the models load, so the process starts with the bucket's models; each later
 * pass pauses the repository watch while it writes, then hints it when files changed, so the watch applies a
 * model whose config and weights both changed once, with both.
 */
import { RepositorySync } from '../lifecycle/repository-sync.js';
import type { RepositoryWatch } from '../lifecycle/repository-watch.js';
import { type BlobStore, openBlobStore } from '../storage/index.js';
import type { ModelsSyncSettings } from '../storage/settings.js';
import type { StartupLog } from './open-service.js';

/** The settings, or (tests) a store whose keys are the prefix's. */
export interface ModelsSyncOptions {
  settings?: ModelsSyncSettings;
  store?: BlobStore;
  /** For logs; default the settings' URL, else the store's description. */
  source?: string;
  /** Between two passes (default: the sync's own). */
  intervalMs?: number;
}

/** Starts mirroring the bucket prefix into `dir`; resolves after the first pass. */
export async function startModelsSync(
  dir: string,
  options: ModelsSyncOptions,
  log: StartupLog,
  watch: () => RepositoryWatch | undefined,
): Promise<RepositorySync> {
  const { settings } = options;
  const store =
    options.store ??
    (settings &&
      (await openBlobStore({
        kind: 's3',
        bucket: settings.bucket,
        prefix: settings.prefix,
        endpoint: settings.endpoint,
        region: settings.region,
      })));
  if (!store) throw new Error('modelsSync needs its settings or a store');
  // The watch is held by the passes that run while it exists: each pass's end releases its own hold.
  let held: RepositoryWatch | undefined;
  return RepositorySync.start({
    store,
    dir,
    source: options.source ?? settings?.url ?? store.description,
    intervalMs: options.intervalMs,
    log,
    onPassStart: () => {
      held = watch();
      held?.pause();
    },
    onPassEnd: (changed) => {
      held?.resume();
      held = undefined;
      if (changed) watch()?.poke();
    },
  });
}
