/**
 * Drift in the running server on real data: MediaPipe selfie serves human-segmentation photos over HTTP, then
 * ISBI microscopy slices; the server's drift watch sees every prediction through `prediction.completed` and, on
 * the slices, sets the gauge that /metrics exports, logs a warning and publishes `drift.detected`. (The monitor's own behaviour, photos staying
 * under the threshold included, is tested in drift-real.test.ts.)
 */
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import { startServer } from '../../src/host/server.js';
import type { DriftDetected } from '../../src/serving/events.js';
import { readHumanManifest } from '../helpers/datasets.js';
import { writeSelfieFolder } from '../helpers/selfie-folder.js';
import { describeWithShared, sharedPath } from '../helpers/shared.js';
import { testStorage } from '../helpers/storage.js';

describeWithShared('drift watch on the serving events (real data)', ['datasets', 'isbi2012-membrane'], () => {
  let dir: string;

  beforeAll(async () => {
    // The shipped selfie config with a reference and window the 232 photos of the dataset can fill.
    dir = await mkdtemp(join(tmpdir(), 'segserve-drift-watch-'));
    await writeSelfieFolder(dir, 'selfie', {
      monitoring: { drift: { reference_size: 100, window: 60, threshold: 0.25 } },
    });
  });

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('sets the gauge, logs and publishes drift.detected when photos turn into microscopy', {
    timeout: 180_000,
  }, async () => {
    // The real server, as `segserve serve` composes it: drift comes with monitoring, nothing wired by the test.
    const logged: Array<{ level: number; msg: string; model?: string; version?: number }> = [];
    const stream = new Writable({
      write(chunk: Buffer, _encoding, done) {
        for (const line of chunk.toString().split('\n'))
          if (line.startsWith('{')) logged.push(JSON.parse(line));
        done();
      },
    });
    const server = await startServer({
      modelsDir: dir,
      storage: testStorage(dir),
      port: 0,
      host: '127.0.0.1',
      logger: { level: 'info', stream },
      predictionLog: 'off',
    });
    try {
      const events: DriftDetected[] = [];
      server.service.events.on('drift.detected', 'test', (event) => {
        events.push(event);
      });
      const metrics = async () => (await fetch(`${server.url}/metrics`)).text();
      const feed = async (files: string[]) => {
        for (const file of files) {
          const answer = await fetch(`${server.url}/v1/models/selfie/segment`, {
            method: 'POST',
            headers: { 'content-type': 'image/jpeg' },
            body: await readFile(file),
          });
          expect(answer.status).toBe(200);
        }
      };
      const photos = (await readHumanManifest()).map((s) => s.image).slice(0, 100);
      await feed(photos);
      await vi.waitFor(async () => {
        expect(await metrics()).toContain('segserve_drift_detected{model="selfie",version="1"} 0');
      });
      const isbi = sharedPath('datasets', 'isbi2012-membrane');
      const slices: string[] = [];
      for (const part of ['labeled', 'unlabeled']) {
        const images = join(isbi, part, 'images');
        for (const name of (await readdir(images)).sort()) slices.push(join(images, name));
      }
      await feed([...slices, ...slices].slice(0, 60));
      await vi.waitFor(() => expect(events.some((e) => e.detected)).toBe(true), { timeout: 20_000 });
      const text = await metrics();
      expect(text).toContain('segserve_drift_detected{model="selfie",version="1"} 1');
      expect(text).toMatch(/segserve_drift_score\{model="selfie",version="1",signal="contrast"\} [0-9.]+/);
      // pino's level 40 is warn.
      expect(logged.find((l) => l.msg === 'drift detected')).toMatchObject({
        level: 40,
        model: 'selfie',
        version: 1,
      });
    } finally {
      await server.close();
    }
  });
});
