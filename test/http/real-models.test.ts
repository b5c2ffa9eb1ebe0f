/**
 * The shipped model repository over HTTP with real models and real photos (from the shared folder): the answers
 * equal what the serving layer gives in-process for the same bytes, in every route's shape.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { decodeRle } from '../../src/masks/rle.js';
import { ModelRepository } from '../../src/models/index.js';
import { toMaskPng, toSegmentationJson } from '../../src/serving/encode.js';
import { COCO_MINI, HUMAN_SEG } from '../helpers/datasets.js';
import { REPOSITORY_DIR } from '../helpers/paths.js';
import { segment } from '../helpers/serving.js';
import { describeWithShared } from '../helpers/shared.js';
import { listen, type RunningApp } from './helpers.js';

function withoutTimings(body: object): object {
  const { timings: _timings, ...rest } = body as { timings?: unknown };
  return rest;
}

// The models and the photos live in different shared folders; either missing skips the suite, loudly.
describeWithShared('the shipped models over HTTP: photos', ['datasets'], () =>
  describeWithShared('the shipped models over HTTP (real models, real photos)', ['models'], () => {
    let repository: ModelRepository;
    let server: RunningApp;
    let street: Buffer;
    let person: Buffer;

    beforeAll(async () => {
      repository = await ModelRepository.open(REPOSITORY_DIR, {
        models: ['yolov8n-seg', 'mediapipe-selfie'],
      });
      for (const status of repository.list()) expect(status.state, status.error?.message).toBe('ready');
      server = await listen({ repository });
      street = await readFile(join(COCO_MINI, 'images', '000000397133.jpg'));
      person = await readFile(join(HUMAN_SEG, 'images', '1.jpg'));
    });

    afterAll(async () => {
      await server?.app.close();
      await repository?.close();
    });

    it('yolov8n-seg: /v1 JSON equals the in-process answer, RLE masks included', async () => {
      const response = await fetch(`${server.base}/v1/models/yolov8n-seg/segment`, {
        method: 'POST',
        body: new Uint8Array(street),
        headers: { 'content-type': 'image/jpeg' },
      });
      expect(response.status).toBe(200);
      const body = (await response.json()) as {
        instances: Array<{ label: string; area: number; mask: never }>;
      };
      const expected = toSegmentationJson(await segment(repository, 'yolov8n-seg', street));
      expect(withoutTimings(body)).toEqual(withoutTimings(JSON.parse(JSON.stringify(expected))));
      expect(body.instances.length).toBeGreaterThan(3);
      expect(body.instances.map((i) => i.label)).toContain('person');
      for (const instance of body.instances) {
        expect(decodeRle(instance.mask).data.reduce((a, b) => a + b, 0)).toBe(instance.area);
      }
    });

    it('yolov8n-seg: /api/detect gives one box, mask, class id and score per instance', async () => {
      const form = new FormData();
      form.append('image', new Blob([street]), 'street.jpg');
      const response = await fetch(`${server.base}/api/detect?model=yolov8n-seg`, {
        method: 'POST',
        body: form,
      });
      const body = (await response.json()) as {
        boxes: number[][];
        masks: unknown[];
        class_ids: number[];
        scores: number[];
      };
      const seg = await segment(repository, 'yolov8n-seg', street);
      const instances = seg.result.task === 'instance' ? seg.result.instances : [];
      expect(body.boxes).toHaveLength(instances.length);
      expect(body.masks).toHaveLength(instances.length);
      expect(body.class_ids).toEqual(instances.map((i) => i.classId));
      for (const [x1, y1, x2, y2] of body.boxes) {
        expect(x2).toBeGreaterThan(x1);
        expect(y2).toBeGreaterThan(y1);
        expect(x2).toBeLessThanOrEqual(640);
      }
    });

    it('yolov8n-seg: the overlay is a PNG of the photo size', async () => {
      const response = await fetch(`${server.base}/v1/models/yolov8n-seg/segment?format=overlay`, {
        method: 'POST',
        body: new Uint8Array(street),
      });
      expect(response.headers.get('content-type')).toBe('image/png');
      const meta = await sharp(Buffer.from(await response.arrayBuffer())).metadata();
      const source = await sharp(street).metadata();
      expect([meta.format, meta.width, meta.height]).toEqual(['png', source.width, source.height]);
    });

    it('mediapipe-selfie: /predict/upload answers the person mask PNG, byte for byte', async () => {
      const form = new FormData();
      form.append('file', new Blob([person]), 'person.jpg');
      const response = await fetch(`${server.base}/predict/upload?model=mediapipe-selfie`, {
        method: 'POST',
        body: form,
      });
      expect(response.status).toBe(200);
      expect(Buffer.from(await response.arrayBuffer())).toEqual(
        toMaskPng(await segment(repository, 'mediapipe-selfie', person)),
      );
    });

    it('GET /v1/models/yolov8n-seg describes the served version and its 80 labels', async () => {
      const body = (await (await fetch(`${server.base}/v1/models/yolov8n-seg`)).json()) as {
        labels: string[];
        versions: Array<{ version: number; state: string }>;
        input: { width: number };
      };
      expect(body.labels).toHaveLength(80);
      expect(body.versions).toEqual([{ version: 2, state: 'ready' }]);
      expect(body.input.width).toBe(320);
    });
  }),
);
