/**
 * `POST /v1/events` on a running server whose blob store is a real S3-protocol server (s3rver): S3/MinIO bucket
 * notifications, Pub/Sub push and CloudEvents for objects under the configured prefix become jobs whose outputs
 * land under the configured output prefix; a redelivered event answers the same job; objects outside the prefix
 * and deletions are ignored and said so; a bad payload is 400; the sender's token is required when configured
 * and never logged.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningServer, startServer } from '../../src/host/server.js';
import type { EventAnswer } from '../../src/jobs/event-jobs.js';
import type { JobView } from '../../src/jobs/wire-types.js';
import { resolveStorageSettings } from '../../src/storage/index.js';
import { S3RVER_CREDENTIALS, S3rverProcess } from '../helpers/s3-server.js';
import { tinySoftmaxModel } from '../helpers/tiny-models.js';
import { errorOf, writeRepository } from '../http/helpers.js';
import { distinctScene } from '../learning/capture-helpers.js';
import { gcsAttributes, gcsCloudEvent, pubsubPush, s3Record, storageObject } from './event-payloads.js';

const BUCKET = 'segserve-events';
const TOKEN = 'an-events-token-for-the-test';

let dir: string;
let modelsDir: string;
let s3: S3rverProcess;
let server: RunningServer;
const logLines: string[] = [];
const savedEnv = { ...process.env };

async function postEvent(body: unknown, query = `?token=${TOKEN}`, headers: Record<string, string> = {}) {
  return fetch(`${server.url}/v1/events${query}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

async function finished(id: string): Promise<JobView> {
  for (let i = 0; i < 600; i++) {
    const job = (await (await fetch(`${server.url}/v1/jobs/${id}`)).json()) as JobView;
    if (job.state !== 'running') return job;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`job ${id} did not finish`);
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'segserve-events-'));
  s3 = new S3rverProcess(join(dir, 's3'), BUCKET);
  await s3.start();
  process.env.AWS_ACCESS_KEY_ID = S3RVER_CREDENTIALS.accessKeyId;
  process.env.AWS_SECRET_ACCESS_KEY = S3RVER_CREDENTIALS.secretAccessKey;
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
  modelsDir = await writeRepository({ softmax: tinySoftmaxModel() });
  server = await startServer({
    modelsDir,
    port: 0,
    host: '127.0.0.1',
    logger: {
      level: 'info',
      stream: new Writable({
        write(chunk: Buffer, _encoding, done) {
          logLines.push(chunk.toString());
          done();
        },
      }),
    },
    predictionLog: 'off',
    storage: resolveStorageSettings(
      { dataDir: join(dir, 'data'), blobUrl: `s3://${BUCKET}`, s3Endpoint: s3.endpoint },
      {},
    ),
    events: {
      rule: {
        target: { model: 'softmax' },
        prefix: 'incoming/',
        output: 'results/',
        formats: ['json', 'png'],
      },
      token: TOKEN,
    },
  });
  const blobs = await server.storage.blobs();
  for (const [i, key] of [
    'incoming/a.png',
    'incoming/cams/b.png',
    'incoming/c d.png',
    'elsewhere/x.png',
  ].entries()) {
    await blobs.put(key, await distinctScene(i));
  }
}, 60_000);

afterAll(async () => {
  await server?.close();
  await s3?.stop();
  process.env = savedEnv;
  if (modelsDir) await rm(modelsDir, { recursive: true, force: true });
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('storage events into jobs', () => {
  it('turns an S3 notification into a job whose outputs land under the output prefix, once', async () => {
    const notification = {
      Records: [
        s3Record('ObjectCreated:Put', { key: 'incoming/a.png', size: 100, sequencer: '0A1' }, BUCKET),
        s3Record('ObjectCreated:Put', { key: 'elsewhere/x.png', size: 100, sequencer: '0A2' }, BUCKET),
        s3Record('ObjectRemoved:Delete', { key: 'incoming/old.png', sequencer: '0A3' }, BUCKET),
      ],
    };
    const answer = await postEvent(notification);
    expect(answer.status).toBe(202);
    const body = (await answer.json()) as EventAnswer;
    expect(body.format).toBe('s3');
    expect(body.jobs).toEqual([expect.objectContaining({ key: 'incoming/a.png', created: true })]);
    expect(body.ignored.map((ignored) => ignored.reason)).toEqual([
      'the object was removed',
      'outside the configured prefix incoming/',
    ]);
    const job = await finished(body.jobs[0].job);
    expect(job).toMatchObject({ state: 'completed', source: 'event', output: 'results/' });
    expect(job.manifest_key).toBe(`results/_jobs/${job.id}/manifest.json`);
    const blobs = await server.storage.blobs();
    expect(await blobs.exists('results/a.json')).toBe(true);
    expect(await blobs.exists('results/a.png')).toBe(true);

    // The same notification again (S3 delivers at least once): the same job, nothing new.
    const again = (await (await postEvent(notification)).json()) as EventAnswer;
    expect(again.jobs).toEqual([{ ...body.jobs[0], created: false }]);
  });

  it('takes Pub/Sub push with the Cloud Storage payload and CloudEvents, names relative to the prefix', async () => {
    const push = pubsubPush(
      gcsAttributes('OBJECT_FINALIZE', BUCKET, 'incoming/cams/b.png'),
      Buffer.from(JSON.stringify(storageObject(BUCKET, 'incoming/cams/b.png'))).toString('base64'),
      '9000000001',
    );
    const pushed = (await (await postEvent(push)).json()) as EventAnswer;
    expect(pushed.format).toBe('pubsub');
    const cloudEvent = gcsCloudEvent(
      'google.cloud.storage.object.v1.finalized',
      BUCKET,
      'incoming/c d.png',
      'ce-1',
    );
    const structured = await postEvent(cloudEvent, `?token=${TOKEN}`, {
      'content-type': 'application/cloudevents+json',
    });
    const sent = (await structured.json()) as EventAnswer;
    expect(sent.format).toBe('cloudevents');
    for (const made of [...pushed.jobs, ...sent.jobs])
      expect((await finished(made.job)).state).toBe('completed');
    const blobs = await server.storage.blobs();
    expect(await blobs.exists('results/cams/b.json')).toBe(true);
    expect(await blobs.exists('results/c d.json')).toBe(true);
  });

  it('refuses a sender without the token, and a payload it cannot read, with a clear 4xx', async () => {
    const missing = await postEvent({ Records: [] }, '');
    expect(missing.status).toBe(401);
    expect((await errorOf(missing)).code).toBe('EVENT_UNAUTHORIZED');
    const wrong = await postEvent({ Records: [] }, '?token=not-it');
    expect(wrong.status).toBe(401);
    const bearer = await postEvent({ Records: [] }, '', { authorization: `Bearer ${TOKEN}` });
    expect(bearer.status).toBe(202);
    for (const bad of ['{"Records": {}}', 'not json', '{"unknown": "shape"}']) {
      const answer = await postEvent(bad);
      expect(answer.status).toBe(400);
      expect((await errorOf(answer)).code).toBe('EVENT_INVALID');
    }
    // The token of `?token=` never reaches the log.
    expect(logLines.join('').includes(TOKEN)).toBe(false);
    expect(logLines.join('')).toContain('token=[redacted]');
  });
});
