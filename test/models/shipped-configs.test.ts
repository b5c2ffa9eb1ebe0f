import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ModelRepository, readModelConfig } from '../../src/models/index.js';
import { describeWithShared, SHARED_DIR } from '../helpers/shared.js';

const REPOSITORY = fileURLToPath(new URL('../../model-repository', import.meta.url));

const expected = {
  'mediapipe-selfie': {
    task: 'binary',
    decoder: 'sigmoid',
    input: 'input_1:0',
    dims: [1, 256, 256, 3],
    labels: 2,
  },
  'pan-skin-clothes-hair': {
    task: 'semantic',
    decoder: 'sigmoid-multilabel',
    input: 'x.1',
    dims: [1, 3, 512, 512],
    // skin, clothes, hair from labels.txt, and background: class 0 of the answers, listed as they name it.
    labels: 4,
  },
  'sinet-portrait': { task: 'binary', decoder: 'softmax', input: 'data', dims: [1, 3, 320, 320], labels: 2 },
  'yolov8n-seg': {
    task: 'instance',
    decoder: 'yolo-seg',
    input: 'images',
    dims: [1, 3, 320, 320],
    labels: 80,
  },
} as const;

describe('shipped model configs', () => {
  it('ship exactly the four models, config.yaml only', () => {
    expect(readdirSync(REPOSITORY).sort()).toEqual(Object.keys(expected));
    for (const model of Object.keys(expected))
      expect(readdirSync(join(REPOSITORY, model))).toEqual(['config.yaml']);
  });

  it.each(Object.entries(expected))('%s parses', async (model, want) => {
    const config = await readModelConfig(join(REPOSITORY, model, 'config.yaml'));
    expect(config).toMatchObject({ task: want.task, decoder: want.decoder, input: { name: want.input } });
  });

  it('express SINet normalisation (x - mean) / std / 255 with scale 1', async () => {
    const { input } = await readModelConfig(join(REPOSITORY, 'sinet-portrait', 'config.yaml'));
    expect(input).toMatchObject({ color: 'BGR', scale: 1, mean: [102.890434, 111.25247, 126.91212] });
    expect(input.std.map((s) => s / 255)).toEqual(
      [62.93292, 62.82138, 66.355705].map((s) => expect.closeTo(s, 6)),
    );
  });
});

describeWithShared('shipped model configs with the shared models', ['models'], () => {
  let repository: ModelRepository;

  beforeAll(async () => {
    // The configs find the shared folder through SEGSERVE_SHARED, or ../../../shared relative to themselves.
    repository = await ModelRepository.open(REPOSITORY, {
      env: { ...process.env, SEGSERVE_SHARED: SHARED_DIR },
    });
  });
  afterAll(() => repository?.close());

  it.each(Object.entries(expected))('%s loads and reports its input', (model, want) => {
    const status = repository.get(model);
    expect(status?.state, status?.error?.message).toBe('ready');
    expect(status?.labels).toHaveLength(want.labels);
    if (model === 'pan-skin-clothes-hair')
      expect(status?.labels).toEqual(['background', 'skin', 'clothes', 'hair']);
    const loaded = repository.resolve(model);
    expect(loaded.inputName).toBe(want.input);
    expect(loaded.runtime.inputs).toEqual([{ name: want.input, type: 'float32', dims: want.dims }]);
  });

  it('serves YOLO version 2 (float32) by the latest-1 policy', () => {
    expect(repository.get('yolov8n-seg')?.versions.map((v) => [v.version, v.state])).toEqual([[2, 'ready']]);
    expect(repository.resolve('yolov8n-seg').modelPath).toMatch(/yolov8n-seg_fp32_dequantized\.onnx$/);
  });
});
