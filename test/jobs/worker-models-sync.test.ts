/**
 * `segserve worker --models-sync`: a worker with no model folder of its own (what a Kubernetes worker without a
 * volume shared with the API has) mirrors the API's bucket prefix, from a real S3-protocol server (s3rver), and
 * runs a job's input with the model it found there; a version put in the bucket later is applied by its watch
 * and runs the next job. The API (in this process, its own copy of the model) only queues; the machine's Redis
 * and PostgreSQL connect the two, as in a deployment.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { type RunningServer, startServer } from '../../src/host/server.js';
import type { JobView } from '../../src/jobs/wire-types.js';
import { resolveStorageSettings } from '../../src/storage/index.js';
import { S3BlobStore } from '../../src/storage/s3-blob-store.js';
import { type FreshDatabase, freshDatabase, postgresProblem } from '../helpers/postgres.js';
import { deletePrefix, freshPrefix, redisProblem, TEST_REDIS_URL } from '../helpers/redis.js';
import { S3RVER_CREDENTIALS, S3rverProcess } from '../helpers/s3-server.js';
import { type SegserveProcess, startSegserve } from '../helpers/segserve-process.js';
import { tinySoftmaxModel } from '../helpers/tiny-models.js';
import { writeRepository } from '../http/helpers.js';
import { distinctScene } from '../learning/capture-helpers.js';

const BUCKET = 'segserve-worker-sync';

const problems = await Promise.all([postgresProblem(), redisProblem()]);
const skip = problems.find((problem) => problem !== undefined);
if (skip) console.warn(`SKIPPED worker --models-sync test: ${skip}`);

describe.skipIf(skip !== undefined)('segserve worker --models-sync', () => {
  let dir: string;
  let apiModels: string;
  let s3: S3rverProcess;
  let bucket: S3BlobStore;
  let database: FreshDatabase;
  let api: RunningServer;
  let worker: SegserveProcess;
  const prefix = freshPrefix();
  const model = tinySoftmaxModel();
  const credentials = {
    AWS_ACCESS_KEY_ID: S3RVER_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: S3RVER_CREDENTIALS.secretAccessKey,
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
  };
  const saved = Object.fromEntries(Object.keys(credentials).map((name) => [name, process.env[name]]));

  /** One version of the model under the bucket's models/ prefix, as a release would upload it. */
  async function putVersion(version: number): Promise<void> {
    const config = { ...(model.config as Record<string, unknown>) };
    delete config.name;
    await bucket.put('models/softmax/config.yaml', new TextEncoder().encode(stringify(config)));
    await bucket.put(`models/softmax/${version}/model.onnx`, model.bytes);
  }

  beforeAll(async () => {
    // The API in this process reads the same bucket as the worker, with the SDK's credentials from the environment.
    Object.assign(process.env, credentials);
    dir = await mkdtemp(join(tmpdir(), 'segserve-worker-sync-'));
    s3 = new S3rverProcess(join(dir, 's3'), BUCKET);
    await s3.start();
    bucket = new S3BlobStore({
      bucket: BUCKET,
      prefix: '',
      endpoint: s3.endpoint,
      region: 'us-east-1',
      credentials: S3RVER_CREDENTIALS,
    });
    await putVersion(1);
    for (const name of ['a', 'b']) await bucket.put(`data/in/${name}.png`, await distinctScene(name.length));
    database = await freshDatabase();
    apiModels = await writeRepository({ softmax: model });
    api = await startServer({
      modelsDir: apiModels,
      port: 0,
      host: '127.0.0.1',
      logger: false,
      predictionLog: 'off',
      storage: resolveStorageSettings(
        {
          dataDir: join(dir, 'api'),
          databaseUrl: database.url,
          blobUrl: `s3://${BUCKET}/data`,
          s3Endpoint: s3.endpoint,
        },
        {},
      ),
      jobs: { queue: { kind: 'redis', url: TEST_REDIS_URL, prefix }, concurrency: 0 },
    });
  }, 120_000);

  afterAll(async () => {
    await worker?.kill();
    await api?.close();
    await bucket?.close();
    await s3?.stop();
    await database?.drop();
    await deletePrefix(TEST_REDIS_URL, prefix);
    for (const [name, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
    if (apiModels) await rm(apiModels, { recursive: true, force: true });
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  /** Submits a job of the two inputs and resolves with the versions that ran them, once it completed. */
  async function runJob(output: string): Promise<number[]> {
    const submitted = await fetch(`${api.url}/v1/jobs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'softmax', prefix: 'in/', output, formats: ['json'] }),
    });
    expect(submitted.status).toBe(201);
    const { id } = (await submitted.json()) as JobView;
    const deadline = Date.now() + 60_000;
    let job: JobView;
    do {
      await new Promise((resolve) => setTimeout(resolve, 100));
      job = (await (await fetch(`${api.url}/v1/jobs/${id}`)).json()) as JobView;
      if (Date.now() > deadline) throw new Error(`job ${id}: ${JSON.stringify(job)}\n${worker.output()}`);
    } while (job.state === 'running');
    expect(job.state, worker.output()).toBe('completed');
    expect(job.progress).toMatchObject({ total: 2, done: 2, failed: 0 });
    const { inputs } = (await (await fetch(`${api.url}/v1/jobs/${id}/inputs`)).json()) as {
      inputs: Array<{ served_by?: { version: number } }>;
    };
    return inputs.map((input) => input.served_by?.version ?? 0);
  }

  it('loads the model put in the bucket, runs a job with it, then follows a new version', {
    timeout: 180_000,
  }, async () => {
    // A folder that does not exist yet: everything the worker serves comes from the bucket.
    const workerModels = join(dir, 'worker-models');
    worker = await startSegserve({
      command: 'worker',
      models: workerModels,
      args: [
        '--models-sync',
        `s3://${BUCKET}/models`,
        '--concurrency',
        '1',
        '--data-dir',
        join(dir, 'worker'),
      ],
      env: {
        ...credentials,
        SEGSERVE_REDIS_URL: TEST_REDIS_URL,
        SEGSERVE_REDIS_PREFIX: prefix,
        SEGSERVE_DATABASE_URL: database.url,
        SEGSERVE_BLOB_URL: `s3://${BUCKET}/data`,
        // Also the sync's endpoint: --models-sync-endpoint defaults to the blob store's.
        SEGSERVE_S3_ENDPOINT: s3.endpoint,
        // The shortest passes and looks the settings accept, so the new version arrives within seconds.
        SEGSERVE_MODELS_SYNC_INTERVAL: '1000',
        SEGSERVE_WATCH_INTERVAL: '200',
      },
    });
    expect(existsSync(join(workerModels, 'softmax', '1', 'model.onnx'))).toBe(true);
    expect(await runJob('out/first/')).toEqual([1, 1]);

    await putVersion(2);
    const deadline = Date.now() + 60_000;
    // The watch's line once it has loaded it (the start-up log writes every line, whatever --log-level says).
    while (!/"msg":"watch-applied".*"model":"softmax","version":2,"change":"loaded"/.test(worker.output())) {
      if (Date.now() > deadline) throw new Error(`version 2 was not applied:\n${worker.output()}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(await runJob('out/second/')).toEqual([2, 2]);
  });
});
