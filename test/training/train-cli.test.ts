/**
 * `segserve train` refusing what it cannot train on, and a trainer that crashes half-way, each reported clearly
 * (TRAINING_FAILED with the trainer's own code and the file it names), with nothing uploaded: the server ends with
 * no version of the model, and the run history says failed. A tiny dataset that trains keeps the happy path honest.
 * Needs Debian's python3-torch; says SKIPPED without it.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningServer } from '../../src/host/server.js';
import { importMaskFolder } from '../../src/learning/datasets/index.js';
import { runHook } from '../../src/learning/retraining/hooks.js';
import { pythonOf } from '../../src/learning/training/trainer.js';
import type { TrainingRunJson } from '../../src/learning/training/wire-types.js';
import type { ModelJson } from '../../src/serving/types.js';
import { runCli, spawnCli } from '../helpers/cli.js';
import { ADMIN_KEY } from '../helpers/lifecycle.js';
import { SQUARES_SIZE, SQUARES_UNET_OPTIONS, squaresMaskFolder } from '../helpers/mask-folders.js';
import { redisProblem, TEST_REDIS_URL } from '../helpers/redis.js';
import { startTrainingServer } from '../helpers/training-server.js';

const torch = spawnSync(pythonOf(), ['-c', 'import torch'], { stdio: 'ignore' }).status === 0;
if (!torch)
  console.warn(`SKIPPED segserve train: no PyTorch in ${pythonOf()} (apt-get install python3-torch)`);

describe.skipIf(!torch)('segserve train', () => {
  let dir: string;
  let server: RunningServer;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'segserve-train-cli-'));
    await mkdir(join(dir, 'models'));
    server = await startTrainingServer(dir);
  }, 120_000);

  afterAll(async () => {
    await server?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  /** A tiny U-Net on 32x32 images: seconds. */
  const tinyRun = () => ['--server', server.url, '--push', ...SQUARES_UNET_OPTIONS];
  const trainArgs = (data: string, extra: string[] = []) => [
    'train',
    'unet',
    '--model',
    'squares',
    '--data',
    data,
    ...tinyRun(),
    ...extra,
  ];
  const train = (data: string, extra: string[] = [], env: NodeJS.ProcessEnv = {}) =>
    runCli(trainArgs(data, extra), { SEGSERVE_ADMIN_KEY: ADMIN_KEY, ...env });

  it('refuses an upload with nowhere to go before training', async () => {
    const cases = [
      [['--push'], '--push and --alias upload to a server'],
      [['--alias', 'canary'], '--push and --alias upload to a server'],
      [['--server', server.url, '--alias', 'canary'], '--alias points at the version --push uploads'],
    ] as const;
    for (const [options, reason] of cases) {
      const run = await runCli(['train', 'unet', '--model', 'squares', '--data', dir, ...options], {
        SEGSERVE_ADMIN_KEY: ADMIN_KEY,
      });
      expect({ options, code: run.code }).toEqual({ options, code: 2 });
      expect(run.stderr).toContain(reason);
    }
  });

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

  it('stops the trainer when it is stopped itself (SIGTERM), recording the run as failed', {
    timeout: 600_000,
  }, async () => {
    const out = join(dir, 'stopped-out');
    const child = spawnCli(
      [
        ...trainArgs(join(dir, 'good'), [
          '--model',
          'stopped',
          '--iterations',
          '100000',
          '--epochs',
          '10000',
          '--out',
          out,
        ]),
      ],
      { SEGSERVE_ADMIN_KEY: ADMIN_KEY },
    );
    let stderr = '';
    child.stderr.on('data', (chunk) => {
      stderr += chunk;
    });
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
    const runs = async () =>
      (
        (await (await fetch(`${server.url}/v1/models/stopped/training-runs`)).json()) as {
          runs: TrainingRunJson[];
        }
      ).runs;
    // Stopped once the trainer reported its first epoch, in the middle of its run.
    await expect
      .poll(async () => (await runs())[0]?.epochs.length ?? 0, { timeout: 300_000 })
      .toBeGreaterThan(0);
    child.kill('SIGTERM');
    expect(await exited).toBe(2);
    expect(stderr).toContain('TRAINING_FAILED');
    expect(stderr).toContain('stopped by SIGTERM');
    expect((await runs())[0]).toMatchObject({ state: 'failed' });
    // No trainer left running, and nothing written.
    expect(spawnSync('pgrep', ['-f', out]).status).toBe(1);
    expect(existsSync(join(out, 'model.onnx'))).toBe(false);
  });

  it('makes a new version of an existing model with its input and classes, and refuses other classes', {
    timeout: 600_000,
  }, async () => {
    await squaresMaskFolder(join(dir, 'more'));
    await writeFile(join(dir, 'more', 'labels.txt'), 'background\nsquare\ncircle\n');
    const refused = await train(join(dir, 'more'));
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('its classes are background, square and the run');

    const again = await train(join(dir, 'good'), ['--seed', '2']);
    expect(again.code, again.stderr.slice(-2000)).toBe(0);
    expect(again.stdout).toContain('uploaded as squares version 2');
    const model = (await (await fetch(`${server.url}/v1/models/squares`)).json()) as ModelJson;
    expect(model.versions.map((v) => [v.version, v.state])).toEqual([
      [1, 'ready'],
      [2, 'ready'],
    ]);
    // Trained with the model's normalisation, which the run's parameters record.
    const { runs } = (await (await fetch(`${server.url}/v1/models/squares/training-runs`)).json()) as {
      runs: TrainingRunJson[];
    };
    expect(runs[0]).toMatchObject({
      state: 'succeeded',
      produced: { version: 2 },
      params: { model_input: { width: model.input?.width, mean: model.input?.mean, std: model.input?.std } },
    });
  });

  it('trains on the jobs of the retraining job hook as a worker (--from-queue), once per trigger', {
    timeout: 600_000,
  }, async (context) => {
    const problem = await redisProblem();
    if (problem) {
      console.warn(`SKIPPED the training worker: ${problem}`);
      context.skip();
    }
    // A dataset version on the server, as the trigger's snapshot makes one.
    const stores = server.storage;
    await squaresMaskFolder(join(dir, 'queued-data'));
    await importMaskFolder(await stores.database(), await stores.blobs(), {
      dataset: 'queued',
      folder: join(dir, 'queued-data'),
    });
    const snapshot = (await (
      await fetch(`${server.url}/v1/datasets/queued/versions`, { method: 'POST' })
    ).json()) as { version: { id: string } };
    const queue = `segserve-test-train-${process.pid}-${Date.now()}`;
    const worker = spawnCli(
      [
        'train',
        'unet',
        ...tinyRun(),
        '--from-queue',
        queue,
        '--redis-url',
        TEST_REDIS_URL,
        '--data-dir',
        join(dir, '.data'),
      ],
      { SEGSERVE_ADMIN_KEY: ADMIN_KEY },
    );
    let stdout = '';
    let stderr = '';
    worker.stdout.on('data', (chunk) => {
      stdout += chunk;
    });
    worker.stderr.on('data', (chunk) => {
      stderr += chunk;
    });
    const exited = new Promise<number | null>((resolve) => worker.on('close', resolve));
    try {
      await expect.poll(() => stdout, { timeout: 120_000 }).toContain('waiting for retraining jobs');
      // The trigger's own hook adds the job; a retried add (the same trigger) queues nothing more.
      const hookContext = {
        triggerId: `trigger-${Date.now()}`,
        model: 'queued',
        dataset: 'queued',
        datasetVersion: snapshot.version.id,
        reason: 'new_labels: 4 since the last version',
        modelDir: dir,
      };
      for (let i = 0; i < 2; i++) {
        const added = await runHook({ job: { queue, name: 'retrain' } }, hookContext, {
          env: { SEGSERVE_REDIS_URL: TEST_REDIS_URL },
        });
        expect(added).toMatchObject({ kind: 'job', ok: true });
      }
      const runs = async () =>
        (
          (await (await fetch(`${server.url}/v1/models/queued/training-runs`)).json()) as {
            runs: TrainingRunJson[];
          }
        ).runs;
      await expect
        .poll(async () => (await runs())[0]?.state, { timeout: 300_000, interval: 500 })
        .toBe('succeeded');
      expect((await runs()).map((run) => [run.dataset, run.dataset_version, run.produced?.version])).toEqual([
        ['queued', snapshot.version.id, 1],
      ]);
    } finally {
      worker.kill('SIGTERM');
      expect(await exited, stderr.slice(-2000)).toBe(0);
      const { Queue } = await import('bullmq');
      const leftover = new Queue(queue, { connection: { url: TEST_REDIS_URL } });
      await leftover.obliterate({ force: true });
      await leftover.close();
    }
  });
});
