/**
 * No answer shows the server's own folders: a model that failed to load is described relative to its model
 * folder (by the model's name) on every route that reports it, while the log keeps the full path.
 */
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { tinySoftmaxModel } from '../helpers/tiny-models.js';
import {
  listen,
  openTemporaryRepository,
  type RunningApp,
  type TinyRepository,
  writeRepository,
} from './helpers.js';

let repo: TinyRepository;
let server: RunningApp;

beforeAll(async () => {
  const dir = await writeRepository({ good: tinySoftmaxModel(), gone: tinySoftmaxModel() });
  // The file of "gone" disappears before the server opens the repository: a load error naming that path.
  await rm(join(dir, 'gone', '1', 'model.onnx'));
  repo = await openTemporaryRepository(dir);
  server = await listen({ repository: repo.repository });
});

afterAll(async () => {
  await server?.app.close();
  await repo?.close();
});

it('reports a failed model without the server folders on /v1, /v2 and /health', async () => {
  const answers = await Promise.all([
    fetch(`${server.base}/v1/models/gone/segment`, { method: 'POST', body: 'x' }),
    fetch(`${server.base}/v1/models/gone`),
    fetch(`${server.base}/v1/models`),
    fetch(`${server.base}/v2/health/ready`),
    fetch(`${server.base}/v2/models/gone/ready`),
    fetch(`${server.base}/health`),
  ]);
  const texts = await Promise.all(answers.map((a) => a.text()));
  expect(answers[0].status).toBe(503);
  expect(texts[0]).toContain('MODEL_NOT_READY');
  expect(texts[1]).toContain('gone/1/model.onnx');
  for (const text of texts) {
    expect(text).not.toContain(repo.dir);
    expect(text).not.toMatch(/"\/(tmp|home|work|root)\//);
  }
});
