/**
 * What each model version looks like right now (state, readiness, queue, capacity, load time), read from the
 * serving core on demand. One reading for the Prometheus gauges and the monitor page, so the two cannot
 * disagree about what "ready" or "queued" means.
 */
import type { LoadState } from '../models/index.js';
import { InferenceService } from '../serving/service.js';

export interface VersionSnapshot {
  model: string;
  version: number;
  state: LoadState;
  /** Loaded and with a live session: it can take requests now. */
  ready: boolean;
  /** Requests waiting for a free session (loaded versions only). */
  queued?: number;
  /** Requests it admits at once, sessions plus queue (loaded versions only). */
  capacity?: number;
  /** Seconds it took to load and warm up, once ready. */
  loadSeconds?: number;
}

export function versionSnapshots(service: InferenceService): VersionSnapshot[] {
  const snapshots: VersionSnapshot[] = [];
  for (const model of service.repository.list()) {
    for (const status of model.versions) {
      const loaded =
        status.state === 'ready' ? service.repository.resolve(model.name, status.version) : undefined;
      const stats = loaded?.runtime.stats();
      snapshots.push({
        model: model.name,
        version: status.version,
        state: status.state,
        ready: stats !== undefined && stats.instances > 0,
        queued: stats?.queued,
        capacity: loaded && InferenceService.capacity(loaded),
        loadSeconds: status.loadSeconds,
      });
    }
  }
  return snapshots;
}
