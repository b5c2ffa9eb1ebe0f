/**
 * `segserve eval --model`: through the real command line on a repository of tiny models (table, JSON, report
 * file, progress, timings, exit codes), and the `m[:version]` spelling.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseModelSpec } from '../../src/cli/eval.js';
import type { InstanceReport, SemanticReport } from '../../src/eval/index.js';
import { snapshotDataset } from '../../src/learning/datasets/index.js';
import { writeAlias } from '../../src/lifecycle/store.js';
import { runCli } from '../helpers/cli.js';
import { addItem, classMapLabel, openTestStores } from '../helpers/dataset-stores.js';
import { semanticScene, tinySoftmaxModel, tinyYoloSegModel } from '../helpers/tiny-models.js';
import { png, writeRepository } from '../http/helpers.js';
import { sceneClassMap, writeCocoFolder, writeMaskFolder } from '../lifecycle/evaluation-fixtures.js';

const CLASSES = ['background', 'red', 'green', 'blue'];

let dir: string;
let models: string;
let masks: string;
let coco: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'segserve-eval-model-cli-'));
  models = await writeRepository({
    softmax: { ...tinySoftmaxModel(), versions: [1, 2] },
    newest: { ...tinySoftmaxModel(), versions: [1, 2] },
    yolo: tinyYoloSegModel(),
  });
  // A model whose version policy loads only its newest version.
  const config = join(models, 'newest', 'config.yaml');
  const text = await readFile(config, 'utf8');
  await writeFile(config, text.replace(/version_policy:\n\s+all: true\n/, 'version_policy:\n  latest: 1\n'));
  masks = await writeMaskFolder(
    join(dir, 'masks'),
    [
      { image: 'images/a.png', mask: 'masks/a.png', values: sceneClassMap() },
      { image: 'images/b.png', mask: 'masks/b.png', values: sceneClassMap().map((v) => (v === 3 ? 0 : v)) },
    ],
    CLASSES,
  );
  coco = await writeCocoFolder(join(dir, 'coco'));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
  if (models) await rm(models, { recursive: true, force: true });
});

describe('parseModelSpec', () => {
  it('splits a version or alias after the last colon, and leaves anything else to the model', () => {
    expect(parseModelSpec('selfie')).toEqual({ model: 'selfie' });
    expect(parseModelSpec('selfie:2')).toEqual({ model: 'selfie', version: '2' });
    expect(parseModelSpec('selfie:stable')).toEqual({ model: 'selfie', version: 'stable' });
    expect(parseModelSpec('C:/models/selfie')).toEqual({ model: 'C:/models/selfie' });
    expect(parseModelSpec('./a:b/selfie:3')).toEqual({ model: './a:b/selfie', version: '3' });
  });
});

describe('segserve eval --model', () => {
  it('prints the table with progress and timings, and writes the JSON report', async () => {
    const out = join(dir, 'report.json');
    const run = await runCli([
      'eval',
      '--model',
      'softmax:1',
      '--models',
      models,
      '--dataset',
      masks,
      '--out',
      out,
    ]);
    expect(run.stderr).not.toMatch(/error/);
    expect(run.code).toBe(0);
    expect(run.stderr).toContain('eval softmax: 2/2 (100%)');
    expect(run.stderr).toMatch(
      /softmax version 1 on mask folder .* \(2 images, classes background, red, green, blue\): [0-9.]+ s/,
    );
    expect(run.stdout).toContain(`semantic evaluation of model softmax:1 on ${masks}`);
    expect(run.stdout).toMatch(/^worst images by mIoU:\nimage +mIoU/m);
    expect(run.stdout).toMatch(/^images\/b\.png /m);
    const report = JSON.parse(await readFile(out, 'utf8')) as SemanticReport;
    expect(report.model).toEqual({ name: 'softmax', version: 1 });
    // Image b's truth has no blue: the 32 blue pixels predicted there are false positives.
    expect(report.classes.find((c) => c.label === 'blue')).toMatchObject({
      truth_pixels: 32,
      predicted_pixels: 64,
    });
  });

  it('loads a version the version policy leaves out when it is named', async () => {
    const config = await readFile(join(models, 'newest', 'config.yaml'), 'utf8');
    expect(config).toContain('latest: 1');
    const run = await runCli([
      'eval',
      '--model',
      'newest:1',
      '--models',
      models,
      '--dataset',
      masks,
      '--json',
    ]);
    expect(run.stderr).not.toMatch(/error/);
    expect((JSON.parse(run.stdout) as SemanticReport).model).toEqual({ name: 'newest', version: 1 });
  });

  it('scores an instance model, writing its detections for eval --results, which scores them the same', async () => {
    const results = join(dir, 'detections.json');
    const run = await runCli([
      'eval',
      '--model',
      'yolo',
      '--models',
      models,
      '--dataset',
      coco,
      '--save-results',
      results,
      '--json',
    ]);
    expect(run.code).toBe(0);
    const report = JSON.parse(run.stdout) as InstanceReport;
    expect(report.detections).toBe(3);
    const detections = JSON.parse(await readFile(results, 'utf8')) as Array<{ category_id: number }>;
    expect(detections.map((d) => d.category_id)).toEqual([17, 18, 18]);
    const again = await runCli([
      'eval',
      '--results',
      results,
      '--dataset',
      join(coco, 'annotations', 'instances.json'),
      '--json',
    ]);
    expect(again.code).toBe(0);
    expect((JSON.parse(again.stdout) as InstanceReport).summary).toEqual(report.summary);
  });

  it('reads a stored dataset version and an alias from the data directory', async () => {
    const stores = await openTestStores();
    try {
      const image = await png(semanticScene());
      await addItem(
        stores,
        'scenes',
        image,
        classMapLabel('semantic', CLASSES, 16, 16, [...sceneClassMap()]),
      );
      await snapshotDataset(stores.db, stores.blobs, 'scenes');
      await writeAlias(stores.db, 'softmax', 'stable', 1, null, 'test');
      await stores.db.close();
      const dataDir = join(stores.dir, '.data');
      const run = await runCli(
        ['eval', '--model', 'softmax:stable', '--models', models, '--dataset', 'dataset:scenes', '--json'],
        { SEGSERVE_DATA_DIR: dataDir },
      );
      expect(run.stderr).not.toMatch(/error/);
      const report = JSON.parse(run.stdout) as SemanticReport;
      expect(report.model).toEqual({ name: 'softmax', version: 1 });
      expect(report.dataset).toMatch(/^dataset:scenes@[0-9a-f]{64}$/);
      expect(report.summary.miou).toBe(1);
    } finally {
      await stores.close().catch(() => undefined);
    }
  });

  it('refuses with a stable code and exit status 2', async () => {
    const both = await runCli(['eval', '--model', 'softmax', '--results', 'r.json', '--dataset', masks]);
    expect(both.code).toBe(2);
    const unknown = await runCli(['eval', '--model', 'nope', '--models', models, '--dataset', masks]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('error MODEL_NOT_FOUND');
    const version = await runCli(['eval', '--model', 'softmax:9', '--models', models, '--dataset', masks]);
    expect(version.stderr).toContain('error MODEL_VERSION_NOT_FOUND');
    const task = await runCli(['eval', '--model', 'yolo', '--models', models, '--dataset', masks]);
    expect(task.stderr).toContain('error EVAL_TASK_MISMATCH');
    const missing = await runCli([
      'eval',
      '--model',
      'softmax',
      '--models',
      models,
      '--dataset',
      join(dir, 'none'),
    ]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('error PATH_FORBIDDEN');
    const save = await runCli([
      'eval',
      '--model',
      'softmax',
      '--models',
      models,
      '--dataset',
      masks,
      '--save-results',
      join(dir, 'x.json'),
    ]);
    expect(save.stderr).toContain(
      'error INVALID_ARGUMENT: --save-results writes the detections of an instance model',
    );
  });
});
