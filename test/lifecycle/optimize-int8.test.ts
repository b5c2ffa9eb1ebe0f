/**
 * `segserve models optimize --int8` end to end (runOptimize, what the command runs): on yolov8n-seg from
 * ../shared (the fastest shared model that shows it), a version calibrated on black images is refused by the
 * accuracy guard and nothing is written, while one calibrated on real photos is accepted and added as a version
 * that loads; bad input (a calibration folder with no image, a model with nothing to quantise) is refused
 * before anything is written. Few images everywhere, to keep the suite short; the numbers of a full run are in
 * the README.
 */
import { cp, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { type OptimizeCommandOptions, runOptimize } from '../../src/cli/optimize.js';
import { ModelRepository } from '../../src/models/index.js';
import { codeOf } from '../helpers/caught.js';
import { buildModel } from '../helpers/onnx-builder.js';
import { PROJECT_ROOT } from '../helpers/paths.js';
import { describeWithShared, SHARED_DIR, sharedPath } from '../helpers/shared.js';

const COCO = ['datasets', 'coco-val2017-mini'];
const silent = () => ({ tick() {}, stop() {} });
let scratch: string;

function options(dir: string, overrides: Partial<OptimizeCommandOptions>): OptimizeCommandOptions {
  return {
    int8: true,
    calibration: join(dir, 'calibration'),
    models: join(dir, 'models'),
    method: 'minmax',
    percentile: 99.99,
    exclude: [],
    maxLoss: 1,
    minAgreement: 0.8,
    autoExclude: 0,
    json: false,
    dataDir: join(dir, 'data'),
    progress: silent,
    ...overrides,
  };
}

/** Version folders of a model, and what is left in the repository's staging folder. */
async function written(dir: string, model: string): Promise<{ versions: string[]; staged: string[] }> {
  const entries = await readdir(join(dir, 'models', model));
  const staged = await readdir(join(dir, 'models', '.uploads')).catch(() => []);
  return { versions: entries.filter((e) => /^[0-9]+$/.test(e)), staged };
}

beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'segserve-int8-'));
  // The copied config names its files as ${SEGSERVE_SHARED:-<path relative to model-repository>}.
  process.env.SEGSERVE_SHARED = SHARED_DIR;
});

afterAll(async () => {
  await rm(scratch, { recursive: true, force: true });
});

describe('optimize --int8 on bad input', () => {
  it('refuses a model with no Conv, MatMul or Gemm by name, and writes nothing', async () => {
    const dir = join(scratch, 'tiny');
    const model = join(dir, 'models', 'tiny-sigmoid');
    await mkdir(join(model, '1'), { recursive: true });
    await writeFile(
      join(model, '1', 'model.onnx'),
      buildModel({
        inputs: [{ name: 'image', dims: [1, 3, 8, 8] }],
        outputs: [{ name: 'scores', dims: [1, 3, 8, 8] }],
        nodes: [{ op: 'Sigmoid', inputs: ['image'], outputs: ['scores'] }],
      }),
    );
    await writeFile(
      join(model, 'config.yaml'),
      stringify({
        task: 'semantic',
        decoder: 'sigmoid-multilabel',
        input: { name: 'image', width: 8, height: 8, resize: 'stretch', layout: 'NCHW' },
        output: { layout: 'NCHW', activation: 'applied' },
        labels: ['a', 'b', 'c'],
      }),
    );
    await mkdir(join(dir, 'calibration'));
    await sharp({ create: { width: 8, height: 8, channels: 3, background: '#808080' } })
      .png()
      .toFile(join(dir, 'calibration', 'grey.png'));
    const error = runOptimize('tiny-sigmoid', options(dir, {}));
    await expect(error).rejects.toThrow(/no operator it quantises: it covers Conv, MatMul, Gemm.*Sigmoid x1/);
    await expect(codeOf(runOptimize('tiny-sigmoid', options(dir, {})))).resolves.toBe('QUANTIZE_UNSUPPORTED');
    expect(await written(dir, 'tiny-sigmoid')).toEqual({ versions: ['1'], staged: [] });
  });
});

describeWithShared('optimize --int8 on yolov8n-seg', [...COCO, 'images'], () => {
  const model = 'yolov8n-seg';
  let dir: string;

  beforeAll(async () => {
    dir = join(scratch, 'yolo');
    await mkdir(join(dir, 'models', model), { recursive: true });
    await cp(
      join(PROJECT_ROOT, 'model-repository', model, 'config.yaml'),
      join(dir, 'models', model, 'config.yaml'),
    );
    const images = (await readdir(sharedPath(...COCO, 'images'))).sort();
    // Calibration: 4 photos; the guard: 6 others, labelled (a COCO file of just those) and for agreement.
    const folders = { calibration: images.slice(0, 4), agreement: images.slice(4, 10) };
    for (const [folder, files] of Object.entries(folders)) {
      await mkdir(join(dir, folder));
      for (const f of files) await cp(sharedPath(...COCO, 'images', f), join(dir, folder, f));
    }
    const coco = JSON.parse(await readFile(sharedPath(...COCO, 'annotations', 'instances.json'), 'utf8'));
    const kept = coco.images.filter((i: { file_name: string }) => folders.agreement.includes(i.file_name));
    const ids = new Set(kept.map((i: { id: number }) => i.id));
    coco.images = kept;
    coco.annotations = coco.annotations.filter((a: { image_id: number }) => ids.has(a.image_id));
    await writeFile(join(dir, 'labelled.json'), JSON.stringify(coco));
    // The deliberately wrong calibration set: black images, whose activations span a sliver of real ones.
    await mkdir(join(dir, 'black'));
    for (const name of ['a.jpg', 'b.jpg']) {
      await sharp({ create: { width: 640, height: 480, channels: 3, background: '#000000' } })
        .jpeg()
        .toFile(join(dir, 'black', name));
    }
    await mkdir(join(dir, 'empty'));
    await writeFile(join(dir, 'empty', 'notes.txt'), 'no images here');
  });

  const guard = () => ({
    evalDataset: join(dir, 'labelled.json'),
    evalImages: join(dir, 'agreement'),
    agreementImages: join(dir, 'agreement'),
    // Six labelled images make a coarse mask AP: the bound is wide enough for a sound int8 version and far
    // narrower than what a wrong calibration loses.
    maxLoss: 10,
    minAgreement: 0.6,
  });

  it('refuses a calibration folder with no images, and writes nothing', async () => {
    const error = runOptimize(model, options(dir, { calibration: join(dir, 'empty'), ...guard() }));
    await expect(error).rejects.toMatchObject({ code: 'CALIBRATION_EMPTY' });
    expect(await written(dir, model)).toEqual({ versions: [], staged: [] });
  });

  it('refuses the version made with black calibration images, and writes nothing', async () => {
    const error = runOptimize(model, options(dir, { calibration: join(dir, 'black'), ...guard() }));
    await expect(error).rejects.toMatchObject({ code: 'INT8_GUARD_REFUSED' });
    await expect(error).rejects.toThrow(/mask_ap fell from .* points lost, over the bound of 10/);
    expect(await written(dir, model)).toEqual({ versions: [], staged: [] });
  });

  it('accepts the version calibrated on photos and adds it as the next version, which loads', async () => {
    const outcome = await runOptimize(model, options(dir, guard()));
    expect(outcome.upload.version).toBe(3);
    expect(outcome.quantized).toBe(76);
    expect(outcome.guard.refusals).toEqual([]);
    expect(outcome.guard.metric?.loss).toBeLessThanOrEqual(10);
    expect(outcome.guard.agreement?.mean).toBeGreaterThanOrEqual(0.6);
    expect(await written(dir, model)).toEqual({ versions: ['3'], staged: [] });
    const repository = await ModelRepository.open(join(dir, 'models'), { models: [model] });
    try {
      expect(repository.resolve(model, 3).version).toBe(3);
    } finally {
      await repository.close();
    }
  });
});
