/** Importing into a model repository: files written, the config inferred, refusals, the CLI and the bundled model. */
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadModelDefinition } from '../../../src/models/load-config.js';
import {
  importBundledSelfieModel,
  importTflite,
  readTflite,
  SUPPORTED_OPERATORS,
} from '../../../src/models/tflite/index.js';
import { runCli } from '../../helpers/cli.js';
import { type ModelSpec, type OpName, options, writeTflite } from './tflite-writer.js';

let root: string;
let repository: string;

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'segserve-tflite-'));
  repository = join(root, 'models');
});
afterEach(() => rm(root, { recursive: true, force: true }));

/** A 4x4 RGB model: 1x1 convolution to `channels` scores, then `last` (LOGISTIC, SOFTMAX or nothing). */
async function tinyModel(channels: number, last?: OpName): Promise<string> {
  const spec: ModelSpec = {
    tensors: [
      { name: 'pixels', shape: [1, 4, 4, 3] },
      { name: 'logits', shape: [1, 4, 4, channels] },
      { shape: [channels, 1, 1, 3], data: Array.from({ length: 3 * channels }, (_, i) => i / 10) },
      { name: 'scores', shape: [1, 4, 4, channels] },
    ],
    operators: [
      { op: 'CONV_2D', inputs: [0, 2], outputs: [1], options: options.conv2d() },
      ...(last
        ? [
            {
              op: last,
              inputs: [1],
              outputs: [3],
              options: last === 'SOFTMAX' ? options.softmax(1) : undefined,
            },
          ]
        : []),
    ],
    inputs: [0],
    outputs: [last ? 3 : 1],
  };
  const file = join(root, `tiny-${channels}-${last ?? 'none'}.tflite`);
  await writeFile(file, writeTflite(spec));
  return file;
}

describe('importTflite', () => {
  it('writes <repository>/<name>/1/model.onnx and a config.yaml the repository loads', async () => {
    const file = await tinyModel(1, 'LOGISTIC');
    const result = await importTflite(file, { name: 'fg', repository, labels: ['person'] });
    expect(result).toEqual({
      modelDir: join(repository, 'fg'),
      version: 1,
      onnxPath: join(repository, 'fg', '1', 'model.onnx'),
      configPath: join(repository, 'fg', 'config.yaml'),
      configWritten: true,
    });
    const definition = await loadModelDefinition(result.modelDir);
    expect(definition.name).toBe('fg');
    expect(definition.labels).toEqual(['background', 'person']);
    expect(definition.versions.map((v) => [v.version, v.modelPath, v.problem])).toEqual([
      [1, result.onnxPath, undefined],
    ]);
    expect(definition.config).toMatchObject({
      task: 'binary',
      decoder: 'sigmoid',
      input: {
        name: 'pixels',
        width: 4,
        height: 4,
        layout: 'NHWC',
        resize: 'stretch',
        color: 'RGB',
        scale: 1 / 255,
      },
      output: { names: { scores: 'scores' }, layout: 'NHWC', activation: 'applied' },
    });
    expect(await readFile(result.configPath, 'utf8')).toMatch(
      /Imported by segserve from tiny-1-LOGISTIC\.tflite/,
    );
    // Nothing else is left in the model folder (no staging folders or temporary files).
    expect((await readdir(result.modelDir)).sort()).toEqual(['1', 'config.yaml']);
  });

  it('infers logits when the model does not end in LOGISTIC / SOFTMAX, and softmax for several channels', async () => {
    await importTflite(await tinyModel(1), { name: 'raw', repository, labels: ['background', 'cat'] });
    expect((await loadModelDefinition(join(repository, 'raw'))).config.output.activation).toBe('logits');
    await importTflite(await tinyModel(3, 'SOFTMAX'), {
      name: 'parts',
      repository,
      labels: ['bg', 'a', 'b'],
    });
    expect((await loadModelDefinition(join(repository, 'parts'))).config).toMatchObject({
      task: 'semantic',
      decoder: 'softmax',
      output: { activation: 'applied' },
    });
  });

  it('adds later imports as new versions and keeps the existing config', async () => {
    const file = await tinyModel(1, 'LOGISTIC');
    await importTflite(file, { name: 'fg', repository, labels: ['person'] });
    const config = await readFile(join(repository, 'fg', 'config.yaml'), 'utf8');
    const second = await importTflite(file, { name: 'fg', repository, labels: ['other'] });
    expect([second.version, second.configWritten]).toEqual([2, false]);
    expect(await readFile(second.configPath, 'utf8')).toBe(config);
    await expect(
      importTflite(file, { name: 'fg', repository, labels: ['person'], version: 2 }),
    ).rejects.toThrow(/already exists/);
    // A model whose tensors do not fit the existing config is refused rather than added as a broken version.
    await expect(
      importTflite(await tinyModel(1), { name: 'fg', repository, labels: ['person'] }),
    ).rejects.toThrow(/config\.yaml expects scores output "scores"; this model has .* output "logits"/);
    expect((await readdir(join(repository, 'fg'))).sort()).toEqual(['1', '2', 'config.yaml']);
  });

  it('asks for labels (and names --task) when it cannot know them, writing nothing', async () => {
    const file = await tinyModel(3, 'SOFTMAX');
    await expect(importTflite(file, { name: 'x', repository })).rejects.toThrow(
      expect.objectContaining({
        code: 'INVALID_ARGUMENT',
        message: expect.stringMatching(/--labels.*3\).*--task/),
      }),
    );
    await expect(importTflite(file, { name: 'x', repository, labels: ['a', 'b'] })).rejects.toThrow(
      /--labels has 2 names; give one name per class \(3\)/,
    );
    await expect(
      importTflite(await tinyModel(2), { name: 'x', repository, labels: ['a', 'b'] }),
    ).rejects.toThrow(/2 channels: give --task binary/);
    await expect(readdir(repository)).rejects.toThrow(/ENOENT/);
  });

  it('refuses bad names, missing files and non-TFLite files', async () => {
    const file = await tinyModel(1, 'LOGISTIC');
    await expect(importTflite(file, { name: '../up', repository, labels: ['p'] })).rejects.toThrow(
      /model name/,
    );
    await expect(importTflite(join(root, 'missing.tflite'), { name: 'a', repository })).rejects.toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT' }),
    );
    const notModel = join(root, 'notes.tflite');
    await writeFile(notModel, 'not a model at all');
    await expect(importTflite(notModel, { name: 'a', repository })).rejects.toThrow(
      expect.objectContaining({ code: 'TFLITE_INVALID' }),
    );
  });
});

describe('segserve models import', () => {
  it('imports a model and reports where it went; errors exit 2 with the code', async () => {
    const file = await tinyModel(1, 'LOGISTIC');
    const ok = await runCli([
      'models',
      'import',
      file,
      '--name',
      'fg',
      '--labels',
      'background, person',
      '--models',
      repository,
    ]);
    expect(ok.stderr).toBe('');
    expect(ok.stdout).toContain(`imported fg version 1\n  ${join(repository, 'fg', '1', 'model.onnx')}`);
    expect(ok.code).toBe(0);
    expect((await loadModelDefinition(join(repository, 'fg'))).labels).toEqual(['background', 'person']);
    const refused = await runCli(['models', 'import', file, '--name', 'other', '--models', repository]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/^error INVALID_ARGUMENT: .*--labels/);
  });
});

describe('importBundledSelfieModel', () => {
  it('supports every operator of both selfie models in the npm package', async () => {
    const require = createRequire(import.meta.url);
    for (const file of ['selfie_segmentation.tflite', 'selfie_segmentation_landscape.tflite']) {
      const bytes = await readFile(require.resolve(`@mediapipe/selfie_segmentation/${file}`));
      const used = new Set(readTflite(bytes).subgraphs[0].operators.map((op) => op.name));
      expect(
        [...used].filter((name) => !SUPPORTED_OPERATORS.includes(name)),
        file,
      ).toEqual([]);
      expect(used).toContain('Convolution2DTransposeBias');
    }
  });

  it('imports MediaPipe selfie segmentation from the npm package as model "person", Apache-2.0', async () => {
    const result = await importBundledSelfieModel(repository);
    expect([result.modelDir, result.version]).toEqual([join(repository, 'person'), 1]);
    const config = await readFile(result.configPath, 'utf8');
    expect(config).toMatch(/^# Licence: Apache-2\.0/m);
    const definition = await loadModelDefinition(result.modelDir);
    expect(definition.labels).toEqual(['background', 'person']);
    expect(definition.config).toMatchObject({
      task: 'binary',
      decoder: 'sigmoid',
      input: { name: 'input_1', width: 256, height: 256, layout: 'NHWC' },
      output: { names: { scores: 'activation_10' }, layout: 'NHWC', activation: 'applied' },
    });
    const session = await ort.InferenceSession.create(result.onnxPath);
    const out = await session.run({
      input_1: new ort.Tensor('float32', new Float32Array(256 * 256 * 3).fill(0.5), [1, 256, 256, 3]),
    });
    await session.release();
    const scores = out.activation_10;
    expect(scores.dims).toEqual([1, 256, 256, 1]);
    expect((scores.data as Float32Array).every((p) => p >= 0 && p <= 1)).toBe(true);
  });
});
