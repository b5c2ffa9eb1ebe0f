/**
 * Evaluating on stored dataset versions made with the datasets code (working set, snapshot): semantic labels read
 * one at a time, instance labels as the COCO export builds them, splits, version prefixes; the evaluation API
 * recording its evaluation with the version; and the promotion gate's evaluator reading config.yaml's
 * `evaluation:` block.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { InstanceReport, SemanticReport } from '../../src/eval/index.js';
import { AdminKeys } from '../../src/http/admin-auth.js';
import { type DatasetVersion, snapshotDataset } from '../../src/learning/datasets/index.js';
import { makeDocument } from '../../src/learning/label-document.js';
import {
  configuredGateEvaluator,
  DatasetFiles,
  evaluateModel,
  openDatasetSource,
} from '../../src/lifecycle/evaluation/index.js';
import { listEvaluations, modelHistory } from '../../src/lifecycle/store.js';
import { toCompressedRle } from '../../src/masks/index.js';
import type { InferenceService } from '../../src/serving/service.js';
import { addItem, classMapLabel, openTestStores, type TestStores } from '../helpers/dataset-stores.js';
import { ADMIN_KEY, adminHeaders } from '../helpers/lifecycle.js';
import { openedStores } from '../helpers/samples.js';
import { serviceFor } from '../helpers/serving.js';
import {
  paintRgb,
  semanticScene,
  tinySoftmaxModel,
  tinyYoloSegModel,
  yoloScene,
} from '../helpers/tiny-models.js';
import { listen, png, type TinyRepository, tinyRepository } from '../http/helpers.js';
import { SCENE, sceneClassMap, writeMaskFolder } from './evaluation-fixtures.js';

const CLASSES = ['background', 'red', 'green', 'blue'];

let stores: TestStores;
let repo: TinyRepository;
let service: InferenceService;
let semantic: DatasetVersion;
let dir: string;

/** The scene with one dark grey pixel at `index` (still background to the model): a distinct image each. */
async function sceneVariant(index: number): Promise<Uint8Array> {
  const image = semanticScene();
  image.data.set([10, 10, 10], index * 3);
  return png(image);
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'segserve-eval-versions-'));
  stores = await openTestStores();
  const label = classMapLabel('semantic', CLASSES, SCENE, SCENE, [...sceneClassMap()]);
  // Background pixels of the first row: 12 distinct images, so both splits get some.
  for (let i = 0; i < 12; i++) await addItem(stores, 'scenes', await sceneVariant(i), label);
  semantic = (await snapshotDataset(stores.db, stores.blobs, 'scenes')).version;

  // Instances: the YOLO scene with the cat and the first dog the tiny model finds, as label segments.
  const rect = (x0: number, y0: number, x1: number, y1: number) => {
    const data = new Uint8Array(64 * 64);
    for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) data[y * 64 + x] = 1;
    return toCompressedRle({ width: 64, height: 64, data });
  };
  const instances = makeDocument(
    'instance',
    64,
    64,
    ['cat', 'dog'],
    [
      { class_id: 0, rle: rect(16, 8, 32, 40) },
      { class_id: 1, rle: rect(10, 16, 34, 32) },
    ],
  );
  await addItem(stores, 'pets', await png(yoloScene()), instances);
  await addItem(
    stores,
    'pets',
    await png(paintRgb(64, 64, [])),
    makeDocument('instance', 64, 64, ['cat', 'dog'], []),
  );
  await snapshotDataset(stores.db, stores.blobs, 'pets');

  const softmax = tinySoftmaxModel();
  await writeMaskFolder(
    join(dir, 'scenes-folder'),
    [{ image: 'images/a.png', mask: 'masks/a.png', values: sceneClassMap() }],
    CLASSES,
  );
  repo = await tinyRepository({
    softmax,
    gated: {
      ...softmax,
      config: { ...(softmax.config as object), evaluation: { dataset: 'dataset:scenes#validation' } },
    },
    // A path in the evaluation block is relative to the model folder.
    'gated-path': {
      ...softmax,
      config: {
        ...(softmax.config as object),
        evaluation: { dataset: join(dir, 'scenes-folder'), tolerance: 0.05 },
      },
    },
    yolo: tinyYoloSegModel(),
  });
  service = serviceFor(repo.repository);
});

afterAll(async () => {
  await repo?.close();
  await stores?.close();
  await rm(dir, { recursive: true, force: true });
});

const context = () => ({
  files: DatasetFiles.unconfined(dir),
  storage: openedStores(stores.db, stores.blobs),
});

describe('dataset versions', () => {
  it('evaluates a semantic version, the latest by default, named in the report by its full id', async () => {
    const dataset = await openDatasetSource('dataset:scenes', context());
    expect(dataset).toMatchObject({ kind: 'class-maps', size: 12, classes: CLASSES, binary: false });
    const { report } = await evaluateModel({ service, model: 'softmax', dataset });
    if (report.kind !== 'semantic') throw new Error('expected a semantic report');
    expect(report.dataset).toBe(`dataset:scenes@${semantic.id}`);
    expect(report.images).toBe(12);
    expect(report.summary.miou).toBe(1);
    expect(report.per_image[0].image).toMatch(/^[0-9a-f]{64}\.png$/);
  });

  it('takes a version prefix and a split', async () => {
    const validation = await openDatasetSource(
      `dataset:scenes@${semantic.id.slice(0, 8)}#validation`,
      context(),
    );
    expect(validation.size).toBe(semantic.validation);
    expect(validation.reportName).toBe(`dataset:scenes@${semantic.id}#validation`);
    const train = await openDatasetSource('dataset:scenes#train', context());
    expect(train.size).toBe(semantic.train);
    expect(semantic.train + semantic.validation).toBe(12);
  });

  it('evaluates an instance version through the COCO document the export builds', async () => {
    const dataset = await openDatasetSource('dataset:pets', context());
    expect(dataset).toMatchObject({ kind: 'instances', size: 2, classes: ['cat', 'dog'] });
    const evaluation = await evaluateModel({ service, model: 'yolo', dataset });
    const report = evaluation.report as InstanceReport;
    expect(report.instances).toBe(2);
    // The tiny model finds the same three boxes in every image; on the black one they are all false.
    expect(report.detections).toBe(6);
    expect(evaluation.detections?.map((d) => d.category_name)).toEqual([
      'cat',
      'dog',
      'dog',
      'cat',
      'dog',
      'dog',
    ]);
    const [worst, best] = report.per_image;
    expect(worst).toMatchObject({ instances: 0, tp: 0, fp: 3, fn: 0 });
    expect(best).toMatchObject({ instances: 2, tp: 2, fp: 1, fn: 0 });
    // Each true detection ties in score with a false one on the black image, which comes first in this version
    // (manifest order, by image hash): COCO ranks ties in result order, so precision is 1/2 at recall 1.
    expect(evaluation.detections?.[0].image_id).toBe(1);
    expect(report.per_image.find((row) => row.image_id === 1)?.instances).toBe(0);
    expect(report.summary.mask?.AP50).toBeCloseTo(0.5, 10);
  });

  it('refuses unknown datasets and versions with the datasets codes', async () => {
    await expect(openDatasetSource('dataset:nope', context())).rejects.toMatchObject({
      code: 'DATASET_NOT_FOUND',
    });
    await expect(openDatasetSource('dataset:scenes@ffffffff', context())).rejects.toMatchObject({
      code: 'DATASET_VERSION_NOT_FOUND',
    });
  });
});

describe('recording and the gate', () => {
  it('records an evaluation made through the API with its version, in the model history', async () => {
    const keys = AdminKeys.fromEntries([{ text: `alice ${ADMIN_KEY}`, where: 'test' }]);
    const running = await listen({
      repository: repo.repository,
      adminKeys: keys,
      stores: openedStores(stores.db, stores.blobs),
    });
    try {
      const response = await fetch(`${running.base}/v1/admin/models/softmax/versions/1/eval`, {
        method: 'POST',
        headers: adminHeaders(),
        body: JSON.stringify({ dataset: 'dataset:scenes#validation' }),
      });
      expect(response.status).toBe(200);
      const report = (await response.json()) as SemanticReport;
      expect(report.summary.miou).toBe(1);
      const id = response.headers.get('x-evaluation-id');
      expect(id).toBeTruthy();
      const recorded = (await listEvaluations(stores.db, 'softmax')).find((e) => e.id === id);
      expect(recorded).toMatchObject({
        version: 1,
        metric: 'miou',
        value: 1,
        dataset: `dataset:scenes@${semantic.id}#validation`,
      });
      const history = await modelHistory(stores.db, 'softmax');
      expect(history.at(-1)).toMatchObject({ kind: 'evaluated', actor: 'alice', version: 1 });
    } finally {
      await running.app.close();
    }
  });

  it("gives the promotion gate the configured dataset's main metric, and nothing for a model without one", async () => {
    const evaluate = configuredGateEvaluator({ service, storage: openedStores(stores.db, stores.blobs) });
    const gated = await evaluate('gated', 1);
    expect(gated).toMatchObject({
      dataset: `dataset:scenes@${semantic.id}#validation`,
      metric: 'miou',
      value: 1,
      tolerance: 0.01,
    });
    if (!gated) throw new Error('expected a gate evaluation');
    expect((gated.report as SemanticReport).images).toBe(semantic.validation);
    const byPath = await evaluate('gated-path', 1);
    expect(byPath).toMatchObject({ metric: 'miou', value: 1, tolerance: 0.05 });
    expect(await evaluate('softmax', 1)).toBeUndefined();
  });
});
