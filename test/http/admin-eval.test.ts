/**
 * `POST /v1/admin/models/{m}/versions/{v}/eval` on tiny models: the report of `segserve eval --model`, the admin
 * key, dataset paths confined to the evaluation root (symbolic links included), and each refusal's code.
 */
import { mkdir, mkdtemp, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { InstanceReport, SemanticReport } from '../../src/eval/index.js';
import { AdminKeys } from '../../src/http/admin-auth.js';
import { ADMIN_KEY, adminHeaders } from '../helpers/lifecycle.js';
import { tinySoftmaxModel, tinyYoloSegModel } from '../helpers/tiny-models.js';
import { sceneClassMap, writeCocoFolder, writeMaskFolder } from '../lifecycle/evaluation-fixtures.js';
import { errorOf, listen, type RunningApp, type TinyRepository, tinyRepository } from './helpers.js';

const CLASSES = ['background', 'red', 'green', 'blue'];
const keys = () => AdminKeys.fromEntries([{ text: `alice ${ADMIN_KEY}`, where: 'test' }]);

let repo: TinyRepository;
let dir: string;
let root: string;
let server: RunningApp;
let noRoot: RunningApp;
let noKeys: RunningApp;

function evaluate(
  body: unknown,
  options: { base?: string; model?: string; version?: string; key?: string | null } = {},
) {
  const { base = server.base, model = 'softmax', version = '1', key = ADMIN_KEY } = options;
  const headers: Record<string, string> =
    key === null ? { 'content-type': 'application/json' } : adminHeaders(key);
  return fetch(`${base}/v1/admin/models/${model}/versions/${version}/eval`, {
    method: 'POST',
    headers,
    body: JSON.stringify(body),
  });
}

async function refusal(response: Promise<Response>, status: number, code: string): Promise<string> {
  const answered = await response;
  const error = await errorOf(answered);
  expect({ status: answered.status, code: error.code }, error.message).toEqual({ status, code });
  return error.message;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'segserve-admin-eval-'));
  root = join(dir, 'root');
  const exact = { image: 'images/a.png', mask: 'masks/a.png', values: sceneClassMap() };
  // Half the red square marked green in the truth: red IoU 18/36, green 16/34.
  const wrong = sceneClassMap().map((v, i) => (v === 1 && i % 16 < 5 ? 2 : v));
  await writeMaskFolder(
    join(root, 'scenes'),
    [exact, { image: 'images/b.png', mask: 'masks/b.png', values: wrong }],
    CLASSES,
  );
  await writeMaskFolder(join(root, 'people'), [exact], ['background', 'person']);
  await writeCocoFolder(join(root, 'coco'));
  await writeMaskFolder(join(dir, 'outside'), [exact], CLASSES);
  await symlink(join(dir, 'outside'), join(root, 'link-out'));
  await mkdir(join(root, 'empty'));
  await writeMaskFolder(join(root, 'empty'), [], CLASSES);
  repo = await tinyRepository({ softmax: tinySoftmaxModel(), yolo: tinyYoloSegModel() });
  server = await listen({ repository: repo.repository, adminKeys: keys(), evalRoot: root });
  noRoot = await listen({ repository: repo.repository, adminKeys: keys() });
  noKeys = await listen({ repository: repo.repository, evalRoot: root });
});

afterAll(async () => {
  await Promise.all([server?.app.close(), noRoot?.app.close(), noKeys?.app.close()]);
  await repo?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('the evaluation API', () => {
  it('answers the semantic report of a mask folder in the evaluation root, worst image first', async () => {
    const response = await evaluate({ dataset: 'scenes' });
    expect(response.status).toBe(200);
    const report = (await response.json()) as SemanticReport;
    expect(report).toMatchObject({ format: 'segserve-eval', kind: 'semantic', task: 'semantic', images: 2 });
    expect(report.dataset).toBe('scenes');
    expect(report.model).toEqual({ name: 'softmax', version: 1 });
    expect(report.per_image.map((row) => row.image)).toEqual(['images/b.png', 'images/a.png']);
    expect(report.per_image[1].miou).toBe(1);
    // Pixels pooled over both images: red 36 + 18 truth pixels, of which 36 + 18 predicted red.
    const red = report.classes.find((c) => c.label === 'red');
    expect(red).toMatchObject({ truth_pixels: 54, predicted_pixels: 72 });
    expect(red?.iou).toBeCloseTo(54 / 72, 10);
  });

  it('answers the instance report of a COCO folder, an alias or a number naming the version', async () => {
    const response = await evaluate({ dataset: 'coco', iou_types: ['segm'] }, { model: 'yolo' });
    expect(response.status).toBe(200);
    const report = (await response.json()) as InstanceReport;
    expect(report).toMatchObject({ kind: 'instance', iou_types: ['segm'], instances: 2, detections: 3 });
    expect(report.summary.box).toBeNull();
    expect(report.summary.mask?.AP50).toBeGreaterThan(0.4);
  });

  it('needs the admin key', async () => {
    await refusal(evaluate({ dataset: 'scenes' }, { key: null }), 401, 'ADMIN_KEY_MISSING');
    await refusal(
      evaluate({ dataset: 'scenes' }, { key: 'not-the-key-but-long-enough' }),
      401,
      'ADMIN_KEY_INVALID',
    );
    await refusal(evaluate({ dataset: 'scenes' }, { base: noKeys.base }), 403, 'ADMIN_API_DISABLED');
  });

  it('reads no path outside the evaluation root, nor any path without one (PATH_FORBIDDEN)', async () => {
    for (const dataset of [
      '../outside',
      join(dir, 'outside'),
      '/etc/passwd',
      '/etc',
      'link-out',
      'scenes/../../outside',
    ]) {
      const message = await refusal(evaluate({ dataset }), 403, 'PATH_FORBIDDEN');
      expect(message).not.toContain(root);
    }
    await refusal(evaluate({ dataset: 'coco', images: '/etc' }, { model: 'yolo' }), 403, 'PATH_FORBIDDEN');
    const message = await refusal(
      evaluate({ dataset: 'scenes' }, { base: noRoot.base }),
      403,
      'PATH_FORBIDDEN',
    );
    expect(message).toMatch(/--eval-root/);
  });

  it('refuses unknown models and versions, other classes, another task and an empty dataset', async () => {
    await refusal(evaluate({ dataset: 'scenes' }, { model: 'nope' }), 404, 'MODEL_NOT_FOUND');
    await refusal(evaluate({ dataset: 'scenes' }, { version: '7' }), 404, 'MODEL_VERSION_NOT_FOUND');
    const classes = await refusal(evaluate({ dataset: 'people' }), 422, 'EVAL_CLASSES_MISMATCH');
    expect(classes).toMatch(/\[background, person\].*\[background, red, green, blue\]/);
    await refusal(evaluate({ dataset: 'coco' }), 422, 'EVAL_TASK_MISMATCH');
    await refusal(evaluate({ dataset: 'empty' }), 422, 'EVAL_DATASET_EMPTY');
    // Stored datasets need the stores, which this app was not given.
    await refusal(evaluate({ dataset: 'dataset:faces' }), 400, 'INVALID_ARGUMENT');
    await refusal(evaluate({ dataset: 'scenes', concurrency: 0 }), 400, 'INVALID_ARGUMENT');
  });
});
