/**
 * `segserve train` refusing what it cannot train on, and a trainer that crashes half-way, each reported clearly
 * (TRAINING_FAILED with the trainer's own code and the file it names), with nothing uploaded: the server ends with
 * no version of the model, and the run history says failed. A tiny dataset that trains keeps the happy path honest.
 * Needs Debian's python3-torch; says SKIPPED without it.
 */
import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningServer, startServer } from '../../src/host/server.js';
import { AdminKeys } from '../../src/http/admin-auth.js';
import { pythonOf } from '../../src/learning/training/trainer.js';
import type { TrainingRunJson } from '../../src/learning/training/wire-types.js';
import { runCli } from '../helpers/cli.js';
import { ADMIN_KEY } from '../helpers/lifecycle.js';
import { SQUARES_SIZE, squaresMaskFolder } from '../helpers/mask-folders.js';
import { testStorage } from '../helpers/storage.js';

const torch = spawnSync(pythonOf(), ['-c', 'import torch'], { stdio: 'ignore' }).status === 0;
if (!torch)
  console.warn(`SKIPPED segserve train: no PyTorch in ${pythonOf()} (apt-get install python3-torch)`);

describe.skipIf(!torch)('segserve train', () => {
  let dir: string;
  let server: RunningServer;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'segserve-train-cli-'));
    await mkdir(join(dir, 'models'));
    server = await startServer({
      modelsDir: join(dir, 'models'),
      port: 0,
      host: '127.0.0.1',
      logger: false,
      predictionLog: 'off',
      storage: testStorage(dir),
      adminKeys: AdminKeys.fromEntries([{ text: ADMIN_KEY, where: 'test' }]),
    });
  }, 120_000);

  afterAll(async () => {
    await server?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const train = (data: string, extra: string[] = [], env: NodeJS.ProcessEnv = {}) =>
    runCli(
      [
        'train',
        'unet',
        '--model',
        'squares',
        '--data',
        data,
        '--server',
        server.url,
        '--push',
        '--base',
        '4',
        '--depth',
        '2',
        '--crop',
        '16',
        '--iterations',
        '8',
        '--epochs',
        '2',
        ...extra,
      ],
      { SEGSERVE_ADMIN_KEY: ADMIN_KEY, ...env },
    );

  it('refuses bad datasets and a crash half-way clearly, uploading nothing', {
    timeout: 600_000,
  }, async () => {
    const cases: Array<[string, () => Promise<void>, string, NodeJS.ProcessEnv?]> = [
      [
        'empty',
        async () => {
          await mkdir(join(dir, 'empty', 'images'), { recursive: true });
          await writeFile(join(dir, 'empty', 'manifest.csv'), 'image,mask,split\n');
          await writeFile(join(dir, 'empty', 'labels.txt'), 'background\nsquare\n');
        },
        'EMPTY_DATASET',
      ],
      [
        'sizes',
        () => squaresMaskFolder(join(dir, 'sizes'), { maskSize: SQUARES_SIZE / 2 }),
        'MASK_SIZE_MISMATCH',
      ],
      ['classes', () => squaresMaskFolder(join(dir, 'classes'), { maskValue: 7 }), 'MASK_VALUES'],
      [
        'crash',
        () => squaresMaskFolder(join(dir, 'crash')),
        'INTERNAL',
        { SEGSERVE_TRAIN_FAIL_AT_ITERATION: '3' },
      ],
    ];
    for (const [name, make, code, env] of cases) {
      await make();
      const run = await train(join(dir, name), [], env);
      expect({ name, code: run.code }).toEqual({ name, code: 2 });
      expect(run.stderr).toContain('TRAINING_FAILED');
      expect(run.stderr).toContain(code);
    }
    // Nothing uploaded: the model does not exist, and each run is recorded as failed with its reason.
    expect((await fetch(`${server.url}/v1/models/squares`)).status).toBe(404);
    const { runs } = (await (await fetch(`${server.url}/v1/models/squares/training-runs`)).json()) as {
      runs: TrainingRunJson[];
    };
    expect(runs.map((run) => run.state)).toEqual(['failed', 'failed', 'failed', 'failed']);
    expect(
      runs.every((run) => (run.error ?? '').includes('TRAINING_FAILED') || (run.error ?? '').length > 0),
    ).toBe(true);
  });

  it('trains a tiny dataset, checks it in onnxruntime, uploads it and records the run', {
    timeout: 600_000,
  }, async () => {
    await squaresMaskFolder(join(dir, 'good'));
    const run = await train(join(dir, 'good'), ['--seed', '1']);
    expect(run.code, run.stderr.slice(-2000)).toBe(0);
    expect(run.stdout).toContain('onnxruntime matches PyTorch');
    expect(run.stdout).toContain('uploaded as squares version 1');
    const { runs } = (await (await fetch(`${server.url}/v1/models/squares/training-runs`)).json()) as {
      runs: TrainingRunJson[];
    };
    expect(runs[0]).toMatchObject({ state: 'succeeded', produced: { version: 1 } });
    expect(runs[0].epochs).toHaveLength(2);
    expect(runs[0].code_version).toMatch(/sources:[0-9a-f]{12}/);
  });
});
