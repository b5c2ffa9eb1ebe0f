/**
 * Every code of the error catalogue, raised by the product through the surface a user reaches it by, checked for
 * its code, its HTTP status (the catalogue's) and a message of its template's form. `TRIGGERS` is a
 * `Record<ErrorCode, ...>`, so a code added to the catalogue without a trigger fails the type check, and the
 * suite iterates the catalogue itself, so it fails at run time too.
 *
 * Most triggers are real requests to the app on loopback over one repository of tiny models. The rest, each
 * commented where it is: load failures are reported in the model's status (GET /v1/models/{m}); the v2 routes
 * answer `{"error": "<message>"}`, so their code is read from the app's structured log line for the request;
 * REQUEST_ABORTED is only ever logged; the TFLite importer, the batch file reader and the storage event parser and
 * sender check (which POST /v1/events calls) are called in-process;
 * OUTPUT_NOT_WRITABLE comes from the real command line; INTERNAL_ERROR needs a bug, stood in for by a route
 * that throws.
 */

import { execFileSync } from 'node:child_process';
import { closeSync, constants, openSync } from 'node:fs';
import { mkdir, mkdtemp, open, readFile, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { Worker } from 'node:worker_threads';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { stringify as stringifyYaml } from 'yaml';
import { runOptimize } from '../../src/cli/optimize.js';
import { ERROR_CATALOGUE, type ErrorCode, isSegserveError } from '../../src/errors.js';
import { type CocoDataset, evaluateCoco, parseCocoResults } from '../../src/eval/index.js';
import { startServer } from '../../src/host/server.js';
import { AdminKeys } from '../../src/http/admin-auth.js';
import { ApiKeys } from '../../src/http/api-keys.js';
import { buildApp } from '../../src/http/app.js';
import { renderErrorsTable, withErrorsTable } from '../../src/http/error-docs.js';
import { parseStorageEvents, verifyEventSender } from '../../src/jobs/events/index.js';
import { ensureDataset } from '../../src/learning/dataset-items.js';
import { importMaskFolder } from '../../src/learning/datasets/index.js';
import { parseLabelDocument } from '../../src/learning/label-document.js';
import { checkParity } from '../../src/learning/training/parity.js';
import { DatasetFiles, openDatasetSource, runEvaluation } from '../../src/lifecycle/evaluation/index.js';
import { RepositorySync } from '../../src/lifecycle/repository-sync.js';
import { importTflite } from '../../src/models/tflite/index.js';
import { makeBaseline, readBaseline, writeBaseline } from '../../src/monitoring/drift/index.js';
import { ShadowTraffic } from '../../src/monitoring/shadow/index.js';
import { EncoderPool } from '../../src/serving/encoder-pool.js';
import { readRegularFile } from '../../src/sources/files.js';
import { FsBlobStore } from '../../src/storage/fs-blob-store.js';
import { openDatabase } from '../../src/storage/index.js';
import { runCli } from '../helpers/cli.js';
import { ADMIN_KEY, adminHeaders, lifecycleApp } from '../helpers/lifecycle.js';
import { buildModel } from '../helpers/onnx-builder.js';
import { PROJECT_ROOT } from '../helpers/paths.js';
import { freshDatabase } from '../helpers/postgres.js';
import { boxPrediction, insertSample, openedStores, testImage } from '../helpers/samples.js';
import { segment, serviceFor } from '../helpers/serving.js';
import { testStorage } from '../helpers/storage.js';
import {
  failsAtWidthModel,
  semanticScene,
  tinyRedClassifier,
  tinySoftmaxModel,
} from '../helpers/tiny-models.js';
import {
  errorOf,
  listen,
  listenOnLoopback,
  type ModelFolder,
  png,
  type RunningApp,
  type TinyRepository,
  tinyRepository,
  writeRepository,
} from '../http/helpers.js';
import { type Origin, startOrigin } from '../http/origin.js';
import { slowBinaryModel } from '../http/slow-model.js';
import { noiseBytes, pngDeclaring } from '../image/fixtures.js';
import { sceneClassMap, writeCocoFolder, writeMaskFolder } from '../lifecycle/evaluation-fixtures.js';
import { oneOp } from '../models/tflite/harness.js';
import { writeTflite } from '../models/tflite/tflite-writer.js';
import { cudaInstalled } from './cuda.js';

/** What a user sees of an error: its code, its HTTP status where the surface has one, and its message. */
interface Outcome {
  code: string;
  /** undefined where the surface carries no status of its own (see NO_STATUS_ON_SURFACE). */
  status: number | undefined;
  message: string;
}

/**
 * Codes whose surface has no HTTP status of the error itself: load failures (the model's status answers 200),
 * a batch item (the batch answers 200), the command line, and a request whose client is gone.
 */
const NO_STATUS_ON_SURFACE = new Set<ErrorCode>([
  'CONFIG_INVALID',
  'MODEL_LOAD_FAILED',
  'EXECUTION_PROVIDER_UNAVAILABLE',
  'FILE_NOT_FOUND',
  'OUTPUT_NOT_WRITABLE',
  'REQUEST_ABORTED',
  'MODEL_SYNC_FAILED',
  'GATE_INVALID',
]);

const SLOW = '/v1/models/slow/segment?mask_format=none';
const IMAGE_LIMIT = 4096;

let repo: TinyRepository;
let server: RunningApp;
let plain: RunningApp;
let scene: Uint8Array;
let work: string;
let origin: Origin;
const logLines: Array<Record<string, unknown>> = [];

function logStream(): Writable {
  return new Writable({
    write(chunk, _encoding, done) {
      for (const line of String(chunk).split('\n')) if (line.trim()) logLines.push(JSON.parse(line));
      done();
    },
  });
}

async function until(condition: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 1_000; i++) {
    if (condition()) return;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  throw new Error(`timed out waiting for ${what}`);
}

const slowStats = () => repo.repository.resolve('slow').runtime.stats();

/** The outcome of a /v1 or compatible-route answer: `{"error": {"code", "message", "details"}}`. */
async function answered(response: Response | Promise<Response>): Promise<Outcome> {
  const done = await response;
  const { code, message } = await errorOf(done);
  return { code, status: done.status, message };
}

/** Runs `action` on a new database of the test PostgreSQL server, dropped afterwards. */
async function inFreshDatabase<T>(action: (url: string) => Promise<T>): Promise<T> {
  const database = await freshDatabase();
  try {
    return await action(database.url);
  } finally {
    await database.drop();
  }
}

/**
 * `action` against an app serving the dataset API over a new PostgreSQL database and a blob folder, holding the
 * dataset "people" (binary, no items yet).
 */
async function withDatasetApp(action: (base: string) => Promise<Outcome>): Promise<Outcome> {
  return inFreshDatabase(async (url) => {
    const db = await openDatabase({ kind: 'postgres', url });
    const blobs = await FsBlobStore.open(join(work, 'dataset-blobs'));
    const app = await listen({ repository: repo.repository, stores: openedStores(db, blobs) });
    try {
      await ensureDataset(db, { name: 'people', task: 'binary', labels: ['background', 'person'] });
      return await action(app.base);
    } finally {
      await app.app.close();
      await blobs.close();
      await db.close();
    }
  });
}

/** The outcome of an error thrown by product code called in-process. */
async function thrown(action: () => Promise<unknown>): Promise<Outcome> {
  try {
    await action();
  } catch (error) {
    if (!isSegserveError(error)) throw error;
    return { code: error.code, status: error.status, message: error.message };
  }
  throw new Error('no error was raised');
}

/** The logged line with `code` for the request `id` (the app's structured log). */
async function loggedCode(id: string): Promise<{ code: string; reason?: string; msg?: string }> {
  let line: Record<string, unknown> | undefined;
  await until(() => {
    line = logLines.find((l) => l.request_id === id && typeof l.code === 'string');
    return line !== undefined;
  }, `a log line with a code for request ${id}`);
  return line as { code: string; reason?: string; msg?: string };
}

let requestCounter = 0;

/** A v2 answer is `{"error": "<message>"}`: the status and message from it, the code from its log line. */
async function v2Answered(path: string, init: RequestInit): Promise<Outcome> {
  const id = `v2-${++requestCounter}`;
  const response = await fetch(`${server.base}${path}`, {
    ...init,
    headers: { ...(init.headers as Record<string, string>), 'x-request-id': id },
  });
  const body = (await response.json()) as { error: string };
  const { code } = await loggedCode(id);
  return { code, status: response.status, message: body.error };
}

/** The load error a model's status reports (GET /v1/models/{m}); loading has no request to answer. */
async function modelStatusError(model: string): Promise<Outcome> {
  const response = await fetch(`${server.base}/v1/models/${model}`);
  expect(response.status).toBe(200);
  const body = (await response.json()) as { state: string; error?: { code: string; message: string } };
  expect(body.state).toBe('failed');
  if (!body.error) throw new Error(`model ${model} has no error: ${JSON.stringify(body)}`);
  return { code: body.error.code, status: undefined, message: body.error.message };
}

function post(
  path: string,
  body: NonNullable<RequestInit['body']>,
  headers: Record<string, string> = {},
  base = server.base,
) {
  return fetch(`${base}${path}`, { method: 'POST', body, headers });
}

function postJson(path: string, body: unknown, base = server.base) {
  return post(path, JSON.stringify(body), { 'content-type': 'application/json' }, base);
}

function filePart(bytes: Uint8Array, field = 'file'): FormData {
  const form = new FormData();
  form.append(field, new Blob([bytes]), 'x.png');
  return form;
}

/** Runs `action` with the slow model busy on one request (sent to `base`), then waits for the pool to drain. */
async function whileSlowBusy<T>(base: string, action: () => Promise<T>): Promise<T> {
  const running = post(SLOW, scene, {}, base).then((r) => r.arrayBuffer());
  await until(() => slowStats().busy === 1, 'the slow model to start');
  try {
    return await action();
  } finally {
    await running;
    await until(() => slowStats().busy === 0 && slowStats().queued === 0, 'the slow model to drain');
  }
}

async function withApp<T>(app: FastifyInstance, action: (base: string) => Promise<T>): Promise<T> {
  const base = await listenOnLoopback(app);
  try {
    return await action(base);
  } finally {
    await app.close();
  }
}

/**
 * Runs `action` against a running server (startServer: jobs need the host's queue and stores) over the tiny
 * softmax model, with its data in a fresh folder and at most 2 inputs per job.
 */
async function withJobsServer(action: (base: string) => Promise<Outcome>): Promise<Outcome> {
  const models = await writeRepository({ softmax: tinySoftmaxModel() });
  const data = await mkdtemp(join(work, 'jobs-'));
  const running = await startServer({
    modelsDir: models,
    port: 0,
    host: '127.0.0.1',
    logger: false,
    predictionLog: 'off',
    storage: testStorage(data),
    limits: { maxJobInputs: 2 },
  });
  try {
    const blobs = await running.storage.blobs();
    await blobs.put('in/scene.png', scene);
    // A file where the output folder would go: the store cannot write under it.
    await blobs.put('blocked', new Uint8Array(1));
    return await action(running.url);
  } finally {
    await running.close();
    await rm(models, { recursive: true, force: true });
  }
}

const submitJob = (base: string, job: unknown) => postJson('/v1/jobs', job, base);

/**
 * Runs `action` against an app serving the annotation queue over a fresh PostgreSQL database and a blob folder,
 * with one queued item (its id given) of a binary model.
 */
async function withAnnotationItem(action: (base: string, id: string) => Promise<Outcome>): Promise<Outcome> {
  return inFreshDatabase(async (url) => {
    const db = await openDatabase({ kind: 'postgres', url });
    const blobs = await FsBlobStore.open(join(work, 'annotation-blobs'));
    const stores = openedStores(db, blobs);
    const prediction = boxPrediction(
      'binary',
      4,
      3,
      ['background', 'person'],
      [{ classId: 1, x: 0, y: 0, w: 2, h: 2 }],
    );
    const id = await insertSample(stores, {
      model: 'people',
      image: await testImage(4, 3, 1),
      prediction,
      uncertainty: 0.5,
    });
    const app = await buildApp({ service: serviceFor(repo.repository), stores, logger: false });
    try {
      return await withApp(app, (base) => action(base, id));
    } finally {
      await db.close();
    }
  });
}

/** Evaluates the softmax model on a dataset that `write` puts in a new folder of `work`. */
async function evaluateOn(name: string, write: (folder: string) => Promise<unknown>): Promise<Outcome> {
  const folder = join(work, name);
  await write(folder);
  return thrown(async () => {
    const dataset = await openDatasetSource(folder, { files: DatasetFiles.unconfined() });
    await runEvaluation({ service: serviceFor(repo.repository), model: 'softmax', dataset });
  });
}

function uploadVersion(base: string, parts: { model: Uint8Array; version?: string }): Promise<Response> {
  const form = new FormData();
  if (parts.version) form.append('version', parts.version);
  form.append('model', new Blob([parts.model]), 'model.onnx');
  return fetch(`${base}/v1/admin/models/softmax/versions`, {
    method: 'POST',
    headers: { authorization: adminHeaders().authorization },
    body: form,
  });
}

/** Runs `action` against an app whose inference routes need an API key. */
async function withKeyedApp(action: (base: string) => Promise<Outcome>): Promise<Outcome> {
  const apiKeys = ApiKeys.fromEntries([
    { text: 'limited limited-key-0123456789 rate=1/m', where: 'test' },
    { text: 'gone revoked-key-0123456789 revoked', where: 'test' },
  ]);
  return withApp(await buildApp({ service: serviceFor(repo.repository), logger: false, apiKeys }), action);
}

/** Runs `action` against the lifecycle's app over a model with versions 1 and 2 and a fresh database. */
async function withLifecycleApp(
  options: { adminKeys?: null },
  action: (base: string) => Promise<Outcome>,
): Promise<Outcome> {
  return inFreshDatabase(async (url) => {
    const db = await openDatabase({ kind: 'postgres', url });
    const versions = await tinyRepository({ softmax: { ...tinySoftmaxModel(), versions: [1, 2] } });
    try {
      const { app } = await lifecycleApp({
        repository: versions.repository,
        repositoryDir: versions.dir,
        db,
        blobs: await FsBlobStore.open(join(work, 'lifecycle-blobs')),
        evaluate: async (_model, version) => ({
          dataset: 'dataset:gate',
          metric: 'miou',
          value: version === 1 ? 0.9 : 0.5,
          tolerance: 0.01,
          report: {},
        }),
        ...options,
      });
      return await withApp(app, action);
    } finally {
      await versions.close();
      await db.close();
    }
  });
}

const claimAs = (base: string, id: string, annotator: string, act = 'claim') =>
  postJson(`/v1/annotations/${id}/${act}`, { annotator }, base);

/**
 * `segserve models optimize --int8` on the tiny softmax model (a 1x1 Conv), in process as the command runs it,
 * with a calibration folder holding `images` and the guard's agreement on the scene.
 */
async function optimizeTiny(
  images: Record<string, Uint8Array>,
  model: ModelFolder = tinySoftmaxModel(),
): Promise<Outcome> {
  const models = await writeRepository({ softmax: model });
  const calibration = await mkdtemp(join(work, 'calibration-'));
  for (const [name, bytes] of Object.entries(images)) await writeFile(join(calibration, name), bytes);
  const agreement = await mkdtemp(join(work, 'agreement-'));
  await writeFile(join(agreement, 'scene.png'), scene);
  try {
    return await thrown(() =>
      runOptimize('softmax', {
        int8: true,
        calibration,
        models,
        method: 'minmax',
        percentile: 99.99,
        exclude: [],
        agreementImages: agreement,
        maxLoss: 1,
        minAgreement: 0.9,
        autoExclude: 0,
        json: false,
        dataDir: join(work, 'optimize-data'),
        progress: () => ({ tick() {}, stop() {} }),
      }),
    );
  } finally {
    await rm(models, { recursive: true, force: true });
  }
}

async function importTfliteBytes(bytes: Uint8Array, name: string): Promise<Outcome> {
  const file = join(work, `${name}.tflite`);
  await writeFile(file, bytes);
  return thrown(() => importTflite(file, { name, repository: join(work, 'imported') }));
}

/** One image with one cat, for the evaluation triggers. */
const TINY_COCO: CocoDataset = {
  images: [{ id: 1, width: 8, height: 8 }],
  categories: [{ id: 1, name: 'cat' }],
  annotations: [
    {
      id: 1,
      image_id: 1,
      category_id: 1,
      area: 16,
      bbox: [0, 0, 4, 4],
      segmentation: [[0, 0, 4, 0, 4, 4, 0, 4]],
    },
  ],
};

const TRIGGERS: Record<ErrorCode, () => Promise<Outcome>> = {
  IMAGE_EMPTY: () => answered(post('/v1/models/softmax/segment', new Uint8Array(0))),
  IMAGE_UNSUPPORTED_FORMAT: () => answered(post('/v1/models/softmax/segment', 'plain text, not an image')),
  IMAGE_CORRUPT: () =>
    answered(
      post(
        '/v1/models/softmax/segment',
        Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), noiseBytes(512)]),
      ),
    ),
  IMAGE_TOO_LARGE: () =>
    answered(
      post('/v1/models/softmax/segment', pngDeclaring(100_000, 100_000), { 'content-type': 'image/png' }),
    ),
  // Load failures are never thrown at a request: the model's status reports them.
  CONFIG_INVALID: () => modelStatusError('bad-config'),
  MODEL_NOT_FOUND: () => answered(post('/v1/models/nope/segment', scene)),
  MODEL_VERSION_NOT_FOUND: () => answered(post('/v1/models/softmax/versions/3/segment', scene)),
  MODEL_NOT_READY: () => answered(post('/v1/models/broken/segment', scene)),
  MODEL_LOAD_FAILED: () => modelStatusError('broken'),
  MODEL_OUTPUT_MISMATCH: () => answered(post('/v1/models/mismatch/segment', scene)),
  // A gate that is not a classifier: the gated model does not load, its status says why.
  GATE_INVALID: () => modelStatusError('gated-bad'),
  // The scene is mostly black: the red classifier gives "red" 0.14, below the gate's 0.6.
  GATE_REFUSED: () => answered(post('/v1/models/gated/segment', scene)),
  // A classifier has no mask PNG to give.
  ANSWER_FORMAT_UNSUPPORTED: () => answered(post('/v1/models/red-or-not/segment?format=mask', scene)),
  // A baseline made for another model, read as a model's drift monitor would at load.
  DRIFT_BASELINE_INVALID: async () => {
    const file = join(work, 'other-model-baseline.json');
    const target = { name: 'selfie', version: 1, task: 'binary', labels: ['background', 'person'] } as const;
    const input = { width: 64, height: 64 };
    const reference = { size: 20, numeric: {}, classMix: { categories: [], mass: [] } };
    await writeBaseline(file, makeBaseline({ ...target, name: 'other', input }, reference));
    return thrown(() => readBaseline(file, { ...target, input }));
  },
  TFLITE_INVALID: () => importTfliteBytes(Buffer.from('not a flatbuffer at all'), 'garbage'),
  TFLITE_UNSUPPORTED_OPERATOR: () =>
    importTfliteBytes(
      writeTflite(oneOp({ op: 'CUSTOM', custom: 'FlexErf', input: [1, 2], output: [1, 2] })),
      'custom-op',
    ),
  TFLITE_UNSUPPORTED_MODEL: () => {
    const spec = oneOp({ op: 'RELU', input: [1, 2], output: [1, 2] });
    spec.tensors[0].type = 'uint8';
    return importTfliteBytes(writeTflite(spec), 'quantised');
  },
  // The model asks for `execution_provider: cuda`; skipped where CUDA is installed (see cuda.ts).
  EXECUTION_PROVIDER_UNAVAILABLE: () => modelStatusError('cuda'),
  // ONNX Runtime fails in session.run (broadcasting width 3 against 2); /v2 feeds the tensor as given.
  ENCODE_FAILED: async () => {
    // The encoder worker ends mid-job: ending it from outside is what a crash looks like to the pool.
    const seg = await segment(repo.repository, 'softmax', scene, { keepImage: true });
    const posted = vi.spyOn(Worker.prototype, 'postMessage');
    const pool = new EncoderPool();
    try {
      const doomed = pool.encode(seg, { kind: 'overlay' });
      const worker = posted.mock.contexts[0] as Worker;
      posted.mockRestore();
      await worker.terminate();
      return await thrown(() => doomed);
    } finally {
      posted.mockRestore();
      await pool.close();
    }
  },
  INFERENCE_FAILED: () =>
    v2Answered('/v2/models/failing/infer', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        inputs: [{ name: 'image', shape: [1, 3, 1, 3], datatype: 'FP32', data: new Array(9).fill(0) }],
      }),
    }),
  INFERENCE_TIMEOUT: async () => {
    const impatient = await listen({ repository: repo.repository, limits: { inferenceTimeoutMs: 50 } });
    try {
      return await whileSlowBusy(impatient.base, () => answered(post(SLOW, scene, {}, impatient.base)));
    } finally {
      await impatient.app.close();
    }
  },
  // While the repository closes, its pools finish the work they hold and refuse new runs: a request admitted
  // during the close (the worker still runs the first one) reaches a closing pool.
  RUNTIME_CLOSED: async () => {
    const own = await tinyRepository({ slow: slowBinaryModel({ steps: 40, maxQueue: 1 }) });
    const app = await listen({ repository: own.repository });
    const stats = () => own.repository.resolve('slow').runtime.stats();
    try {
      const running = post(SLOW, scene, {}, app.base).then((r) => r.arrayBuffer());
      await until(() => stats().busy === 1, 'the slow model to start');
      const closed = own.repository.close();
      const outcome = await answered(post(SLOW, scene, {}, app.base));
      await running;
      await closed;
      return outcome;
    } finally {
      await app.app.close();
      await own.close();
    }
  },
  // The slow model admits one running and one queued request (instances 1 + max_queue 1).
  QUEUE_FULL: () =>
    whileSlowBusy(server.base, async () => {
      const queued = post(SLOW, scene).then((r) => r.arrayBuffer());
      await until(() => slowStats().queued === 1, 'a request to queue');
      const outcome = await answered(post(SLOW, scene));
      await queued;
      return outcome;
    }),
  // A budget of 300 pixels: the slow model's 16x16 image holds 256 of them while it runs.
  DECODE_BUDGET_FULL: async () => {
    const app = await buildApp({
      service: serviceFor(repo.repository, { decodedPixelBudget: 300 }),
      logger: false,
    });
    return withApp(app, (base) =>
      whileSlowBusy(base, () => answered(post('/v1/models/softmax/segment', scene, {}, base))),
    );
  },
  INVALID_ARGUMENT: () => answered(post('/v1/models/softmax/segment?mask_format=dense', scene)),
  ROUTE_NOT_FOUND: () => answered(fetch(`${server.base}/v1/nothing/here`)),
  PATH_TOO_LONG: () => answered(fetch(`${server.base}/v1/models/${'m'.repeat(5000)}`)),
  BODY_TOO_LARGE: () => answered(post('/v1/models/softmax/segment', noiseBytes(IMAGE_LIMIT + 1024))),
  UNSUPPORTED_MEDIA_TYPE: () => answered(post('/predict/url', scene, { 'content-type': 'image/png' })),
  INVALID_JSON: () =>
    answered(post('/v1/models/softmax/segment', '{"url": "http://', { 'content-type': 'application/json' })),
  MULTIPART_INVALID: () =>
    answered(post('/v1/models/softmax/segment', scene, { 'content-type': 'multipart/form-data' })),
  IMAGE_MISSING: () => answered(post('/predict/upload', filePart(scene, 'picture'))),
  INPUT_TOO_LARGE: () =>
    answered(post('/v1/models/softmax/segment', filePart(noiseBytes(IMAGE_LIMIT + 1024)))),
  BATCH_TOO_LARGE: () =>
    answered(postJson('/predict/batch?model=softmax', { paths: Array.from({ length: 17 }, () => 'a.png') })),
  // `plain` has no batch folder, so any `paths` are refused for the whole request.
  PATH_FORBIDDEN: () => answered(postJson('/predict/batch?model=softmax', { paths: ['a.png'] }, plain.base)),
  // Only ever an item of a batch: the batch itself answers 200 with a status per item.
  FILE_NOT_FOUND: async () => {
    const response = await postJson('/predict/batch?model=softmax', { paths: ['missing.png'] });
    expect(response.status).toBe(200);
    const body = (await response.json()) as { results: Array<{ error?: { code: string; message: string } }> };
    const error = body.results[0]?.error;
    if (!error) throw new Error(`no item error: ${JSON.stringify(body)}`);
    return { code: error.code, status: undefined, message: error.message };
  },
  // A regular file whose open does not return in time, as on a stalled network mount: the libuv threadpool
  // (which runs every file operation) is held by opens of FIFOs without writers, then released. Called
  // in-process because /predict/batch waits 10 s, the command line a minute.
  FILE_READ_TIMEOUT: async () => {
    const threads = Number(process.env.UV_THREADPOOL_SIZE) || 4;
    const fifos = Array.from({ length: threads }, (_, i) => join(work, `stall-${i}`));
    for (const fifo of fifos) execFileSync('mkfifo', [fifo]);
    const file = join(work, 'stalled.png');
    await writeFile(file, scene);
    // The reader's first call (stat) is queued before the blockers; its open, after them.
    const reading = thrown(() => readRegularFile(file, { timeoutMs: 200, label: 'stalled.png' }));
    const blockers = fifos.map((fifo) => open(fifo, 'r'));
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      for (const fifo of fifos) closeSync(openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK));
    };
    // Whatever happens, the threadpool is given back (a hung pool would stall every later file operation).
    const safety = setTimeout(release, 2_000);
    try {
      return await reading;
    } finally {
      release();
      clearTimeout(safety);
      for (const handle of await Promise.all(blockers)) await handle.close();
    }
  },
  // From the real command line: a path below a regular file can never be created, not even by root.
  OUTPUT_NOT_WRITABLE: async () => {
    const out = join(work, 'batch', 'a.png', 'out');
    const run = await runCli([
      'predict',
      join(work, 'batch', 'a.png'),
      '--models',
      repo.dir,
      '--model',
      'softmax',
      '--out',
      out,
    ]);
    expect(run.code).toBe(2);
    const match = /^error ([A-Z_]+): (.*)$/.exec(run.stderr.trim());
    if (!match) throw new Error(`not an error line: ${run.stderr}`);
    return { code: match[1], status: undefined, message: match[2] };
  },
  NO_DEFAULT_MODEL: async () => {
    const empty = await tinyRepository({});
    const app = await listen({ repository: empty.repository });
    try {
      return await answered(post('/predict/upload', filePart(scene), {}, app.base));
    } finally {
      await app.app.close();
      await empty.close();
    }
  },
  // A request that arrives once the close has begun, on a connection opened before it: the server no longer
  // accepts connections, and answers what still arrives on open ones with SERVER_CLOSING.
  SERVER_CLOSING: async () => {
    const closing = await listen({ repository: repo.repository });
    const socket = connect(Number(new URL(closing.base).port), '127.0.0.1');
    let received = '';
    socket.on('data', (chunk) => {
      received += chunk.toString('latin1');
    });
    const ended = new Promise<void>((resolve) => socket.on('close', () => resolve()));
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    const closed = closing.app.close();
    socket.write('GET /health HTTP/1.1\r\nHost: x\r\n\r\n');
    await ended;
    await closed;
    const status = Number(received.slice(9, 12));
    const { error } = JSON.parse(received.slice(received.indexOf('\r\n\r\n') + 4)) as {
      error: { code: string; message: string };
    };
    return { code: error.code, status, message: error.message };
  },
  // Never answered (the client is gone): the app logs it. A queued request whose client hangs up.
  REQUEST_ABORTED: () =>
    whileSlowBusy(server.base, async () => {
      const abandon = new AbortController();
      const gone = fetch(`${server.base}${SLOW}`, {
        method: 'POST',
        body: scene,
        headers: { 'x-request-id': 'abandoned' },
        signal: abandon.signal,
      }).catch(() => undefined);
      await until(() => slowStats().queued === 1, 'the request to queue');
      abandon.abort();
      await gone;
      const line = await loggedCode('abandoned');
      return { code: line.code, status: undefined, message: String(line.reason) };
    }),
  URL_INVALID: () => answered(postJson('/v1/models/softmax/segment', { url: 'file:///etc/passwd' })),
  URL_FORBIDDEN: () => answered(postJson('/v1/models/softmax/segment', { url: 'http://10.0.0.1/x.png' })),
  URL_FETCH_FAILED: () =>
    answered(postJson('/v1/models/softmax/segment', { url: `${origin.base}/missing.png` })),
  URL_TIMEOUT: () => answered(postJson('/v1/models/softmax/segment', { url: `${origin.base}/never` })),
  // Storage: called in-process, as the features that store call it. The blob store is the default one, on the
  // filesystem; the database is the machine's PostgreSQL server (.ci/run starts it), in a database made for the
  // trigger, since the embedded engine would cost this suite seconds and hundreds of MB to start.
  STORAGE_UNAVAILABLE: () =>
    thrown(() => openDatabase({ kind: 'postgres', url: 'postgres://segserve@127.0.0.1:1/segserve' })),
  // A data folder below a regular file can never be created, not even by root.
  STORAGE_FAILED: () => thrown(() => FsBlobStore.open(join(work, 'batch', 'a.png', 'blobs'))),
  BLOB_NOT_FOUND: () =>
    thrown(async () => (await FsBlobStore.open(join(work, 'blobs'))).get('sha256/00/missing.png')),
  LABEL_INVALID: () =>
    thrown(async () =>
      parseLabelDocument({
        format: 'segserve-label',
        format_version: 1,
        task: 'binary',
        width: 2,
        height: 2,
        labels: ['background', 'person'],
        segments: [{ class_id: 1, rle: { size: [2, 2], counts: '1' } }],
      }),
    ),
  DATASET_MISMATCH: () =>
    inFreshDatabase((url) =>
      thrown(async () => {
        const db = await openDatabase({ kind: 'postgres', url });
        try {
          await ensureDataset(db, { name: 'people', task: 'binary', labels: ['background', 'person'] });
          await ensureDataset(db, { name: 'people', task: 'binary', labels: ['background', 'cat'] });
        } finally {
          await db.close();
        }
      }),
    ),
  DATASET_NOT_FOUND: () => withDatasetApp((base) => answered(fetch(`${base}/v1/datasets/nobody`))),
  DATASET_VERSION_NOT_FOUND: () =>
    withDatasetApp((base) => answered(fetch(`${base}/v1/datasets/people/versions/latest`))),
  DATASET_EMPTY: () =>
    withDatasetApp((base) => answered(fetch(`${base}/v1/datasets/people/versions`, { method: 'POST' }))),
  // Imports run from the command line; called in-process here (a folder without manifest.csv or labels.txt).
  DATASET_IMPORT_INVALID: () =>
    inFreshDatabase((url) =>
      thrown(async () => {
        const db = await openDatabase({ kind: 'postgres', url });
        const blobs = await FsBlobStore.open(join(work, 'dataset-blobs'));
        try {
          await importMaskFolder(db, blobs, { dataset: 'people', folder: join(work, 'batch') });
        } finally {
          await blobs.close();
          await db.close();
        }
      }),
    ),
  // Evaluation is called in-process: `segserve eval` and the admin API hand these calls the files they read.
  EVAL_INPUT_INVALID: () => thrown(async () => parseCocoResults({ annotations: [] }, 'results.json')),
  EVAL_CATEGORY_UNKNOWN: () =>
    thrown(() =>
      evaluateCoco(TINY_COCO, [{ image_id: 1, category_name: 'horse', bbox: [0, 0, 4, 4], score: 1 }]),
    ),
  EVAL_IMAGE_UNKNOWN: () =>
    thrown(() => evaluateCoco(TINY_COCO, [{ image_id: 9, category_id: 1, bbox: [0, 0, 4, 4], score: 1 }])),
  EVAL_DATASET_EMPTY: () => thrown(() => evaluateCoco({ ...TINY_COCO, annotations: [] }, [])),
  // Evaluations of the softmax model (labels background, red, green, blue) on small datasets written here.
  EVAL_CLASSES_MISMATCH: () =>
    evaluateOn('eval-people', (folder) =>
      writeMaskFolder(
        folder,
        [{ image: 'images/a.png', mask: 'masks/a.png', values: sceneClassMap() }],
        ['background', 'person'],
      ),
    ),
  EVAL_TASK_MISMATCH: () => evaluateOn('eval-coco', (folder) => writeCocoFolder(folder)),
  SAMPLE_NOT_FOUND: () =>
    withAnnotationItem((base) => answered(fetch(`${base}/v1/annotations/${'0'.repeat(64)}`))),
  SAMPLE_CLAIMED: () =>
    withAnnotationItem(async (base, id) => {
      expect((await claimAs(base, id, 'ada')).status).toBe(200);
      return answered(claimAs(base, id, 'bob'));
    }),
  SAMPLE_NOT_CLAIMED: () =>
    withAnnotationItem((base, id) =>
      answered(postJson(`/v1/annotations/${id}/label`, { annotator: 'ada', format: 'accept' }, base)),
    ),
  SAMPLE_NOT_QUEUED: () =>
    withAnnotationItem(async (base, id) => {
      expect((await claimAs(base, id, 'ada')).status).toBe(200);
      expect((await claimAs(base, id, 'ada', 'reject')).status).toBe(200);
      return answered(claimAs(base, id, 'ada'));
    }),
  LABEL_NOT_FOUND: () =>
    withAnnotationItem((base, id) => answered(fetch(`${base}/v1/annotations/${id}/label`))),
  // The model lifecycle: an app with admin keys over a fresh database (test/helpers/lifecycle.ts).
  ALIAS_NOT_FOUND: () => answered(post('/v1/models/softmax/segment?version=stable', scene)),
  // API keys: an app whose inference routes take one key limited to 1 a minute, and one revoked key.
  API_KEY_MISSING: () =>
    withKeyedApp((base) => answered(post('/v1/models/softmax/segment', scene, {}, base))),
  API_KEY_INVALID: () =>
    withKeyedApp((base) =>
      answered(post('/v1/models/softmax/segment', scene, { 'x-api-key': 'wrong-key-0123456789abc' }, base)),
    ),
  API_KEY_REVOKED: () =>
    withKeyedApp((base) =>
      answered(post('/v1/models/softmax/segment', scene, { 'x-api-key': 'revoked-key-0123456789' }, base)),
    ),
  RATE_LIMITED: () =>
    withKeyedApp(async (base) => {
      const key = { 'x-api-key': 'limited-key-0123456789' };
      expect((await post('/v1/models/softmax/segment', scene, key, base)).status).toBe(200);
      return answered(post('/v1/models/softmax/segment', scene, key, base));
    }),
  ADMIN_API_DISABLED: () =>
    withLifecycleApp({ adminKeys: null }, (base) =>
      answered(post('/v1/admin/models/softmax/rollback', '{}', { 'content-type': 'application/json' }, base)),
    ),
  ADMIN_KEY_MISSING: () =>
    withLifecycleApp({}, (base) =>
      answered(post('/v1/admin/models/softmax/rollback', '{}', { 'content-type': 'application/json' }, base)),
    ),
  ADMIN_KEY_INVALID: () =>
    withLifecycleApp({}, (base) =>
      answered(post('/v1/admin/models/softmax/rollback', '{}', adminHeaders('a-wrong-key-0123456789'), base)),
    ),
  ROLLBACK_UNAVAILABLE: () =>
    withLifecycleApp({}, (base) =>
      answered(post('/v1/admin/models/softmax/rollback', '{}', adminHeaders(), base)),
    ),
  // Uploads: a file that is not ONNX; a version number the model has.
  UPLOAD_REFUSED: () =>
    withLifecycleApp({}, (base) =>
      answered(uploadVersion(base, { model: new TextEncoder().encode('not onnx') })),
    ),
  MODEL_VERSION_EXISTS: () =>
    withLifecycleApp({}, (base) => answered(uploadVersion(base, { model: new Uint8Array(8), version: '1' }))),
  // `models optimize --int8` (runOptimize, in process): the softmax model's config over a graph of one Sigmoid
  // leaves nothing to quantise; a calibration folder without images; calibrated on black only, the int8 model's
  // red logit is clipped to the background's, so its masks no longer agree with the float32 ones.
  QUANTIZE_UNSUPPORTED: () => {
    const { width, height, config } = tinySoftmaxModel();
    const bytes = buildModel({
      inputs: [{ name: 'image', dims: [1, 3, height, width] }],
      outputs: [{ name: 'scores', dims: [1, 3, height, width] }],
      nodes: [{ op: 'Sigmoid', inputs: ['image'], outputs: ['scores'] }],
    });
    return optimizeTiny({ 'scene.png': scene }, { bytes, config });
  },
  CALIBRATION_EMPTY: () => optimizeTiny({ 'notes.txt': new TextEncoder().encode('no image') }),
  INT8_GUARD_REFUSED: async () =>
    optimizeTiny({ 'black.png': await png({ width: 8, height: 8, channels: 3, data: new Uint8Array(192) }) }),
  // Version 2 evaluates worse than version 1 by more than the tolerance.
  PROMOTION_REFUSED: () =>
    withLifecycleApp({}, async (base) => {
      const promote = (version: number) =>
        fetch(`${base}/v1/admin/models/softmax/aliases/stable`, {
          method: 'PUT',
          headers: adminHeaders(),
          body: JSON.stringify({ version }),
        });
      expect((await promote(1)).status).toBe(200);
      return answered(promote(2));
    }),
  // Traffic policies: weights that add up to 90; removing the policy of a name that has none.
  TRAFFIC_POLICY_INVALID: () =>
    withLifecycleApp({}, (base) =>
      answered(
        fetch(`${base}/v1/admin/endpoints/people/traffic`, {
          method: 'PUT',
          headers: adminHeaders(),
          body: JSON.stringify({
            variants: [
              { name: 'a', model: 'softmax', version: 1, weight: 50 },
              { name: 'b', model: 'softmax', version: 2, weight: 40 },
            ],
          }),
        }),
      ),
    ),
  ENDPOINT_NOT_FOUND: () =>
    withLifecycleApp({}, (base) =>
      answered(
        fetch(`${base}/v1/admin/endpoints/people/traffic`, {
          method: 'DELETE',
          headers: { authorization: adminHeaders().authorization },
        }),
      ),
    ),
  // Batch jobs (src/jobs): every reason known at submit time is refused then.
  JOB_INVALID: () =>
    withJobsServer((base) => answered(submitJob(base, { model: 'softmax', output: 'out/' }))),
  JOB_TOO_LARGE: () =>
    withJobsServer((base) =>
      answered(
        submitJob(base, {
          model: 'softmax',
          inputs: [{ key: 'a.png' }, { key: 'b.png' }, { key: 'c.png' }],
          output: 'out/',
        }),
      ),
    ),
  JOB_NOT_FOUND: () => withJobsServer((base) => answered(fetch(`${base}/v1/jobs/no-such-job`))),
  JOB_OUTPUT_UNREACHABLE: () =>
    withJobsServer((base) =>
      answered(submitJob(base, { model: 'softmax', inputs: [{ key: 'in/scene.png' }], output: 'blocked/' })),
    ),
  // The reference trainer's output: a model whose onnxruntime output is not what the trainer says PyTorch gave.
  TRAINING_FAILED: () =>
    thrown(async () => {
      const out = await mkdtemp(join(work, 'parity-'));
      const model = tinySoftmaxModel();
      await writeFile(join(out, 'model.onnx'), model.bytes);
      await writeFile(join(out, 'config.yaml'), stringifyYaml(model.config));
      const size = model.width * model.height;
      await writeFile(
        join(out, 'parity.json'),
        JSON.stringify({
          input: {
            name: 'image',
            dims: [1, 3, model.height, model.width],
            pixels: {
              width: model.width,
              height: model.height,
              channels: 3,
              base64: Buffer.alloc(size * 3).toString('base64'),
            },
            samples: { index: [], value: [] },
          },
          output: {
            name: 'scores',
            dims: [1, 4, model.height, model.width],
            samples: { index: [0], value: [123] },
          },
          tolerance: { absolute: 1e-4 },
        }),
      );
      await checkParity(out, 'unet');
    }),
  TRAINING_RUN_NOT_FOUND: () =>
    withJobsServer((base) => answered(fetch(`${base}/v1/training-runs/no-such-run`))),
  JOB_FINISHED: () =>
    withJobsServer(async (base) => {
      const { id } = (await (
        await submitJob(base, { model: 'softmax', inputs: [{ key: 'in/scene.png' }], output: 'out/' })
      ).json()) as { id: string };
      for (let i = 0; i < 600; i++) {
        const { state } = (await (await fetch(`${base}/v1/jobs/${id}`)).json()) as { state: string };
        if (state === 'completed') break;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      return answered(postJson(`/v1/jobs/${id}/cancel`, {}, base));
    }),
  // Storage events (src/jobs/events): S3 Records that are not an array; a sender with the wrong token.
  EVENT_INVALID: () =>
    thrown(async () =>
      parseStorageEvents({
        contentType: 'application/json',
        headers: {},
        body: Buffer.from('{"Records": {}}'),
      }),
    ),
  EVENT_UNAUTHORIZED: () =>
    thrown(async () =>
      verifyEventSender({ headers: { authorization: 'Bearer a-wrong-token' }, query: {} }, 'the-event-token'),
    ),
  BLOB_KEY_INVALID: () =>
    thrown(async () => (await FsBlobStore.open(join(work, 'blobs'))).put('../escape', new Uint8Array(1))),
  DATABASE_QUERY_FAILED: () =>
    inFreshDatabase((url) =>
      thrown(async () => {
        const db = await openDatabase({ kind: 'postgres', url });
        try {
          await db.query('SELECT * FROM no_such_table');
        } finally {
          await db.close();
        }
      }),
    ),
  DATABASE_MIGRATION_FAILED: () =>
    inFreshDatabase((url) =>
      thrown(() =>
        openDatabase({ kind: 'postgres', url }, [
          { version: 1, name: 'broken', sql: 'CREATE TABLE broken (id int); SELEC 1' },
        ]),
      ),
    ),
  // Shadow traffic keeps a few comparisons in memory: an id it does not hold (never made, or replaced since).
  SHADOW_COMPARISON_NOT_FOUND: async () => {
    const service = serviceFor(repo.repository);
    const shadows = new ShadowTraffic(service);
    try {
      const app = await buildApp({ service, shadows, logger: false });
      return await withApp(app, (base) =>
        answered(fetch(`${base}/v1/endpoints/photos/shadows/comparisons/${'0'.repeat(36)}/served`)),
      );
    } finally {
      await shadows.close();
    }
  },
  // Needs a bug: a route of the real app that throws something unforeseen stands in for one.
  INTERNAL_ERROR: async () => {
    const app = await buildApp({ service: serviceFor(repo.repository), logger: false });
    app.get('/test/bug', async () => {
      throw new TypeError('a bug');
    });
    return withApp(app, (base) => answered(fetch(`${base}/test/bug`)));
  },
  // A model an administrator unloaded: still in the repository, not served.
  MODEL_UNLOADED: async () => {
    const own = await tinyRepository({ softmax: tinySoftmaxModel() });
    const app = await listen({ repository: own.repository });
    try {
      await own.repository.unload('softmax');
      return await answered(post('/v1/models/softmax/segment', scene, {}, app.base));
    } finally {
      await app.app.close();
      await own.close();
    }
  },
  // The model repository extension's load with a config in the request, which segserve does not apply.
  REPOSITORY_PARAMETER_UNSUPPORTED: () =>
    v2Answered('/v2/repository/models/softmax/load', {
      method: 'POST',
      headers: adminHeaders(),
      body: JSON.stringify({ parameters: { config: '{"max_batch_size": 8}' } }),
    }),
  // An admin load of a model whose only version is not an ONNX file.
  REPOSITORY_LOAD_FAILED: () =>
    answered(post('/v1/admin/models/broken/load', '', { authorization: adminHeaders().authorization })),
  // A sync pass whose repository folder cannot be created (below a regular file); the pass reports, never throws.
  MODEL_SYNC_FAILED: async () => {
    const bucket = await FsBlobStore.open(join(work, 'sync-bucket'));
    await bucket.put('m/config.yaml', new TextEncoder().encode('task: semantic\n'));
    const sync = new RepositorySync({
      store: bucket,
      dir: join(work, 'batch', 'a.png', 'models'),
      source: 'test',
    });
    const report = await sync.syncOnce();
    await sync.close();
    if (!report.error) throw new Error('the sync pass did not fail');
    return { code: report.error.code, status: undefined, message: report.error.message };
  },
  V2_BAD_REQUEST: () =>
    v2Answered('/v2/models/softmax/infer', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ inputs: [{ name: 'nope', shape: [1], datatype: 'FP32', data: [1] }] }),
    }),
  CONTENT_ENCODING_UNSUPPORTED: () =>
    v2Answered('/v2/models/softmax/infer', {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'content-encoding': 'br' },
      body: '{}',
    }),
};

/** The catalogue message template as a pattern: each `{field}` stands for some non-empty text. */
function templatePattern(template: string): RegExp {
  const parts = template.split(/\{\w+\}/).map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
  return new RegExp(`^${parts.join('[\\s\\S]+')}$`);
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'segserve-catalogue-'));
  const softmax = tinySoftmaxModel();
  const softmaxConfig = softmax.config as Record<string, unknown>;
  scene = new Uint8Array(await png(semanticScene()));
  repo = await tinyRepository({
    softmax,
    slow: slowBinaryModel({ steps: 40, maxQueue: 1 }),
    broken: { bytes: new TextEncoder().encode('not an onnx model'), config: softmaxConfig },
    mismatch: {
      bytes: softmax.bytes,
      config: { ...softmaxConfig, output: { names: { nonsense: 'scores' } } },
    },
    cuda: { bytes: softmax.bytes, config: { ...softmaxConfig, execution_provider: 'cuda' } },
    'bad-config': { bytes: softmax.bytes, config: { ...softmaxConfig, task: 'astrology' } },
    'red-or-not': tinyRedClassifier(),
    gated: {
      bytes: softmax.bytes,
      config: {
        ...softmaxConfig,
        pipeline: { gate: { model: 'red-or-not', accept: ['red'], min_score: 0.6 } },
      },
    },
    'gated-bad': {
      bytes: softmax.bytes,
      config: { ...softmaxConfig, pipeline: { gate: { model: 'softmax', accept: ['red'] } } },
    },
    failing: {
      bytes: failsAtWidthModel(),
      config: {
        task: 'semantic',
        decoder: 'softmax',
        input: { name: 'image', width: 2, height: 1 },
        labels: ['a', 'b', 'c'],
      },
    },
  });
  await mkdir(join(work, 'batch'));
  await writeFile(join(work, 'batch', 'a.png'), scene);
  origin = await startOrigin({ '/never': () => undefined });
  server = await listen({
    repository: repo.repository,
    batchRoot: join(work, 'batch'),
    limits: { imageBodyBytes: IMAGE_LIMIT },
    urlFetch: { allow: ['127.0.0.1'], totalTimeoutMs: 200 },
    logger: { stream: logStream() },
    adminKeys: AdminKeys.fromEntries([{ text: ADMIN_KEY, where: 'test' }]),
  });
  plain = await listen({ repository: repo.repository });
});

afterAll(async () => {
  await server?.app.close();
  await plain?.app.close();
  await origin?.close();
  await repo?.close();
  if (work) await rm(work, { recursive: true, force: true });
});

/**
 * Defects the suite found in the product, each a message that does not fill its template; the message test of
 * such a code is expected to fail until the product is fixed (then vitest reports it and the entry goes).
 */

describe('the error catalogue', () => {
  const outcomes = new Map<ErrorCode, Outcome>();

  it('has a trigger for every code and no trigger for a code it lacks', () => {
    expect(Object.keys(TRIGGERS).sort()).toEqual(Object.keys(ERROR_CATALOGUE).sort());
  });

  for (const code of Object.keys(ERROR_CATALOGUE) as ErrorCode[]) {
    const skip = code === 'EXECUTION_PROVIDER_UNAVAILABLE' && cudaInstalled;
    it.skipIf(skip)(
      `${code}: raised by the product with its code and status`,
      { timeout: 20_000 },
      async () => {
        const trigger = TRIGGERS[code];
        expect(trigger, `no trigger for ${code}`).toBeTypeOf('function');
        const outcome = await trigger();
        outcomes.set(code, outcome);
        expect(outcome.code).toBe(code);
        if (NO_STATUS_ON_SURFACE.has(code)) expect(outcome.status).toBeUndefined();
        else expect(outcome.status).toBe(ERROR_CATALOGUE[code].status);
      },
    );
    const messageTest = skip ? it.skip : it;
    messageTest(`${code}: its message fills the catalogue template`, () => {
      const outcome = outcomes.get(code);
      expect(outcome, 'the trigger ran').toBeDefined();
      expect(outcome?.message).toMatch(templatePattern(ERROR_CATALOGUE[code].message));
      expect(outcome?.message).not.toMatch(/""|\{\w+\}/);
    });
  }
});

describe('the README "Error codes" table', () => {
  it('is the catalogue, as npm run docs:errors writes it', async () => {
    const readme = await readFile(join(PROJECT_ROOT, 'README.md'), 'utf8');
    expect(readme).toContain(renderErrorsTable());
    for (const code of Object.keys(ERROR_CATALOGUE)) expect(readme).toContain(`| \`${code}\` |`);
    expect(withErrorsTable(readme), 'README error codes table is stale: run npm run docs:errors').toBe(
      readme,
    );
  });
});
