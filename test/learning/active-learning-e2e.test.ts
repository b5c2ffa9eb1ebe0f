/**
 * The active-learning loop end to end on real data, through the running server as `segserve serve` composes
 * it: MediaPipe selfie segments photos of ../shared/datasets/human-segmentation over HTTP; every prediction is
 * sampled (stored in the blob store and the database after its answer); the annotation queue answers them most
 * uncertain first; the dataset's own masks are submitted as their labels through /v1/annotations; enough new
 * labels fire the model's retraining trigger, which snapshots the dataset and calls its webhook with the version;
 * that version, exported to COCO and to mask PNGs, decodes back to the submitted masks pixel for pixel.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type RunningServer, startServer } from '../../src/host/server.js';
import type { AnnotationListJson } from '../../src/learning/annotations/types.js';
import type { RetrainingTriggerListJson } from '../../src/learning/wire-types.js';
import { encodeGreyPng } from '../../src/masks/index.js';
import { exportAndDecodeClassMaps } from '../helpers/dataset-exports.js';
import { readHumanManifest, readPersonMask } from '../helpers/datasets.js';
import { writeSelfieFolder } from '../helpers/selfie-folder.js';
import { describeWithShared } from '../helpers/shared.js';
import { testStorage } from '../helpers/storage.js';

const MODEL = 'selfie';
/** Every 16th photo: 15 images, of several sizes and orientations. */
const EVERY = 16;

describeWithShared(
  'the active-learning loop on human-segmentation photos',
  ['datasets', 'human-segmentation'],
  () => {
    let dir: string;
    let server: RunningServer;
    const webhookBodies: unknown[] = [];
    const hooks = createServer((request, response) => {
      let body = '';
      request.on('data', (chunk) => {
        body += chunk;
      });
      request.on('end', () => {
        webhookBodies.push(JSON.parse(body));
        response.statusCode = 204;
        response.end();
      });
    });
    let photos: Array<{ image: string; mask: string }>;

    beforeAll(async () => {
      await new Promise<void>((resolve) => hooks.listen(0, '127.0.0.1', resolve));
      const address = hooks.address();
      if (!address || typeof address === 'string') throw new Error('the webhook server has no port');
      photos = (await readHumanManifest()).filter((_, i) => i % EVERY === 0);
      dir = await mkdtemp(join(tmpdir(), 'segserve-loop-'));
      await writeSelfieFolder(dir, MODEL, {
        sampling: { random: { fraction: 1 } },
        retraining: {
          min_new_labels: photos.length,
          hooks: [{ webhook: { url: `http://127.0.0.1:${address.port}/dispatches` } }],
        },
      });
      server = await startServer({
        modelsDir: dir,
        port: 0,
        host: '127.0.0.1',
        logger: false,
        predictionLog: 'off',
        storage: testStorage(dir),
        retrainingPollMs: 200,
      });
    });

    afterAll(async () => {
      await server?.close();
      hooks.close();
      await rm(dir, { recursive: true, force: true });
    });

    const api = async <T>(path: string, init?: RequestInit & { json?: unknown }): Promise<T> => {
      const answer = await fetch(`${server.url}${path}`, {
        ...init,
        headers: { 'content-type': 'application/json', 'x-annotator': 'tester', ...init?.headers },
        body: init?.json === undefined ? init?.body : JSON.stringify(init.json),
      });
      const text = await answer.text();
      if (!answer.ok) throw new Error(`${init?.method ?? 'GET'} ${path}: ${answer.status} ${text}`);
      return (text ? JSON.parse(text) : undefined) as T;
    };

    it('samples, queues by uncertainty, takes labels, snapshots on the trigger and exports them back exactly', {
      timeout: 240_000,
    }, async () => {
      const bySha = new Map<string, { image: string; mask: string }>();
      for (const photo of photos) {
        const bytes = await readFile(photo.image);
        bySha.set(createHash('sha256').update(bytes).digest('hex'), photo);
        const answer = await fetch(`${server.url}/v1/models/${MODEL}/segment`, {
          method: 'POST',
          headers: { 'content-type': 'image/jpeg' },
          body: bytes,
        });
        expect(answer.status).toBe(200);
      }

      // Sampled after the answers: wait until the queue holds every photo.
      let queue: AnnotationListJson = { items: [], next_cursor: null };
      await expect
        .poll(
          async () => {
            queue = await api<AnnotationListJson>(`/v1/annotations?model=${MODEL}&limit=100`);
            return queue.items.length;
          },
          { timeout: 60_000, interval: 250 },
        )
        .toBe(photos.length);
      const uncertainties = queue.items.map((item) => item.uncertainty);
      expect(uncertainties).toEqual([...uncertainties].sort((a, b) => b - a));
      expect(new Set(queue.items.map((item) => item.image.sha256))).toEqual(new Set(bySha.keys()));
      expect(queue.items.every((item) => item.strategy === 'random')).toBe(true);

      // The dataset's own masks, submitted as the labels, most uncertain first.
      const submitted = new Map<string, Uint8Array>();
      for (const item of queue.items) {
        const { width, height, sha256 } = item.image;
        const mask = await readPersonMask(bySha.get(sha256)?.mask ?? '', width, height);
        const png = encodeGreyPng(
          mask.map((v) => v * 255),
          width,
          height,
        );
        await api(`/v1/annotations/${item.id}/claim`, { method: 'POST', json: {} });
        await api(`/v1/annotations/${item.id}/label`, {
          method: 'POST',
          json: { format: 'png', mask_png: png.toString('base64') },
        });
        submitted.set(sha256, mask);
      }

      // Enough new labels: the trigger snapshots the model's dataset and calls the webhook with the version.
      let triggers: RetrainingTriggerListJson = { triggers: [] };
      await expect
        .poll(
          async () => {
            triggers = await api<RetrainingTriggerListJson>(`/v1/retraining/triggers?model=${MODEL}`);
            return triggers.triggers[0]?.state;
          },
          { timeout: 30_000, interval: 250 },
        )
        .toBe('succeeded');
      const [trigger] = triggers.triggers;
      expect(trigger).toMatchObject({
        dataset: MODEL,
        reason: `new_labels: ${photos.length} since the last version`,
      });
      const version = trigger.dataset_version ?? '';
      expect(webhookBodies).toEqual([
        {
          event_type: 'segserve-retrain',
          client_payload: expect.objectContaining({
            dataset: MODEL,
            dataset_version: version,
            trigger_id: trigger.id,
          }),
        },
      ]);

      // That version, exported, gives back exactly what was submitted.
      const stores = { db: await server.storage.database(), blobs: await server.storage.blobs() };
      const decoded = await exportAndDecodeClassMaps(stores, MODEL, version, join(dir, 'exports'));
      for (const format of ['coco', 'masks'] as const) {
        expect([...decoded[format].keys()].sort(), format).toEqual([...submitted.keys()].sort());
        for (const [sha, mask] of submitted) {
          const back = decoded[format].get(sha);
          let differing = back?.length === mask.length ? 0 : mask.length;
          for (let i = 0; back && i < mask.length; i++) if (back[i] !== mask[i]) differing++;
          expect(differing, `${format} ${sha}`).toBe(0);
        }
      }
    });
  },
);
