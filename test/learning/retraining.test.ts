/**
 * Retraining triggers against the machine's PostgreSQL: enough new labels fire once (cooldown, two "replicas"
 * checking at once), drift fires when asked to, the webhook is retried with backoff and carries the token, a
 * command gets the trigger in its environment, and a snapshot that fails is recorded as the reason.
 */

import { readFile } from 'node:fs/promises';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import { join } from 'node:path';
import { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SegserveError } from '../../src/errors.js';
import { ensureDataset, upsertDatasetItem } from '../../src/learning/dataset-items.js';
import { runHook } from '../../src/learning/retraining/hooks.js';
import { RetrainingTriggers, type Snapshot } from '../../src/learning/retraining/triggers.js';
import type { InferenceService } from '../../src/serving/service.js';
import type { Database } from '../../src/storage/index.js';
import { openDatabase } from '../../src/storage/index.js';
import { type FreshDatabase, freshDatabase, postgresProblem } from '../helpers/postgres.js';
import { redisProblem } from '../helpers/redis.js';
import { serviceFor } from '../helpers/serving.js';
import { tinySigmoidModel } from '../helpers/tiny-models.js';
import { type TinyRepository, tinyRepository } from '../http/helpers.js';

const problem = await postgresProblem();
if (problem) console.log(`SKIPPED retraining triggers: PostgreSQL unreachable (${problem})`);

describe.skipIf(problem !== undefined)('retraining triggers', () => {
  let fresh: FreshDatabase;
  let db: Database;
  let repo: TinyRepository;
  let service: InferenceService;
  let webhookUrl: string;
  const calls: Array<{ headers: IncomingHttpHeaders; body: unknown }> = [];
  let failuresLeft = 0;
  const hookServer = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk) => {
      body += chunk;
    });
    request.on('end', () => {
      calls.push({ headers: request.headers, body: JSON.parse(body) });
      response.statusCode = failuresLeft-- > 0 ? 503 : 204;
      response.end();
    });
  });
  /** A stand-in for the datasets' snapshot: records a version whose id says how many items it froze. */
  const snapshot: Snapshot = async (dataset) => {
    const { rows } = await db.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM dataset_items WHERE dataset = $1',
      [dataset],
    );
    if (rows[0].n === 0)
      throw new SegserveError('INVALID_ARGUMENT', { reason: `dataset ${dataset} is empty` });
    const id = `v${rows[0].n}-${Date.now()}`;
    await db.query(
      `INSERT INTO dataset_versions (dataset, id, manifest_key, items, train, validation) VALUES ($1, $2, 'm', $3, $3, 0)`,
      [dataset, id, rows[0].n],
    );
    return { id };
  };
  const addLabels = async (dataset: string, count: number, from = 0) => {
    for (let i = from; i < from + count; i++) {
      const hash = i.toString(16).padStart(64, '0');
      await upsertDatasetItem(db, {
        dataset,
        imageSha256: hash,
        imageKey: `sha256/${hash}.png`,
        labelSha256: hash,
        labelKey: `sha256/${hash}.json`,
        width: 4,
        height: 4,
        source: 'annotation',
      });
    }
  };
  const triggers = (): RetrainingTriggers =>
    new RetrainingTriggers({
      service,
      database: async () => db,
      snapshot,
      log: () => {},
      pollMs: 3_600_000,
      hooks: { backoffMs: 10, env: { ...process.env, HOOK_TOKEN: 'secret-token' } },
    });

  beforeAll(async () => {
    await new Promise<void>((resolve) => hookServer.listen(0, '127.0.0.1', resolve));
    const address = hookServer.address();
    if (!address || typeof address === 'string') throw new Error('no port');
    webhookUrl = `http://127.0.0.1:${address.port}/repos/o/r/dispatches`;
    fresh = await freshDatabase();
    db = await openDatabase({ kind: 'postgres', url: fresh.url });
    const base = tinySigmoidModel();
    const withRetraining = (retraining: unknown) => ({
      ...base,
      config: { ...(base.config as Record<string, unknown>), retraining },
    });
    repo = await tinyRepository({
      labelled: withRetraining({
        min_new_labels: 3,
        cooldown: '1h',
        hooks: [
          { webhook: { url: webhookUrl, token_env: 'HOOK_TOKEN' } },
          {
            command: [
              process.execPath,
              '-e',
              'require("fs").writeFileSync("hook-env.json", JSON.stringify(process.env))',
            ],
          },
        ],
      }),
      drifting: withRetraining({ on_drift: true, cooldown: '1s', hooks: [{ webhook: { url: webhookUrl } }] }),
    });
    service = serviceFor(repo.repository);
    for (const name of ['labelled', 'drifting']) {
      await ensureDataset(db, { name, task: 'binary', labels: ['background', 'foreground'], model: name });
    }
  });

  afterAll(async () => {
    await db?.close();
    await fresh?.drop();
    await repo?.close();
    hookServer.close();
  });

  it('fires once enough labels are new, once however many replicas check, and calls every hook', async () => {
    const [a, b] = [triggers(), triggers()];
    await addLabels('labelled', 2);
    expect(await a.pollOnce()).toEqual([]);
    await addLabels('labelled', 1, 2);
    failuresLeft = 2;
    calls.length = 0;
    const fired = [...(await Promise.all([a.pollOnce(), b.pollOnce()]))].flat();
    expect(fired).toHaveLength(1);
    const [record] = fired;
    expect(record).toMatchObject({
      model: 'labelled',
      dataset: 'labelled',
      state: 'succeeded',
      reason: 'new_labels: 3 since the last version',
    });
    expect(record.datasetVersion).toMatch(/^v3-/);
    // Two 503s, then accepted: three attempts, each with the token and GitHub's repository_dispatch body.
    expect(record.hooks[0]).toMatchObject({ kind: 'webhook', ok: true, attempts: 3, status: 204 });
    expect(calls).toHaveLength(3);
    expect(calls[2].headers.authorization).toBe('Bearer secret-token');
    expect(calls[2].body).toEqual({
      event_type: 'segserve-retrain',
      client_payload: {
        trigger_id: record.id,
        model: 'labelled',
        dataset: 'labelled',
        dataset_version: record.datasetVersion,
        reason: record.reason,
      },
    });
    expect(record.hooks[1]).toMatchObject({ kind: 'command', ok: true, status: 0 });
    const env = JSON.parse(await readFile(join(repo.dir, 'labelled', 'hook-env.json'), 'utf8'));
    expect(env).toMatchObject({
      SEGSERVE_DATASET_VERSION: record.datasetVersion,
      SEGSERVE_TRIGGER_ID: record.id,
    });
    // In the cooldown nothing fires again, however many labels arrive.
    await addLabels('labelled', 5, 10);
    expect(await a.pollOnce()).toEqual([]);
    expect((await a.list('labelled')).map((r) => r.id)).toEqual([record.id]);
    await Promise.all([a.close(), b.close()]);
  });

  it('fires on drift when asked to, and records a failed snapshot and a failing webhook as such', async () => {
    const watch = triggers();
    // The dataset is empty: the snapshot fails, and the record says why.
    service.events.emit({
      type: 'drift.detected',
      model: 'drifting',
      version: 1,
      detected: true,
      score: 0.4,
      signal: 'contrast',
      at: Date.now(),
    });
    await expect
      .poll(async () => (await watch.list('drifting'))[0]?.state, { timeout: 10_000 })
      .toBe('failed');
    const [failed] = await watch.list('drifting');
    expect(failed).toMatchObject({ reason: 'drift', datasetVersion: null, hooks: [] });
    expect(failed.error).toMatch(/snapshot failed: INVALID_ARGUMENT: dataset drifting is empty/);
    // Drift on a model without on_drift fires nothing.
    expect(await watch.check('labelled', 'drift')).toBeUndefined();
    // After the 1 s cooldown, with labels, the webhook refuses for good (a 4xx is not retried).
    await addLabels('drifting', 1);
    await new Promise((resolve) => setTimeout(resolve, 1100));
    failuresLeft = 0;
    hookServer.removeAllListeners('request');
    hookServer.on('request', (request, response) => {
      request.resume();
      response.statusCode = 401;
      response.end();
    });
    const refused = await watch.check('drifting', 'drift');
    expect(refused).toMatchObject({
      state: 'failed',
      hooks: [{ kind: 'webhook', ok: false, attempts: 1, status: 401 }],
    });
    await watch.close();
  });
});

const redisUnusable = await redisProblem();
if (redisUnusable) console.log(`SKIPPED the job hook: ${redisUnusable}`);

describe.skipIf(redisUnusable !== undefined)('the job hook', () => {
  const context = {
    triggerId: `trigger-${process.pid}-${Date.now()}`,
    model: 'm',
    dataset: 'm',
    datasetVersion: 'abc123',
    reason: 'drift',
    modelDir: '.',
  };
  const queueName = `segserve-test-retrain-${process.pid}`;

  it('queues one BullMQ job per trigger in the Redis of SEGSERVE_REDIS_URL, however often it is retried', async () => {
    const env = { SEGSERVE_REDIS_URL: 'redis://127.0.0.1:6379' };
    const hook = { job: { queue: queueName, name: 'retrain' } };
    const queue = new Queue(queueName, { connection: { url: env.SEGSERVE_REDIS_URL } });
    try {
      expect(await runHook(hook, context, { env })).toEqual({
        kind: 'job',
        target: queueName,
        ok: true,
        attempts: 1,
      });
      // The same trigger again (a retry after a lost answer): its id is taken, nothing new is queued.
      expect((await runHook(hook, context, { env })).ok).toBe(true);
      const jobs = await queue.getJobs(['waiting']);
      expect(jobs.map((job) => [job.id, job.name, job.data])).toEqual([
        [
          context.triggerId,
          'retrain',
          {
            trigger_id: context.triggerId,
            model: 'm',
            dataset: 'm',
            dataset_version: 'abc123',
            reason: 'drift',
          },
        ],
      ]);
    } finally {
      await queue.obliterate({ force: true });
      await queue.close();
    }
  });

  it('fails with the reason when Redis is not configured or cannot be reached, after its retries', async () => {
    const hook = { job: { queue: queueName, name: 'retrain' } };
    expect(await runHook(hook, context, { env: {} })).toMatchObject({
      ok: false,
      attempts: 0,
      error: expect.stringContaining('SEGSERVE_REDIS_URL is not set'),
    });
    const down = await runHook(hook, context, {
      env: { SEGSERVE_REDIS_URL: 'redis://127.0.0.1:1' },
      attempts: 3,
      backoffMs: 10,
    });
    expect(down).toMatchObject({
      kind: 'job',
      ok: false,
      attempts: 3,
      error: expect.stringMatching(/ECONNREFUSED|Connection/i),
    });
  });
});

describe('the command hook', () => {
  it('stops a command that outlives its timeout, and says so', async () => {
    const context = {
      triggerId: 'stuck',
      model: 'm',
      dataset: 'm',
      datasetVersion: 'v',
      reason: 'new_labels',
      modelDir: process.cwd(),
    };
    const hook = { command: [process.execPath, '-e', 'setTimeout(() => {}, 60000)'], timeout: '1s' };
    // Left alone, the command would end well after a minute with status 0.
    expect(await runHook(hook, context)).toMatchObject({
      kind: 'command',
      ok: false,
      error: 'ended by SIGTERM',
    });
  });
});
