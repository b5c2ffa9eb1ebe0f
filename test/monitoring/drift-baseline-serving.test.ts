/**
 * A baseline file that does not fit its model is refused with a clear reason, and the model serves on without
 * drift monitoring: a baseline made for another model, and one written by an older segserve (format version 1).
 */
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import { type RunningServer, startServer } from '../../src/host/server.js';
import { makeBaseline, writeBaseline } from '../../src/monitoring/drift/index.js';
import { testStorage } from '../helpers/storage.js';
import { semanticScene, tinySoftmaxModel } from '../helpers/tiny-models.js';
import { png, writeRepository } from '../http/helpers.js';

let dir: string;
let server: RunningServer;
const logged: Array<Record<string, unknown>> = [];

beforeAll(async () => {
  const model = tinySoftmaxModel();
  const withBaseline = (file: string) => ({
    ...model,
    config: { ...(model.config as Record<string, unknown>), monitoring: { drift: { baseline: file } } },
  });
  dir = await writeRepository({ other: withBaseline('other.json'), old: withBaseline('old.json') });
  const labels = ['background', 'red', 'green', 'blue'];
  const reference = {
    size: 20,
    numeric: {},
    classMix: { categories: [...labels, '(none)'], mass: [0, 0, 0, 0, 0] },
  };
  const target = { version: 1, task: 'semantic', labels, input: { width: 16, height: 16 } } as const;
  await writeBaseline(
    join(dir, 'other', 'other.json'),
    makeBaseline({ ...target, name: 'someone-else' }, reference),
  );
  const old = { ...makeBaseline({ ...target, name: 'old' }, reference), format_version: 1 };
  await writeFile(join(dir, 'old', 'old.json'), JSON.stringify(old));
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n'))
        if (line.startsWith('{')) logged.push(JSON.parse(line));
      done();
    },
  });
  server = await startServer({
    modelsDir: dir,
    port: 0,
    host: '127.0.0.1',
    logger: { level: 'info', stream },
    predictionLog: 'off',
    storage: testStorage(dir),
  });
});

afterAll(async () => {
  await server?.close();
  await rm(dir, { recursive: true, force: true });
});

it('refuses a baseline that does not fit, says why once, and the model still serves', async () => {
  const image = await png(semanticScene());
  for (const model of ['other', 'old']) {
    for (let i = 0; i < 3; i++) {
      const answer = await fetch(`${server.url}/v1/models/${model}/segment`, {
        method: 'POST',
        headers: { 'content-type': 'image/png' },
        body: new Uint8Array(image),
      });
      expect(answer.status).toBe(200);
    }
  }
  await vi.waitFor(() => expect(logged.filter((l) => l.msg === 'drift monitoring off')).toHaveLength(2));
  const refusals = logged.filter((l) => l.msg === 'drift monitoring off');
  expect(refusals.find((l) => l.model === 'other')?.error).toMatch(/made for model "someone-else"/);
  expect(refusals.find((l) => l.model === 'old')?.error).toMatch(/version 1 baseline from an older segserve/);
  const metrics = await (await fetch(`${server.url}/metrics`)).text();
  expect(metrics).not.toMatch(/segserve_drift_detected\{model="(other|old)"/);
});
