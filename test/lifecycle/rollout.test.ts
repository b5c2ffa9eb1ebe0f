/**
 * A rollout under load, end to end on a real server: while clients keep sending requests that name no version,
 * version 2 is uploaded, broken uploads are refused, a worse version is refused by the evaluation gate, a better
 * one is promoted, then rolled back. No request fails at any point, and each answer's version is the one
 * `stable` named when the request arrived (an alias change is instant somewhere between its PUT being sent and
 * answered, so a request overlapping that window may get either side).
 *
 * The gate is real: the model's config names a mask folder whose ground truth is the scene's exact class map, and
 * the versions differ in what they can see (v1 is blind to green, v2 to green and blue, v3 sees all).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningServer, startServer } from '../../src/host/server.js';
import { AdminKeys } from '../../src/http/admin-auth.js';
import type { ModelHistoryJson } from '../../src/lifecycle/wire-types.js';
import { resolveStorageSettings } from '../../src/storage/settings.js';
import { ADMIN_KEY, adminHeaders } from '../helpers/lifecycle.js';
import { type FreshDatabase, freshDatabase, postgresProblem } from '../helpers/postgres.js';
import {
  failsAtWidthModel,
  semanticScene,
  softmaxWeightsBlindTo,
  tinySigmoidModel,
  tinySoftmaxModel,
  tinySoftmaxVariant,
} from '../helpers/tiny-models.js';
import { png, writeRepository } from '../http/helpers.js';
import { sceneClassMap, writeMaskFolder } from './evaluation-fixtures.js';

const problem = await postgresProblem();
if (problem) console.log(`SKIPPED rollout under load: PostgreSQL unreachable (${problem})`);

interface Answer {
  sentAt: number;
  doneAt: number;
  status: number;
  version?: number;
  code?: string;
}

/** An alias change: sent at `sentAt`, answered at `doneAt`, `stable` naming `version` from some instant between. */
interface Change {
  sentAt: number;
  doneAt: number;
  version: number;
}

/** The versions `stable` may have named at some instant of [from, to], given the changes in order. */
function possibleVersions(
  initial: number,
  changes: readonly Change[],
  from: number,
  to: number,
): Set<number> {
  const possible = new Set<number>();
  // Epoch k runs from change k's send (it may apply that early) to change k+1's answer (it may apply that late).
  const epochs = [
    { version: initial, start: -Infinity },
    ...changes.map((c) => ({ version: c.version, start: c.sentAt })),
  ];
  epochs.forEach((epoch, k) => {
    const end = k + 1 < epochs.length ? changes[k].doneAt : Infinity;
    if (epoch.start <= to && end >= from) possible.add(epoch.version);
  });
  return possible;
}

describe.skipIf(problem !== undefined)('a rollout under load', () => {
  let fresh: FreshDatabase;
  let work: string;
  let repo: string;
  let server: RunningServer;
  let image: Uint8Array;

  beforeAll(async () => {
    fresh = await freshDatabase();
    work = await mkdtemp(join(tmpdir(), 'segserve-rollout-'));
    const dataset = await writeMaskFolder(
      join(work, 'gate-data'),
      [1, 2, 3].map((i) => ({ image: `images/${i}.png`, mask: `masks/${i}.png`, values: sceneClassMap() })),
      ['background', 'red', 'green', 'blue'],
    );
    const model = tinySoftmaxModel();
    repo = await writeRepository({
      softmax: {
        ...model,
        bytes: tinySoftmaxVariant(softmaxWeightsBlindTo(2)),
        config: { ...(model.config as object), evaluation: { dataset, tolerance: 0.01 } },
      },
    });
    server = await startServer({
      modelsDir: repo,
      port: 0,
      host: '127.0.0.1',
      logger: false,
      predictionLog: 'off',
      storage: resolveStorageSettings({ dataDir: join(work, 'data'), databaseUrl: fresh.url }, {}),
      adminKeys: AdminKeys.fromEntries([{ text: `release-bot ${ADMIN_KEY}`, where: 'test' }]),
    });
    image = await png(semanticScene());
  });

  afterAll(async () => {
    await server?.close();
    await fresh?.drop();
    if (repo) await rm(repo, { recursive: true, force: true });
    if (work) await rm(work, { recursive: true, force: true });
  });

  function upload(model: Uint8Array): Promise<Response> {
    const form = new FormData();
    form.append('model', new Blob([model]), 'model.onnx');
    return fetch(`${server.url}/v1/admin/models/softmax/versions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_KEY}` },
      body: form,
    });
  }

  async function expectRefused(response: Response, status: number, code: string): Promise<void> {
    const body = (await response.json()) as { error: { code: string; message: string } };
    expect([response.status, body.error.code], body.error.message).toEqual([status, code]);
  }

  it('uploads, refuses, gates, promotes and rolls back while every request succeeds on the version stable names', async () => {
    const answers: Answer[] = [];
    const changes: Change[] = [];
    let running = true;
    const client = async () => {
      while (running) {
        const sentAt = performance.now();
        try {
          const response = await fetch(`${server.url}/v1/models/softmax/segment?mask_format=none`, {
            method: 'POST',
            body: image,
          });
          const body = (await response.json()) as { version?: number; error?: { code: string } };
          answers.push({
            sentAt,
            doneAt: performance.now(),
            status: response.status,
            version: body.version,
            code: body.error?.code,
          });
        } catch (error) {
          answers.push({ sentAt, doneAt: performance.now(), status: 0, code: (error as Error).message });
        }
      }
    };
    const clients = [client(), client(), client()];
    const moveStable = async (send: () => Promise<Response>, version: number) => {
      const sentAt = performance.now();
      const response = await send();
      changes.push({ sentAt, doneAt: performance.now(), version });
      return response;
    };
    try {
      // Broken uploads: not ONNX, outputs its decoder cannot read, a model that fails its warm-up inference.
      await expectRefused(
        await upload(new TextEncoder().encode('GIF89a, not a model')),
        422,
        'UPLOAD_REFUSED',
      );
      await expectRefused(await upload(tinySigmoidModel({ channels: 2 }).bytes), 422, 'UPLOAD_REFUSED');
      await expectRefused(await upload(failsAtWidthModel()), 422, 'UPLOAD_REFUSED');

      // Version 2 sees less than version 1: it is let in (it loads and decodes) but stable stays at 1.
      const second = await moveStable(() => upload(tinySoftmaxVariant(softmaxWeightsBlindTo(2, 3))), 1);
      expect(second.status).toBe(201);
      expect(await second.json()).toMatchObject({ version: 2, keptStableAt: 1 });
      const promote = (version: number) =>
        fetch(`${server.url}/v1/admin/models/softmax/aliases/stable`, {
          method: 'PUT',
          headers: adminHeaders(),
          body: JSON.stringify({ version }),
        });
      await expectRefused(await promote(2), 409, 'PROMOTION_REFUSED');

      // Version 3 sees everything: promoted through the gate.
      const third = await upload(tinySoftmaxVariant(softmaxWeightsBlindTo()));
      expect(third.status).toBe(201);
      const promoted = await moveStable(() => promote(3), 3);
      expect(promoted.status).toBe(200);
      const gate = ((await promoted.json()) as { gate: { candidate: number; current: number } }).gate;
      expect(gate.candidate).toBe(1);
      expect(gate.current).toBeLessThan(1);
      await new Promise((resolve) => setTimeout(resolve, 300));

      const rolledBack = await moveStable(
        () =>
          fetch(`${server.url}/v1/admin/models/softmax/rollback`, {
            method: 'POST',
            headers: adminHeaders(),
            body: '{}',
          }),
        1,
      );
      expect(rolledBack.status).toBe(200);
      await new Promise((resolve) => setTimeout(resolve, 300));
    } finally {
      running = false;
      await Promise.all(clients);
    }

    const failed = answers.filter((a) => a.status !== 200);
    expect(failed, JSON.stringify(failed.slice(0, 3))).toEqual([]);
    expect(answers.length).toBeGreaterThan(30);
    const wrong = answers.filter(
      (a) => !possibleVersions(1, changes, a.sentAt, a.doneAt).has(a.version as number),
    );
    expect(wrong, JSON.stringify(wrong.slice(0, 3))).toEqual([]);
    // Each version stable named served some of the traffic: the test saw every epoch.
    const served = new Set(answers.map((a) => a.version));
    expect([...served].sort()).toEqual([1, 3]);
    // After the rollback, requests sent once it was answered went to version 1 again.
    const last = changes[changes.length - 1];
    expect(answers.filter((a) => a.sentAt > last.doneAt).every((a) => a.version === 1)).toBe(true);

    const history = (await (
      await fetch(`${server.url}/v1/models/softmax/history`)
    ).json()) as ModelHistoryJson;
    expect(history.history.map((h) => `${h.kind}:${h.version}`)).toEqual([
      'promoted:1',
      'uploaded:2',
      'evaluated:2',
      'evaluated:1',
      'promotion_refused:2',
      'uploaded:3',
      'evaluated:3',
      'promoted:3',
      'rolled_back:1',
    ]);
    expect(history.evaluations.map((e) => [e.version, Number(e.value.toFixed(3))])).toEqual(
      expect.arrayContaining([[3, 1]]),
    );
  });
});
