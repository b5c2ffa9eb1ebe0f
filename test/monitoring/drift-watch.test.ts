/**
 * Drift wired to the serving core on real data: MediaPipe selfie serves human-segmentation photos, then ISBI
 * microscopy slices; the watch sees every prediction through `prediction.completed` and, on the slices, sets
 * the gauge, logs a warning and publishes `drift.detected`. (The monitor's own behaviour, photos staying
 * under the threshold included, is tested in drift-real.test.ts.)
 */
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import { parse, stringify } from 'yaml';
import { ModelRepository } from '../../src/models/index.js';
import { DriftWatch } from '../../src/monitoring/drift-watch.js';
import type { DriftDetected } from '../../src/serving/events.js';
import { readHumanManifest } from '../helpers/datasets.js';
import { REPOSITORY_DIR } from '../helpers/paths.js';
import { segment, serviceFor } from '../helpers/serving.js';
import { describeWithShared, SHARED_DIR, sharedPath } from '../helpers/shared.js';

describeWithShared('drift watch on the serving events (real data)', ['datasets', 'isbi2012-membrane'], () => {
  let dir: string;
  let repository: ModelRepository;

  beforeAll(async () => {
    // The shipped selfie config with a reference and window the 232 photos of the dataset can fill.
    const config = parse(await readFile(join(REPOSITORY_DIR, 'mediapipe-selfie', 'config.yaml'), 'utf8'));
    config.versions = {
      1: join(SHARED_DIR, 'models/mediapipe-selfie-segmentation/selfie_segmentation.onnx'),
    };
    config.monitoring = { drift: { reference_size: 100, window: 60, threshold: 0.25 } };
    dir = await mkdtemp(join(tmpdir(), 'segserve-drift-watch-'));
    await mkdir(join(dir, 'selfie'));
    await writeFile(join(dir, 'selfie', 'config.yaml'), stringify(config));
    repository = await ModelRepository.open(dir);
    expect(repository.get('selfie')?.state).toBe('ready');
  });

  afterAll(async () => {
    await repository?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('sets the gauge, logs and publishes drift.detected when photos turn into microscopy', {
    timeout: 120_000,
  }, async () => {
    const service = serviceFor(repository);
    const registry = new Registry();
    const logged: Array<{ level: string; message: string; fields: Record<string, unknown> }> = [];
    new DriftWatch(service, {
      registry,
      log: (level, fields, message) => logged.push({ level, message, fields }),
    });
    const events: DriftDetected[] = [];
    service.events.on('drift.detected', 'test', (event) => {
      events.push(event);
    });
    const feed = async (files: string[]) => {
      for (const file of files) {
        const bytes = await readFile(file);
        const seg = await segment(repository, 'selfie', bytes);
        expect(seg.model).toBe('selfie');
      }
    };
    const photos = (await readHumanManifest()).map((s) => s.image).slice(0, 100);
    await feed(photos);
    await vi.waitFor(async () => {
      const text = await registry.metrics();
      expect(text).toContain('segserve_drift_detected{model="selfie",version="1"} 0');
    });
    const isbi = sharedPath('datasets', 'isbi2012-membrane');
    const slices: string[] = [];
    for (const part of ['labeled', 'unlabeled']) {
      const images = join(isbi, part, 'images');
      for (const name of (await readdir(images)).sort()) slices.push(join(images, name));
    }
    await feed([...slices, ...slices].slice(0, 60));
    await vi.waitFor(() => expect(events.some((e) => e.detected)).toBe(true), { timeout: 20_000 });
    const text = await registry.metrics();
    expect(text).toContain('segserve_drift_detected{model="selfie",version="1"} 1');
    expect(text).toMatch(/segserve_drift_score\{model="selfie",version="1",signal="contrast"\} [0-9.]+/);
    expect(logged.find((l) => l.message === 'drift detected')).toMatchObject({
      level: 'warn',
      fields: { model: 'selfie', version: 1 },
    });
  });
});
