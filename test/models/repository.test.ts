import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ModelRepository, type RepositoryEvent } from '../../src/models/index.js';
import { writeModel } from '../helpers/onnx-builder.js';
import { writeConvModel } from '../runtime/tiny-models.js';
import { SEMANTIC_CONFIG, writeModelFolder } from './model-folders.js';

let root: string;

/** A Conv model whose input has a fixed 8x8 size. */
function writeFixedModel(path: string) {
  return writeModel(path, {
    inputs: [{ name: 'images', dims: [1, 3, 8, 8] }],
    outputs: [{ name: 'scores', dims: [1, 2, 8, 8] }],
    initializers: [{ name: 'w', dims: [2, 3, 1, 1], values: [1, 0, 0, 0, 1, 0] }],
    nodes: [{ op: 'Conv', inputs: ['images', 'w'], outputs: ['scores'] }],
  });
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'segserve-repo-'));
  await writeModelFolder(join(root, 'good'), {
    config: `${SEMANTIC_CONFIG}version_policy: {latest: 2}\n`,
    labels: 'background\nperson\n',
    versions: { 1: writeConvModel, 2: writeConvModel, 3: writeConvModel },
  });
  await writeModelFolder(join(root, 'corrupt'), {
    config: SEMANTIC_CONFIG,
    labels: 'a\nb\n',
    versions: { 1: 'definitely not an ONNX protobuf' },
  });
  await writeModelFolder(join(root, 'bad-config'), {
    config: 'task: semantic\ndecoder: softmax\ninput: {width: 4, height: 4, foo: 1}\n',
    labels: 'a\n',
    versions: { 1: writeConvModel },
  });
  await writeModelFolder(join(root, 'wrong-input-name'), {
    config: 'task: semantic\ndecoder: softmax\ninput: {name: pixels, width: 4, height: 4}\n',
    labels: 'a\nb\n',
    versions: { 1: writeConvModel },
  });
  await writeModelFolder(join(root, 'wrong-size'), {
    config: SEMANTIC_CONFIG,
    labels: 'a\nb\n',
    versions: { 1: writeFixedModel },
  });
  // Neither hidden folders nor loose files are models.
  await writeModelFolder(join(root, '.cache'), { config: 'garbage: [' });
  await writeFile(join(root, 'README.md'), 'models live here');
});

afterAll(() => rm(root, { recursive: true, force: true }));

describe('ModelRepository.open with good and broken models side by side', () => {
  let repository: ModelRepository;
  const events: RepositoryEvent[] = [];

  beforeAll(async () => {
    repository = await ModelRepository.open(root, { log: (e) => events.push(e) });
  });
  afterAll(() => repository.close());

  it('lists every model folder by name with its state', () => {
    expect(repository.list().map((m) => [m.name, m.state])).toEqual([
      ['bad-config', 'failed'],
      ['corrupt', 'failed'],
      ['good', 'ready'],
      ['wrong-input-name', 'failed'],
      ['wrong-size', 'failed'],
    ]);
  });

  it('loads the versions the policy picks and describes the model', () => {
    const good = repository.get('good');
    expect(good).toMatchObject({
      name: 'good',
      dir: join(root, 'good'),
      task: 'semantic',
      decoder: 'softmax',
      labels: ['background', 'person'],
      input: { width: 4, height: 4, layout: 'NCHW' },
      state: 'ready',
    });
    expect(good?.error).toBeUndefined();
    expect(good?.versions).toEqual([
      {
        version: 3,
        state: 'ready',
        modelPath: join(root, 'good', '3', 'model.onnx'),
        loadSeconds: expect.any(Number),
      },
      {
        version: 2,
        state: 'ready',
        modelPath: join(root, 'good', '2', 'model.onnx'),
        loadSeconds: expect.any(Number),
      },
    ]);
  });

  it('keeps the reason of every failure', () => {
    const corrupt = repository.get('corrupt');
    expect(corrupt?.error?.code).toBe('MODEL_LOAD_FAILED');
    expect(corrupt?.versions[0]).toMatchObject({
      version: 1,
      state: 'failed',
      error: { code: 'MODEL_LOAD_FAILED' },
    });

    const badConfig = repository.get('bad-config');
    expect(badConfig?.error?.code).toBe('CONFIG_INVALID');
    expect(badConfig?.error?.message).toContain('input.foo: unknown field');
    expect(badConfig?.versions).toEqual([]);

    expect(repository.get('wrong-input-name')?.error?.message).toContain(
      'input.name "pixels" is not an input of the model (inputs: images)',
    );
    expect(repository.get('wrong-size')?.error?.message).toContain(
      'model input "images" is float32 [1, 3, 8, 8]; with input.layout NCHW that is 8x8, but input is 4x4',
    );
  });

  it('resolves the newest ready version, or the one asked for, and runs it', async () => {
    const loaded = repository.resolve('good');
    expect(loaded).toMatchObject({
      name: 'good',
      version: 3,
      inputName: 'images',
      labels: ['background', 'person'],
    });
    expect(loaded.config.input.width).toBe(4);
    expect(repository.resolve('good', 2).version).toBe(2);
    const run = await loaded.runtime.run({
      images: { type: 'float32', dims: [1, 3, 1, 1], data: Float32Array.of(1, 2, 3) },
    });
    expect(Array.from(run.outputs?.scores.data as Float32Array)).toEqual([5, 8]);
  });

  it('throws catalogue errors for unknown models, unloaded versions and failed models', () => {
    expect(() => repository.resolve('nope')).toThrow(expect.objectContaining({ code: 'MODEL_NOT_FOUND' }));
    expect(() => repository.resolve('good', 1)).toThrow(
      expect.objectContaining({ code: 'MODEL_VERSION_NOT_FOUND', details: { model: 'good', version: 1 } }),
    );
    expect(() => repository.resolve('corrupt')).toThrow(
      expect.objectContaining({
        code: 'MODEL_NOT_READY',
        message: expect.stringContaining('failed to load'),
      }),
    );
    expect(() => repository.resolve('corrupt', 1)).toThrow(
      expect.objectContaining({ code: 'MODEL_NOT_READY' }),
    );
  });

  it('reports loading progress through the log', () => {
    expect(events).toContainEqual(
      expect.objectContaining({ type: 'model-loading', model: 'good', versions: [3, 2] }),
    );
    expect(events).toContainEqual(
      expect.objectContaining({ type: 'version-ready', model: 'good', version: 3 }),
    );
    expect(events).toContainEqual(
      expect.objectContaining({ type: 'version-failed', model: 'corrupt', version: 1 }),
    );
    expect(events).toContainEqual(expect.objectContaining({ type: 'model-failed', model: 'bad-config' }));
  });
});

describe('ModelRepository options', () => {
  it('loads only the models asked for', async () => {
    const repository = await ModelRepository.open(root, { models: ['good', 'absent'] });
    try {
      expect(repository.list().map((m) => m.name)).toEqual(['good']);
      expect(repository.get('absent')).toBeUndefined();
    } finally {
      await repository.close();
    }
  });

  it('serves a single model folder', async () => {
    const repository = await ModelRepository.openModelFolder(join(root, 'good'));
    try {
      expect(repository.list().map((m) => [m.name, m.state])).toEqual([['good', 'ready']]);
    } finally {
      await repository.close();
    }
  });

  it('reports a second folder claiming a name already served', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'segserve-dup-'));
    try {
      await writeModelFolder(join(dir, 'a'), {
        config: `${SEMANTIC_CONFIG}name: same\n`,
        labels: 'x\ny\n',
        versions: { 1: writeConvModel },
      });
      await writeModelFolder(join(dir, 'b'), {
        config: `${SEMANTIC_CONFIG}name: same\n`,
        labels: 'x\ny\n',
        versions: { 1: writeConvModel },
      });
      const repository = await ModelRepository.open(dir);
      try {
        expect(repository.get('same')?.state).toBe('ready');
        const duplicate = repository.list().find((m) => m.state === 'failed');
        // Folders are named, not shown with the server's path (the log has the full paths).
        expect(duplicate?.error?.message).toBe(
          'Invalid model configuration b/config.yaml: name: "same" is already served from a',
        );
      } finally {
        await repository.close();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('refuses a repository folder that cannot be read', async () => {
    await expect(ModelRepository.open(join(root, 'missing'))).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
  });

  const cudaInstalled = existsSync(
    fileURLToPath(
      new URL(
        `../../node_modules/onnxruntime-node/bin/napi-v6/${process.platform}/${process.arch}/libonnxruntime_providers_cuda.so`,
        import.meta.url,
      ),
    ),
  );
  it.skipIf(cudaInstalled)(
    'fails models with EXECUTION_PROVIDER_UNAVAILABLE when CUDA is asked for on a CPU machine',
    async () => {
      const repository = await ModelRepository.open(root, { models: ['good'], executionProvider: 'cuda' });
      try {
        expect(repository.get('good')).toMatchObject({
          state: 'failed',
          error: { code: 'EXECUTION_PROVIDER_UNAVAILABLE' },
        });
      } finally {
        await repository.close();
      }
    },
  );
});
