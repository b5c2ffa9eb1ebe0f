/**
 * The evaluation runner on tiny models whose outputs are known exactly: class maps paired with their ground
 * truth in the model's class ids, instance detections with the dataset's category ids, classes matched by name,
 * nothing published as live traffic, bounded concurrency, cancellation, and the refusals.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type ClassMapDataset,
  type ClassMapImage,
  type ClassMapPair,
  DatasetFiles,
  type EvaluationDataset,
  openDatasetSource,
  runEvaluation,
} from '../../src/lifecycle/evaluation/index.js';
import type { PredictionCompleted } from '../../src/serving/events.js';
import type { InferenceService } from '../../src/serving/service.js';
import { caught } from '../helpers/caught.js';
import { serviceFor } from '../helpers/serving.js';
import {
  semanticScene,
  tinySigmoidModel,
  tinySoftmaxModel,
  tinyYoloSegModel,
} from '../helpers/tiny-models.js';
import { png, type TinyRepository, tinyRepository } from '../http/helpers.js';
import { SCENE, sceneClassMap, writeCocoFolder, writeMaskFolder } from './evaluation-fixtures.js';

let repo: TinyRepository;
let service: InferenceService;
let dir: string;
const files = () => DatasetFiles.unconfined(dir);

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'segserve-eval-run-'));
  const softmax = tinySoftmaxModel();
  repo = await tinyRepository({
    softmax: { ...softmax, versions: [1, 2] },
    red: tinySigmoidModel(),
    yolo: tinyYoloSegModel(),
  });
  service = serviceFor(repo.repository);
});
afterAll(async () => {
  await repo?.close();
  await rm(dir, { recursive: true, force: true });
});

/** `count` rows of the scene with its exact class map. */
function exactRows(count: number) {
  return Array.from({ length: count }, (_, i) => ({
    image: `images/${i}.png`,
    mask: `masks/${i}.png`,
    values: sceneClassMap(),
  }));
}

async function open(source: string): Promise<EvaluationDataset> {
  return openDatasetSource(source, { files: files() });
}

describe('class maps', () => {
  it('pairs every image with its ground truth at the image size, in the model class ids', async () => {
    await writeMaskFolder(join(dir, 'exact'), exactRows(3), ['background', 'red', 'green', 'blue']);
    const pairs: ClassMapPair[] = [];
    const progress: number[] = [];
    const run = await runEvaluation(
      { service, model: 'softmax', dataset: await open('exact'), onProgress: (p) => progress.push(p.done) },
      (pair) => pairs.push(pair),
    );
    expect(run).toMatchObject({
      kind: 'class-maps',
      model: 'softmax',
      version: 2,
      task: 'semantic',
      images: 3,
    });
    expect(run.labels).toEqual(['background', 'red', 'green', 'blue']);
    expect(progress).toEqual([1, 2, 3]);
    expect(pairs.map((p) => p.imageId).sort()).toEqual([1, 2, 3]);
    for (const pair of pairs) {
      expect(pair).toMatchObject({ width: SCENE, height: SCENE });
      expect(pair.truth).toEqual(sceneClassMap());
      expect(pair.prediction).toEqual(sceneClassMap());
    }
  });

  it('matches classes by name: a dataset listing them in another order is mapped to the model ids', async () => {
    // Dataset ids: 1 blue, 2 green, 3 red (the model's 3, 2, 1).
    const swapped = sceneClassMap().map((v) => (v === 1 ? 3 : v === 3 ? 1 : v));
    await writeMaskFolder(
      join(dir, 'reordered'),
      [{ image: 'images/a.png', mask: 'masks/a.png', values: swapped }],
      ['background', 'blue', 'green', 'red'],
    );
    const pairs: ClassMapPair[] = [];
    await runEvaluation({ service, model: 'softmax', version: 1, dataset: await open('reordered') }, (p) =>
      pairs.push(p),
    );
    expect(pairs[0].truth).toEqual(sceneClassMap());
  });

  it('reads a 0/255 mask folder without labels as a binary model classes', async () => {
    const red = sceneClassMap().map((v) => (v === 1 ? 255 : 0));
    await writeMaskFolder(join(dir, 'binary'), [{ image: 'images/a.png', mask: 'masks/a.png', values: red }]);
    const pairs: ClassMapPair[] = [];
    const run = await runEvaluation({ service, model: 'red', dataset: await open('binary') }, (p) =>
      pairs.push(p),
    );
    expect(run.task).toBe('binary');
    expect(pairs[0].truth).toEqual(sceneClassMap().map((v) => (v === 1 ? 1 : 0)));
    expect(pairs[0].prediction).toEqual(pairs[0].truth);
  });

  it('publishes no prediction.completed: evaluations are not live traffic', async () => {
    await writeMaskFolder(join(dir, 'quiet'), exactRows(2), ['background', 'red', 'green', 'blue']);
    const seen: PredictionCompleted[] = [];
    const off = service.events.on('prediction.completed', 'test', (event) => {
      seen.push(event);
    });
    try {
      await runEvaluation({ service, model: 'softmax', dataset: await open('quiet') });
      await new Promise((resolve) => setImmediate(resolve));
      expect(seen).toEqual([]);
      // The same model through the CLI source is published: the subscription works.
      const ticket = service.admit({ model: 'softmax' }, { source: 'cli' });
      await service.segment(ticket, await png(semanticScene()));
      ticket.release();
      await new Promise((resolve) => setImmediate(resolve));
      expect(seen.map((e) => e.source)).toEqual(['cli']);
    } finally {
      off();
    }
  });

  it('keeps at most `concurrency` images in flight', async () => {
    await writeMaskFolder(join(dir, 'many'), exactRows(8), ['background', 'red', 'green', 'blue']);
    const dataset = await open('many');
    if (dataset.kind !== 'class-maps') throw new Error('expected class maps');
    let inFlight = 0;
    let most = 0;
    const counted: ClassMapDataset = {
      ...dataset,
      image(index): ClassMapImage {
        const image = dataset.image(index);
        return {
          ...image,
          bytes() {
            inFlight++;
            most = Math.max(most, inFlight);
            return image.bytes();
          },
          async classMap(width, height, format) {
            const map = await image.classMap(width, height, format);
            inFlight--;
            return map;
          },
        };
      },
    };
    await runEvaluation({ service, model: 'softmax', dataset: counted, concurrency: 2 });
    expect(most).toBe(2);
  });

  it('stops on an AbortSignal with its reason, starting no new image', async () => {
    await writeMaskFolder(join(dir, 'abort'), exactRows(6), ['background', 'red', 'green', 'blue']);
    const controller = new AbortController();
    let done = 0;
    const reason = new Error('stop now');
    const run = runEvaluation({
      service,
      model: 'softmax',
      dataset: await open('abort'),
      concurrency: 1,
      signal: controller.signal,
      onProgress: (p) => {
        done = p.done;
        if (p.done === 2) controller.abort(reason);
      },
    });
    await expect(run).rejects.toBe(reason);
    expect(done).toBe(2);
    await expect(
      runEvaluation({
        service,
        model: 'softmax',
        dataset: await open('abort'),
        signal: AbortSignal.abort(reason),
      }),
    ).rejects.toBe(reason);
  });

  it('fails on an image the model cannot read, naming it (EVAL_INPUT_INVALID)', async () => {
    const folder = await writeMaskFolder(join(dir, 'corrupt'), exactRows(2), [
      'background',
      'red',
      'green',
      'blue',
    ]);
    await writeFile(join(folder, 'images/1.png'), 'not an image at all');
    const error = await caught(() =>
      open('corrupt').then((dataset) => runEvaluation({ service, model: 'softmax', dataset })),
    );
    expect(error.code).toBe('EVAL_INPUT_INVALID');
    expect(error.message).toMatch(/image images\/1.png: /);
  });
});

describe('refusals before any image runs', () => {
  it('unknown model or version', async () => {
    await writeMaskFolder(join(dir, 'ok'), exactRows(1), ['background', 'red', 'green', 'blue']);
    const dataset = await open('ok');
    expect((await caught(() => runEvaluation({ service, model: 'nope', dataset }))).code).toBe(
      'MODEL_NOT_FOUND',
    );
    expect((await caught(() => runEvaluation({ service, model: 'softmax', version: 9, dataset }))).code).toBe(
      'MODEL_VERSION_NOT_FOUND',
    );
  });

  it('classes that do not match, naming both lists (EVAL_CLASSES_MISMATCH)', async () => {
    await writeMaskFolder(join(dir, 'people'), exactRows(1), ['background', 'person']);
    const error = await caught(async () =>
      runEvaluation({ service, model: 'softmax', dataset: await open('people') }),
    );
    expect(error.code).toBe('EVAL_CLASSES_MISMATCH');
    expect(error.details).toMatchObject({
      model: 'softmax',
      dataset_classes: 'background, person',
      model_classes: 'background, red, green, blue',
    });
    expect(error.message).toMatch(
      /not classes of the model: person; not classes of the dataset: red, green, blue/,
    );
  });

  it('another task (EVAL_TASK_MISMATCH), both ways', async () => {
    await writeCocoFolder(join(dir, 'coco-task'));
    await writeMaskFolder(join(dir, 'masks-task'), exactRows(1), ['background', 'red', 'green', 'blue']);
    const onCoco = await caught(async () =>
      runEvaluation({ service, model: 'softmax', dataset: await open('coco-task') }),
    );
    expect(onCoco.code).toBe('EVAL_TASK_MISMATCH');
    const onMasks = await caught(async () =>
      runEvaluation({ service, model: 'yolo', dataset: await open('masks-task') }),
    );
    expect(onMasks.code).toBe('EVAL_TASK_MISMATCH');
  });

  it('an empty dataset (EVAL_DATASET_EMPTY)', async () => {
    const folder = await writeCocoFolder(join(dir, 'coco-empty'));
    await writeFile(
      join(folder, 'annotations', 'instances.json'),
      JSON.stringify({ images: [], annotations: [], categories: [{ id: 1, name: 'cat' }] }),
    );
    const error = await caught(async () =>
      runEvaluation({ service, model: 'yolo', dataset: await open('coco-empty') }),
    );
    expect(error.code).toBe('EVAL_DATASET_EMPTY');
  });
});

describe('instances', () => {
  it('answers COCO detections with the dataset category ids, matched by name', async () => {
    await writeCocoFolder(join(dir, 'coco'));
    const run = await runEvaluation({ service, model: 'yolo', dataset: await open('coco') });
    if (run.kind !== 'instances') throw new Error('expected an instance run');
    expect(run.categories).toMatch(/dataset categories file/);
    expect(run.detections.map((d) => [d.image_id, d.category_name, d.category_id, d.score])).toEqual([
      [7, 'cat', 17, 0.9],
      [7, 'dog', 18, 0.7],
      [7, 'dog', 18, 0.6],
    ]);
    expect(run.detections[0]).toMatchObject({ file_name: 'scene.png', bbox: [8, 8, 24, 32], area: 512 });
    expect(run.detections[0].segmentation.size).toEqual([64, 64]);
  });

  it('leaves out detections of labels the dataset does not have, and refuses categories the model lacks', async () => {
    await writeCocoFolder(join(dir, 'coco-cats'), [{ id: 1, name: 'cat' }]);
    const run = await runEvaluation({ service, model: 'yolo', dataset: await open('coco-cats') });
    if (run.kind !== 'instances') throw new Error('expected an instance run');
    expect(run.detections.map((d) => [d.category_name, d.category_id])).toEqual([['cat', 1]]);
    await writeCocoFolder(join(dir, 'coco-birds'), [
      { id: 1, name: 'cat' },
      { id: 2, name: 'dog' },
      { id: 3, name: 'bird' },
    ]);
    const error = await caught(async () =>
      runEvaluation({ service, model: 'yolo', dataset: await open('coco-birds') }),
    );
    expect(error.code).toBe('EVAL_CLASSES_MISMATCH');
    expect(error.message).toMatch(/categories that are not labels of the model: bird/);
  });
});
