/**
 * `segserve train unet|classifier`: runs the reference trainer (training/, Python with PyTorch) with the right
 * interpreter, a progress bar per epoch with the validation metric, then checks the exported model in
 * onnxruntime against PyTorch's output (parity.ts). With `--server` it reports the run to the server's run
 * history as it goes, and with `--push` uploads the result as a new version through the admin API (validated
 * there), optionally pointing an alias at it (`--alias canary`; `stable` goes through the promotion gate, whose
 * verdict the run records). A run that fails uploads nothing.
 *
 * The retraining trigger's command hook sets SEGSERVE_MODEL, SEGSERVE_DATASET and SEGSERVE_DATASET_VERSION;
 * they are the defaults of --model and --dataset, so the hook's command can be just `segserve train unet --push`.
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { Command } from 'commander';
import { SegserveError } from '../errors.js';
import { checkParity } from '../learning/training/parity.js';
import { runTrainer, type TrainerEvent, type TrainerKind } from '../learning/training/trainer.js';
import type { TrainingRunJson } from '../learning/training/wire-types.js';
import { openBlobStore } from '../storage/index.js';
import { createProgress, type Progress } from './progress.js';
import { ADMIN_KEY_ENV, pushVersion } from './push.js';
import { ServerClient } from './server-client.js';
import { addStorageOptions, storageSettingsOf } from './storage-options.js';

interface TrainOptions {
  model?: string;
  data?: string;
  dataset?: string;
  out?: string;
  server?: string;
  push?: boolean;
  alias?: string;
  /** Everything after `--`: handed to the trainer as it is (iterations, base, depth, crop, seed...). */
  [option: string]: unknown;
}

/** The trainer's options that `segserve train` passes on (the rest of its options are documented in training/README.md). */
const PASSED = [
  'iterations',
  'epochs',
  'timeBudgetS',
  'seed',
  'base',
  'depth',
  'crop',
  'batch',
  'lr',
  'init',
  'threads',
] as const;
const FLAG: Record<(typeof PASSED)[number], string> = {
  iterations: '--iterations',
  epochs: '--epochs',
  timeBudgetS: '--time-budget-s',
  seed: '--seed',
  base: '--base',
  depth: '--depth',
  crop: '--crop',
  batch: '--batch',
  lr: '--lr',
  init: '--init',
  threads: '--threads',
};

function metricLine(event: Extract<TrainerEvent, { event: 'epoch' }>): string {
  const val = event.val ?? {};
  const parts = Object.entries(val)
    .filter(([, value]) => typeof value === 'number')
    .map(([name, value]) => `${name} ${(value as number).toFixed(3)}`);
  return [typeof event.loss === 'number' ? `loss ${event.loss.toFixed(4)}` : '', ...parts]
    .filter(Boolean)
    .join(', ');
}

/** The server's run history, when there is a server to report to; every call is best effort after the first. */
class RunReport {
  #id: string | undefined;
  constructor(private readonly client: ServerClient | undefined) {}

  async start(body: Record<string, unknown>): Promise<void> {
    if (!this.client) return;
    const { body: run } = await this.client.send<TrainingRunJson>('/v1/admin/training-runs', {
      method: 'POST',
      json: body,
    });
    this.#id = run.id;
  }

  get id(): string | undefined {
    return this.#id;
  }

  async epoch(event: Record<string, unknown>): Promise<void> {
    if (this.client && this.#id) {
      await this.client
        .send(`/v1/admin/training-runs/${this.#id}/epochs`, { method: 'POST', json: event })
        .catch(() => undefined);
    }
  }

  async finish(body: Record<string, unknown>): Promise<void> {
    if (this.client && this.#id) {
      await this.client.send(`/v1/admin/training-runs/${this.#id}/finish`, { method: 'POST', json: body });
    }
  }
}

/**
 * The dataset as a mask folder: `--data` as it is, or a version (`--dataset name@version`, or the retraining
 * hook's SEGSERVE_DATASET and SEGSERVE_DATASET_VERSION) that the server exports into its blob store, read from
 * there (the same blob store settings as the server's): the server owns the database, which an embedded one
 * lets no other process open.
 */
async function datasetFolder(
  options: TrainOptions,
  client: ServerClient | undefined,
): Promise<{ dir: string; temporary?: string }> {
  if (options.data) return { dir: options.data };
  const ref =
    options.dataset ??
    (process.env.SEGSERVE_DATASET &&
      `${process.env.SEGSERVE_DATASET}@${process.env.SEGSERVE_DATASET_VERSION ?? 'latest'}`);
  if (!ref) {
    throw new SegserveError('INVALID_ARGUMENT', {
      reason:
        'give --data <mask folder> or --dataset <name>@<version> (or SEGSERVE_DATASET and SEGSERVE_DATASET_VERSION)',
    });
  }
  if (!client) {
    throw new SegserveError('INVALID_ARGUMENT', {
      reason: `--dataset ${ref} is exported by the server: give --server and SEGSERVE_ADMIN_KEY, or --data <folder> of an export`,
    });
  }
  const [name, version = 'latest'] = ref.split('@');
  const prefix = `exports/training/${name}/${version}/`;
  await client.send(
    `/v1/datasets/${encodeURIComponent(name)}/versions/${encodeURIComponent(version)}/exports`,
    {
      method: 'POST',
      json: { format: 'masks', prefix },
    },
  );
  const blobs = await openBlobStore(storageSettingsOf(options).blobs);
  const dir = await mkdtemp(join(tmpdir(), `segserve-train-data-${name}-`));
  try {
    for await (const info of blobs.list(prefix)) {
      const path = join(dir, info.key.slice(prefix.length));
      await mkdir(dirname(path), { recursive: true });
      await writeFile(path, await blobs.get(info.key));
    }
  } finally {
    await blobs.close();
  }
  return { dir, temporary: dir };
}

export async function train(kind: TrainerKind, options: TrainOptions): Promise<void> {
  const model = options.model ?? process.env.SEGSERVE_MODEL;
  if (!model)
    throw new SegserveError('INVALID_ARGUMENT', {
      reason: 'name the model with --model (or SEGSERVE_MODEL)',
    });
  const adminKey = process.env[ADMIN_KEY_ENV];
  if (options.push && !adminKey) {
    throw new SegserveError('INVALID_ARGUMENT', {
      reason: `--push needs an admin key of the server in ${ADMIN_KEY_ENV}`,
    });
  }
  const client = options.server && adminKey ? new ServerClient(options.server, adminKey) : undefined;
  const { dir: data, temporary } = kind === 'unet' ? await datasetFolder(options, client) : { dir: '' };
  const out = options.out ?? (await mkdtemp(join(tmpdir(), `segserve-train-${model}-`)));
  const args = kind === 'unet' ? ['--data', data, '--out', out] : ['--out', out];
  for (const key of PASSED) {
    const value = options[key];
    if (value !== undefined) args.push(FLAG[key], String(value));
  }
  if (kind === 'classifier') {
    for (const folder of (options.positives as string[] | undefined) ?? []) args.push('--positives', folder);
    for (const folder of (options.negatives as string[] | undefined) ?? []) args.push('--negatives', folder);
  }
  const datasetVersion = options.dataset ?? process.env.SEGSERVE_DATASET_VERSION;
  if (datasetVersion) args.push('--dataset-version', datasetVersion);
  try {
    await trainIn(kind, options, { model, client, args, datasetVersion, out });
  } finally {
    if (temporary) await rm(temporary, { recursive: true, force: true });
  }
}

interface TrainSetup {
  model: string;
  client: ServerClient | undefined;
  args: string[];
  datasetVersion: string | undefined;
  out: string;
}

async function trainIn(kind: TrainerKind, options: TrainOptions, setup: TrainSetup): Promise<void> {
  const { model, client, args, datasetVersion, out } = setup;
  const report = new RunReport(client);
  await report.start({
    model,
    kind,
    ...(process.env.SEGSERVE_DATASET ? { dataset: process.env.SEGSERVE_DATASET } : {}),
    ...(datasetVersion ? { dataset_version: datasetVersion } : {}),
    params: Object.fromEntries(
      PASSED.filter((key) => options[key] !== undefined).map((key) => [key, options[key]]),
    ),
  });
  let progress: Progress | undefined;
  try {
    const outcome = await runTrainer(kind, args, {
      onEvent: (event) => {
        if (event.event === 'epoch') {
          progress ??= createProgress(event.epochs, `train ${kind} ${model}`);
          progress.tick(metricLine(event));
          void report.epoch(event);
        }
      },
    });
    progress?.stop();
    const parity = await checkParity(out, kind);
    const trained = JSON.parse(await readFile(join(out, 'report.json'), 'utf8')) as {
      code?: { git_commit?: string | null; git_dirty?: boolean | null; sources_sha256?: string };
    };
    process.stdout.write(
      `trained ${kind} for ${model} in ${out}: ${JSON.stringify(outcome.done.metrics ?? {})}\n` +
        `onnxruntime matches PyTorch (largest difference ${parity.outputMaxDiff.toExponential(2)})\n`,
    );
    // The repository commit (dirty when training/ had changes) and a hash of the trainer's own sources.
    const { code } = trained;
    const codeVersion = `${code?.git_commit ?? 'no git'}${code?.git_dirty ? '+dirty' : ''} sources:${(code?.sources_sha256 ?? '').slice(0, 12)}`;
    let produced: { version: number; gate?: { accepted: boolean; reason?: string } } | undefined;
    if (options.push && options.server) {
      const uploaded = await pushVersion({
        file: join(out, 'model.onnx'),
        config: join(out, 'config.yaml'),
        labels: join(out, 'labels.txt'),
        model,
        server: options.server,
      });
      produced = { version: uploaded.version };
      process.stdout.write(`uploaded as ${model} version ${uploaded.version}\n`);
      if (options.alias && client) {
        try {
          await client.send(
            `/v1/admin/models/${encodeURIComponent(model)}/aliases/${encodeURIComponent(options.alias)}`,
            {
              method: 'PUT',
              json: { version: uploaded.version },
            },
          );
          produced.gate = { accepted: true };
          process.stdout.write(`${options.alias} -> version ${uploaded.version}\n`);
        } catch (error) {
          produced.gate = { accepted: false, reason: error instanceof Error ? error.message : String(error) };
          process.stdout.write(`${options.alias} not moved: ${produced.gate.reason}\n`);
        }
      }
    }
    await report.finish({
      state: 'succeeded',
      metrics: outcome.done.metrics ?? {},
      code_version: codeVersion.slice(0, 256),
      ...(produced ? { produced } : {}),
    });
    if (report.id) process.stdout.write(`run ${report.id} recorded on ${options.server}\n`);
  } catch (error) {
    progress?.stop();
    await report
      .finish({
        state: 'failed',
        error: (error instanceof Error ? error.message : String(error)).slice(0, 4000),
      })
      .catch(() => undefined);
    if (!options.out) await rm(out, { recursive: true, force: true });
    throw error;
  }
}

export function addTrainCommands(program: Command): void {
  const command = program
    .command('train')
    .description('train a model with the reference trainer (training/, PyTorch) and upload it');
  for (const kind of ['unet', 'classifier'] as const) {
    const sub = command
      .command(kind)
      .description(
        kind === 'unet'
          ? 'a U-Net on a mask-folder dataset export'
          : 'a gate classifier: positives against negatives',
      )
      .option('--model <name>', 'the model the result is a version of (default SEGSERVE_MODEL)')
      .option(
        '--out <folder>',
        'where model.onnx, config.yaml, labels.txt and report.json go (default a temporary folder)',
      )
      .option(
        '--iterations <n>',
        'training iterations (the budget: a shared machine may run 3-4x slower at times)',
      )
      .option('--seed <n>', 'random seed: the same seed gives the same weights')
      .option('--threads <n>', 'PyTorch threads')
      .option(
        '--server <url>',
        'report the run to this server, and with --push upload there (admin key in SEGSERVE_ADMIN_KEY)',
      )
      .option('--push', 'upload the result as a new version of --model')
      .option(
        '--alias <name>',
        'then point this alias at the new version (stable: through the promotion gate)',
      );
    if (kind === 'unet') {
      sub
        .option('--data <folder>', 'a mask-folder export (manifest.csv, images/, masks/, labels.txt)')
        .option(
          '--dataset <name@version>',
          'the dataset version it is (recorded with the run; default SEGSERVE_DATASET_VERSION)',
        )
        .option('--epochs <n>', 'epochs (validation after each)')
        .option('--time-budget-s <s>', 'stop after this much wall time')
        .option('--base <n>', 'channels of the first level')
        .option('--depth <n>', 'levels')
        .option('--crop <px>', 'training crop size')
        .option('--batch <n>', 'crops per iteration')
        .option('--lr <rate>', 'peak learning rate (cosine decay)')
        .option('--init <model.pt>', 'fine-tune from an earlier run');
    } else {
      sub
        .option(
          '--positives <folder>',
          'images of the accepted class (repeatable)',
          (v: string, p: string[]) => [...p, v],
          [],
        )
        .option(
          '--negatives <folder>',
          'images of the refused class (repeatable)',
          (v: string, p: string[]) => [...p, v],
          [],
        );
    }
    // The blob store the server exports a --dataset version into.
    addStorageOptions(sub);
    sub.action((options: TrainOptions) => train(kind, options));
  }
}
