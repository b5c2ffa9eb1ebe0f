/**
 * Readiness after start: strict until the server has been ready once, then a version that fails to load later
 * (a broken file dropped into the watched or synced repository) does not take the server out of rotation while
 * the model still serves; a model left with no ready version does.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { serviceFor } from '../helpers/serving.js';
import { tinySoftmaxModel } from '../helpers/tiny-models.js';
import { type TinyRepository, tinyRepository } from '../http/helpers.js';

let repo: TinyRepository | undefined;
afterEach(async () => {
  await repo?.close();
  repo = undefined;
});

it('stays ready when a later version fails to load, and not when a served model has nothing left', async () => {
  repo = await tinyRepository({ softmax: tinySoftmaxModel() });
  const service = serviceFor(repo.repository);
  expect(service.notReady()).toBeUndefined();

  await mkdir(join(repo.dir, 'softmax', '2'));
  await writeFile(join(repo.dir, 'softmax', '2', 'model.onnx'), 'not an ONNX model');
  await repo.repository.rescan();
  const status = repo.repository.get('softmax');
  expect(status?.versions.find((v) => v.version === 2)?.state).toBe('failed');
  expect(service.resolve({ model: 'softmax' }).version).toBe(1);
  expect(service.notReady()).toBeUndefined();

  await repo.repository.unloadVersion('softmax', 1);
  expect(service.notReady()).toMatch(/model "softmax" has no ready version left/);
});
