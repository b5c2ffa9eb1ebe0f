/**
 * Batch jobs through a running server with the in-process queue (what `segserve serve` does without Redis):
 * submit by prefix, keys and uploads; outputs, manifest and COCO results file in the blob store; errors per
 * input; refusals at submit time; idempotent submits; cancel; a signed webhook retried until it is taken;
 * and a server restarted mid-job finishing it (the reconcile pass queues again what the lost queue held).
 */
import { createHmac } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningServer, type ServeOptions, startServer } from '../../src/host/server.js';
import type { JobInputView, JobManifest, JobView } from '../../src/jobs/wire-types.js';
import type { StorageSettings } from '../../src/storage/index.js';
import { testStorage } from '../helpers/storage.js';
import { tinySoftmaxModel, tinyYoloSegModel, yoloScene } from '../helpers/tiny-models.js';
import { errorOf, png, writeRepository } from '../http/helpers.js';
import { distinctScene } from '../learning/capture-helpers.js';

let dir: string;
let modelsDir: string;
let storage: StorageSettings;
let server: RunningServer;

function serve(extra: Partial<ServeOptions> = {}): Promise<RunningServer> {
  return startServer({
    modelsDir,
    port: 0,
    host: '127.0.0.1',
    logger: false,
    predictionLog: 'off',
    storage,
    limits: { maxJobInputs: 300 },
    urlFetch: { allow: ['127.0.0.1'] },
    ...extra,
  });
}

async function post(path: string, body: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${server.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
}

async function waitForEnd(id: string, timeoutMs = 60_000): Promise<JobView & { errors: JobInputView[] }> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const job = (await (await fetch(`${server.url}/v1/jobs/${id}`)).json()) as JobView & {
      errors: JobInputView[];
    };
    if (['completed', 'failed', 'cancelled'].includes(job.state)) return job;
    if (Date.now() > deadline)
      throw new Error(`job ${id} still ${job.state}: ${JSON.stringify(job.progress)}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function readJson<T>(key: string): Promise<T> {
  const blobs = await server.storage.blobs();
  return JSON.parse(new TextDecoder().decode(await blobs.get(key))) as T;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'segserve-jobs-'));
  modelsDir = await writeRepository({ softmax: tinySoftmaxModel(), yolo: tinyYoloSegModel() });
  storage = testStorage(dir);
  server = await serve();
  const blobs = await server.storage.blobs();
  for (let i = 0; i < 12; i++)
    await blobs.put(`incoming/scene-${String(i).padStart(2, '0')}.png`, await distinctScene(i));
  await blobs.put('incoming/notes.txt', new TextEncoder().encode('not an image'));
  await blobs.put('broken/bad.png', new TextEncoder().encode('not a png at all'));
  await blobs.put('yolo/000000000139.png', new Uint8Array(await png(yoloScene())));
  await blobs.put('yolo/street.png', new Uint8Array(await png(yoloScene())));
}, 60_000);

afterAll(async () => {
  await server?.close();
  if (modelsDir) await rm(modelsDir, { recursive: true, force: true });
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('batch jobs on the in-process queue', () => {
  it('segments every image under a prefix and writes outputs, a manifest and errors per input', async () => {
    const answer = await post('/v1/jobs', {
      model: 'softmax',
      prefix: 'incoming/',
      inputs: [{ key: 'broken/bad.png' }],
      output: 'results/run-1',
      formats: ['json', 'png', 'overlay'],
    });
    expect(answer.status).toBe(201);
    const submitted = (await answer.json()) as JobView;
    expect(answer.headers.get('location')).toBe(`/v1/jobs/${submitted.id}`);
    // The text file under the prefix is not an input; the listed key is.
    expect(submitted.progress).toEqual({ total: 13, done: 0, failed: 0, cancelled: 0 });

    const job = await waitForEnd(submitted.id);
    expect(job.state).toBe('completed');
    expect(job.progress).toEqual({ total: 13, done: 12, failed: 1, cancelled: 0 });
    expect(job.errors).toEqual([
      expect.objectContaining({
        index: 0,
        state: 'failed',
        error: expect.objectContaining({ code: 'IMAGE_UNSUPPORTED_FORMAT' }),
      }),
    ]);
    expect(job.manifest_key).toBe('results/run-1/manifest.json');

    const manifest = await readJson<JobManifest>('results/run-1/manifest.json');
    expect(manifest.state).toBe('completed');
    expect(manifest.inputs).toHaveLength(13);
    const blobs = await server.storage.blobs();
    for (const input of manifest.inputs.filter((i) => i.state === 'done')) {
      expect(input.outputs).toEqual([
        `results/run-1/${input.name}.json`,
        `results/run-1/${input.name}.png`,
        `results/run-1/${input.name}.overlay.png`,
      ]);
      for (const key of input.outputs ?? []) expect(await blobs.exists(key)).toBe(true);
      expect(input.served_by).toEqual({ model: 'softmax', version: 1, variant: 'default' });
    }
    // Names follow the keys, relative to the prefix.
    expect(manifest.inputs.map((i) => i.name).sort()).toContain('scene-03');
    const json = await readJson<{ input: string; timings?: unknown; classes: unknown[] }>(
      'results/run-1/scene-03.json',
    );
    expect(json.input).toBe('incoming/scene-03.png');
    expect(json.timings).toBeUndefined();
  });

  it('writes one COCO results file for an instance model, with image ids from numeric names', async () => {
    // No formats named: an instance model writes its JSON answers and the job's COCO results file.
    const answer = await post('/v1/jobs', { model: 'yolo', prefix: 'yolo/', output: 'results/coco/' });
    const job = await waitForEnd(((await answer.json()) as JobView).id);
    expect(job).toMatchObject({
      state: 'completed',
      formats: ['json', 'coco'],
      coco_results_key: 'results/coco/coco-results.json',
    });
    const results = await readJson<Array<{ image_id: number; category_id: number; segmentation: unknown }>>(
      'results/coco/coco-results.json',
    );
    expect(new Set(results.map((r) => r.image_id))).toEqual(new Set([139, 140]));
    expect(results.length).toBeGreaterThanOrEqual(2);
  });

  it('takes uploaded images (multipart) and names outputs after the files', async () => {
    const form = new FormData();
    form.append('job', JSON.stringify({ model: 'softmax', output: 'results/uploads/' }));
    form.append('file', new Blob([await distinctScene(500)], { type: 'image/png' }), 'holiday photo.png');
    form.append('file', new Blob([await distinctScene(501)], { type: 'image/png' }), 'second.png');
    const answer = await fetch(`${server.url}/v1/jobs`, { method: 'POST', body: form });
    expect(answer.status).toBe(201);
    const job = await waitForEnd(((await answer.json()) as JobView).id);
    expect(job.progress.done).toBe(2);
    const manifest = await readJson<JobManifest>('results/uploads/manifest.json');
    expect(manifest.inputs.map((i) => i.name)).toEqual(['holiday photo', 'second']);
  });

  it('refuses at submit time what is known then, with a clear 4xx', async () => {
    const cases: Array<[unknown, number, string]> = [
      [{ model: 'softmax', output: 'r/' }, 400, 'JOB_INVALID'],
      [{ model: 'softmax', inputs: [], output: 'r/' }, 400, 'JOB_INVALID'],
      [{ model: 'softmax', prefix: 'nothing-here/', output: 'r/' }, 400, 'JOB_INVALID'],
      [{ model: 'nope', inputs: [{ key: 'incoming/scene-00.png' }], output: 'r/' }, 404, 'MODEL_NOT_FOUND'],
      [{ model: 'softmax', inputs: [{ key: 'a.png' }], output: 's3://bucket/out/' }, 400, 'JOB_INVALID'],
      [{ model: 'softmax', inputs: [{ key: '../etc/passwd' }], output: 'r/' }, 400, 'JOB_INVALID'],
      [{ model: 'softmax', inputs: [{ url: 'file:///etc/passwd' }], output: 'r/' }, 400, 'JOB_INVALID'],
      [{ model: 'softmax', inputs: [{ key: 'a.png' }], output: 'r/', formats: ['gif'] }, 400, 'JOB_INVALID'],
      [
        { model: 'softmax', inputs: [{ key: 'a.png' }], output: 'r/', webhook: { url: 'http://127.0.0.1/' } },
        400,
        'JOB_INVALID',
      ],
      [{ model: 'softmax', endpoint: 'x', inputs: [{ key: 'a.png' }], output: 'r/' }, 400, 'JOB_INVALID'],
      [{ model: 'softmax', inputs: [{ key: 'a.png' }], output: 'r/', extra: 1 }, 400, 'JOB_INVALID'],
      [
        {
          model: 'softmax',
          inputs: Array.from({ length: 100_000 }, (_, i) => ({ key: `k/${i}.png` })),
          output: 'r/',
        },
        413,
        'JOB_TOO_LARGE',
      ],
    ];
    for (const [body, status, code] of cases) {
      const answer = await post('/v1/jobs', body);
      expect({ body: JSON.stringify(body).slice(0, 80), status: answer.status }).toEqual({
        body: JSON.stringify(body).slice(0, 80),
        status,
      });
      expect((await errorOf(answer)).code).toBe(code);
    }
    const garbage = await fetch(`${server.url}/v1/jobs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"model": ',
    });
    expect(garbage.status).toBe(400);
    expect((await fetch(`${server.url}/v1/jobs/no-such-job`)).status).toBe(404);
    // Nothing of a refused job was created.
    const list = (await (await fetch(`${server.url}/v1/jobs?limit=500`)).json()) as { jobs: JobView[] };
    expect(list.jobs.every((job) => job.output !== 'r/')).toBe(true);
  });

  it('answers the same job for a repeated Idempotency-Key', async () => {
    const body = { model: 'softmax', inputs: [{ key: 'incoming/scene-01.png' }], output: 'results/idem/' };
    const first = await post('/v1/jobs', body, { 'idempotency-key': 'batch-42' });
    const second = await post('/v1/jobs', body, { 'idempotency-key': 'batch-42' });
    expect([first.status, second.status]).toEqual([201, 200]);
    expect(((await second.json()) as JobView).id).toBe(((await first.json()) as JobView).id);
  });

  it('cancels a running job: pending inputs are not run and the job ends cancelled', async () => {
    const inputs = Array.from({ length: 250 }, (_, i) => ({
      key: `incoming/scene-${String(i % 12).padStart(2, '0')}.png`,
    }));
    const answer = await post('/v1/jobs', { model: 'softmax', inputs, output: 'results/cancelled/' });
    const { id } = (await answer.json()) as JobView;
    const cancelled = await post(`/v1/jobs/${id}/cancel`, {});
    expect(cancelled.status).toBe(200);
    const job = await waitForEnd(id);
    expect(job.state).toBe('cancelled');
    expect(job.progress.cancelled).toBeGreaterThan(0);
    expect(job.progress.done + job.progress.failed + job.progress.cancelled).toBe(250);
    const again = await post(`/v1/jobs/${id}/cancel`, {});
    expect(again.status).toBe(409);
    expect((await errorOf(again)).code).toBe('JOB_FINISHED');
  });

  it('delivers a signed webhook, retrying until the receiver takes it', async () => {
    const secret = 'a-webhook-secret-of-some-length';
    const received: Array<{ headers: Record<string, string | string[] | undefined>; body: string }> = [];
    const receiver: Server = createServer((request, response) => {
      let body = '';
      request.on('data', (chunk) => {
        body += chunk;
      });
      request.on('end', () => {
        received.push({ headers: request.headers, body });
        // The first delivery fails: the queue must try again.
        response.statusCode = received.length === 1 ? 500 : 204;
        response.end();
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
      const answer = await post('/v1/jobs', {
        model: 'softmax',
        inputs: [{ key: 'incoming/scene-02.png' }],
        output: 'results/hooked/',
        webhook: { url, secret },
      });
      const { id } = (await answer.json()) as JobView;
      await waitForEnd(id);
      const deadline = Date.now() + 30_000;
      let job: JobView;
      do {
        await new Promise((resolve) => setTimeout(resolve, 100));
        job = (await (await fetch(`${server.url}/v1/jobs/${id}`)).json()) as JobView;
      } while (job.webhook?.state !== 'delivered' && Date.now() < deadline);
      expect(job.webhook).toMatchObject({ state: 'delivered', attempts: 2 });
      expect(received).toHaveLength(2);
      for (const delivery of received) {
        const timestamp = String(delivery.headers['x-segserve-timestamp']);
        const expected = `sha256=${createHmac('sha256', secret).update(`${timestamp}.${delivery.body}`).digest('hex')}`;
        expect(delivery.headers['x-segserve-signature']).toBe(expected);
        expect(delivery.headers['x-segserve-delivery']).toBe(id);
        expect(JSON.parse(delivery.body)).toMatchObject({
          type: 'job.finished',
          job: { id, state: 'completed' },
        });
      }
    } finally {
      await new Promise((resolve) => receiver.close(resolve));
    }
  });

  it('finishes after a restart what the in-process queue held when the server stopped', async () => {
    const inputs = Array.from({ length: 120 }, (_, i) => ({
      key: `incoming/scene-${String(i % 12).padStart(2, '0')}.png`,
    }));
    const answer = await post('/v1/jobs', { model: 'softmax', inputs, output: 'results/restart/' });
    const { id } = (await answer.json()) as JobView;
    await server.close();
    server = await serve();
    const job = await waitForEnd(id);
    expect(job).toMatchObject({ state: 'completed', progress: { total: 120, done: 120, failed: 0 } });
    const manifest = await readJson<JobManifest>('results/restart/manifest.json');
    expect(manifest.inputs.every((input) => input.state === 'done')).toBe(true);
  });
});
