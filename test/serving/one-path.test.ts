/**
 * Every adapter reaches models through the one InferenceService: the /v1 API, each compatible route, the
 * Open Inference Protocol and `segserve predict`. The repository runs its models on the in-process test
 * runtime, which records each job it runs; the service counts each request it admits. A route that went
 * around the service (to a runtime directly, as /v2 once did) would show a job without an admission.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { predict } from '../../src/cli/predict.js';
import { buildApp } from '../../src/http/app.js';
import { ModelRepository } from '../../src/models/index.js';
import type { PredictionCompleted } from '../../src/serving/events.js';
import { InferenceService } from '../../src/serving/service.js';
import { InProcessRuntime } from '../helpers/in-process-runtime.js';
import { semanticScene, tinySoftmaxModel, tinyYoloSegModel, yoloScene } from '../helpers/tiny-models.js';
import { listenOnLoopback, png, writeRepository } from '../http/helpers.js';
import { type Origin, serveBytes, startOrigin } from '../http/origin.js';

let dir: string;
let batchRoot: string;
let repository: ModelRepository;
let runtimes: ReturnType<typeof InProcessRuntime.factory>;
let service: InferenceService;
let base: string;
let close: () => Promise<void>;
let origin: Origin;
let semanticPng: Buffer;
let yoloPng: Buffer;

beforeAll(async () => {
  dir = await writeRepository({ softmax: tinySoftmaxModel(), yolo: tinyYoloSegModel() });
  runtimes = InProcessRuntime.factory();
  repository = await ModelRepository.open(dir, { createRuntime: runtimes });
  service = new InferenceService(repository, { defaultModel: 'softmax' });
  semanticPng = await png(semanticScene());
  yoloPng = await png(yoloScene());
  batchRoot = await mkdtemp(join(tmpdir(), 'segserve-one-path-'));
  await writeFile(join(batchRoot, 'a.png'), semanticPng);
  origin = await startOrigin({ '/scene.png': serveBytes(semanticPng, 'image/png') });
  const app = await buildApp({ service, logger: false, batchRoot, urlFetch: { allow: ['127.0.0.1'] } });
  base = await listenOnLoopback(app);
  close = () => app.close();
});

afterAll(async () => {
  await close?.();
  await origin?.close();
  await repository?.close();
  await rm(dir, { recursive: true, force: true });
  await rm(batchRoot, { recursive: true, force: true });
});

/**
 * Jobs the model's runtime ran, requests the service admitted and predictions it published during `action`
 * (published once the answer is sent, so they are waited for).
 */
async function traced(model: string, action: () => Promise<unknown>) {
  const runtime = runtimes.made.get(model);
  if (!runtime) throw new Error(`no runtime for ${model}`);
  const jobs = runtime.jobs.length;
  const admitted = service.health().requests.admitted;
  const events: PredictionCompleted[] = [];
  const off = service.events.on('prediction.completed', 'test', (event) => {
    events.push(event);
  });
  try {
    await action();
    await vi.waitFor(() => expect(events.length).toBeGreaterThan(0));
    await new Promise((resolve) => setTimeout(resolve, 50));
  } finally {
    off();
  }
  return {
    jobs: runtime.jobs.slice(jobs),
    admitted: service.health().requests.admitted - admitted,
    inFlight: service.health().requests.in_flight,
    events,
  };
}

async function ok(response: Promise<Response>): Promise<void> {
  const answer = await response;
  expect(answer.status, await answer.clone().text()).toBe(200);
  await answer.arrayBuffer();
}

const post = (path: string, body: string | Buffer | FormData, headers: Record<string, string> = {}) =>
  fetch(`${base}${path}`, { method: 'POST', body, headers });

function form(field: string, bytes: Buffer): FormData {
  const data = new FormData();
  data.append(field, new Blob([bytes]), 'image.png');
  return data;
}

describe('one request path', () => {
  const segmentCalls: Array<[string, string, () => Promise<void>]> = [
    ['/v1 segment', 'softmax', () => ok(post('/v1/models/softmax/segment', semanticPng))],
    [
      '/v1 segment of a version',
      'softmax',
      () => ok(post('/v1/models/softmax/versions/1/segment', semanticPng)),
    ],
    ['/predict', 'softmax', () => ok(post('/predict', form('file', semanticPng)))],
    ['/predict/upload', 'softmax', () => ok(post('/predict/upload', form('file', semanticPng)))],
    ['/api/detect', 'yolo', () => ok(post('/api/detect?model=yolo', form('image', yoloPng)))],
    [
      '/predict/url',
      'softmax',
      () =>
        ok(
          post('/predict/url', JSON.stringify({ url: `${origin.base}/scene.png` }), {
            'content-type': 'application/json',
          }),
        ),
    ],
    [
      '/predict/batch',
      'softmax',
      () =>
        ok(
          post('/predict/batch', JSON.stringify({ paths: ['a.png'] }), {
            'content-type': 'application/json',
          }),
        ),
    ],
  ];

  it.each(segmentCalls)(
    '%s: admitted by the service, then one image job on the runtime',
    async (_name, model, call) => {
      const trace = await traced(model, call);
      expect(trace.admitted).toBe(1);
      expect(trace.jobs).toEqual([
        { feeds: [], image: true, decoder: model === 'yolo' ? 'yolo-seg' : 'softmax' },
      ]);
      expect(trace.inFlight).toBe(0);
    },
  );

  it('/v2 infer: admitted by the service, then one raw tensor job on the runtime', async () => {
    const header = {
      inputs: [
        { name: 'image', datatype: 'FP32', shape: [1, 3, 16, 16], data: new Array(3 * 16 * 16).fill(0) },
      ],
    };
    const trace = await traced('softmax', () =>
      ok(post('/v2/models/softmax/infer', JSON.stringify(header), { 'content-type': 'application/json' })),
    );
    expect(trace.admitted).toBe(1);
    expect(trace.jobs).toEqual([{ feeds: ['image'], image: false, decoder: undefined }]);
    expect(trace.events).toEqual([
      expect.objectContaining({ source: 'v2', model: 'softmax', summary: { task: 'tensors' } }),
    ]);
  });

  it('segserve predict: each image admitted by the service, then one image job each', async () => {
    const out = await mkdtemp(join(tmpdir(), 'segserve-one-path-out-'));
    try {
      const trace = await traced('softmax', () =>
        predict({
          inputs: [join(batchRoot, 'a.png')],
          service,
          model: 'softmax',
          outDir: out,
          formats: ['json'],
          recursive: false,
        }),
      );
      expect(trace.admitted).toBe(1);
      expect(trace.jobs).toEqual([{ feeds: [], image: true, decoder: 'softmax' }]);
      expect(trace.events).toEqual([expect.objectContaining({ source: 'cli', requestId: undefined })]);
    } finally {
      await rm(out, { recursive: true, force: true });
    }
  });
});
