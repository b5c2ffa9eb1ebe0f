/**
 * Monitoring of versions that come and go while the server runs: a version loaded after start gets its metric
 * series, drift monitor and monitor-page card like one loaded at start; once unloaded, its Prometheus series,
 * statistics and drift monitor go (an upload per day must not grow /metrics for ever), and no subscriber fails
 * on a prediction event that outlived its version.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ModelRepository } from '../../src/models/index.js';
import { DriftWatch } from '../../src/monitoring/drift-watch.js';
import { ServingMetrics } from '../../src/monitoring/metrics.js';
import { MonitorHistory } from '../../src/monitoring/monitor-history.js';
import type { InferenceService } from '../../src/serving/service.js';
import { InProcessRuntime } from '../helpers/in-process-runtime.js';
import { segment, serviceFor } from '../helpers/serving.js';
import { semanticScene } from '../helpers/tiny-models.js';
import { png } from '../http/helpers.js';
import { RepositoryFolder } from '../models/registry-folders.js';

let folder: RepositoryFolder;
let repository: ModelRepository;
let service: InferenceService;
let metrics: ServingMetrics;
let drift: DriftWatch;
let history: MonitorHistory;
let image: Uint8Array;

const nextTurn = () => new Promise((resolve) => setImmediate(resolve));

beforeEach(async () => {
  folder = await RepositoryFolder.create();
  await folder.model('m', [1], { version_policy: { all: true } });
  repository = await ModelRepository.open(folder.root, { createRuntime: InProcessRuntime.factory() });
  service = serviceFor(repository);
  metrics = new ServingMetrics(service, { processMetrics: false });
  drift = new DriftWatch(service, { registry: metrics.registry, log: () => {} });
  history = new MonitorHistory(service, { sampleMs: 0, driftStates: () => drift.states() });
  image = new Uint8Array(await png(semanticScene()));
});

afterEach(async () => {
  history.close();
  await service.close();
  await folder.remove();
});

/** A few predictions on `version`, and their events delivered (drift's own work included). */
async function predict(version: number, count = 3): Promise<void> {
  for (let i = 0; i < count; i++) await segment(repository, 'm', image, { version });
  for (let i = 0; i < 5; i++) await nextTurn();
}

/** The versions that /metrics has prediction series for. */
async function versionsInMetrics(): Promise<string[]> {
  const text = await metrics.metrics();
  const versions = new Set<string>();
  for (const match of text.matchAll(/^segserve_predictions_total\{[^}]*version="(\d+)"/gm))
    versions.add(match[1]);
  return [...versions].sort();
}

describe('monitoring follows versions loaded and unloaded after start', () => {
  it('gives a version loaded after start its series, and drops them once it is unloaded', async () => {
    await predict(1);
    await folder.version('m', 2);
    await repository.rescan();
    await predict(2);
    expect(await versionsInMetrics()).toEqual(['1', '2']);
    expect(
      drift
        .states()
        .map((s) => s.version)
        .sort(),
    ).toEqual([1, 2]);
    expect(history.read().models.map((m) => m.version)).toEqual([2, 1]);
    expect(metrics.inferenceStats.get('m', '2')[0].inference_count).toBe(3);

    await repository.unloadVersion('m', 2);
    await repository.settled();
    await nextTurn();
    expect(await versionsInMetrics()).toEqual(['1']);
    expect(await metrics.metrics()).not.toMatch(/version="2"/);
    expect(drift.states().map((s) => s.version)).toEqual([1]);
    expect(metrics.inferenceStats.get('m').map((s) => s.version)).toEqual(['1']);
    // The monitor page keeps the history it has of version 2 until it ages out of the window.
    expect(history.read().models.map((m) => m.version)).toEqual([2, 1]);

    await predict(1);
    expect(service.events.failures()).toBe(0);
  });

  it('starts a reloaded version’s drift monitor afresh and keeps its metric series', async () => {
    await predict(1, 4);
    const before = drift.states()[0];
    expect(before.referenceCount).toBe(4);
    await repository.reload('m');
    await repository.settled();
    await nextTurn();
    expect(drift.states()).toEqual([]);
    await predict(1, 2);
    expect(drift.states()[0].referenceCount).toBe(2);
    expect(await versionsInMetrics()).toEqual(['1']);
    expect(metrics.inferenceStats.get('m', '1')[0].inference_count).toBe(6);
    expect(service.events.failures()).toBe(0);
  });

  it('does not fail a subscriber on a prediction whose version was unloaded before its event arrived', async () => {
    await folder.version('m', 2);
    await repository.rescan();
    const ticket = service.admit({ model: 'm', version: 2 }, { source: 'cli' });
    const seg = await service.segment(ticket, image);
    expect(seg.version).toBe(2);
    await repository.unloadVersion('m', 2);
    // Released after the unload began: the event of its prediction comes before the version's unloaded event.
    ticket.release();
    await repository.settled();
    for (let i = 0; i < 5; i++) await nextTurn();
    expect(service.events.failures()).toBe(0);
    expect(await versionsInMetrics()).toEqual([]);
  });
});
