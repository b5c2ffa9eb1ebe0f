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
import { parse } from 'yaml';
import { SegserveError } from '../errors.js';
import type { VersionJson } from '../learning/datasets/json.js';
import { checkParity } from '../learning/training/parity.js';
import { runTrainer, type TrainerEvent, type TrainerKind } from '../learning/training/trainer.js';
import type { TrainingRunJson } from '../learning/training/wire-types.js';
import type { InputConfig } from '../models/config.js';
import type { ModelJson } from '../serving/types.js';
import { openBlobStore } from '../storage/index.js';
import { createProgress, type Progress } from './progress.js';
import { ADMIN_KEY_ENV, pushVersion } from './push.js';
import { ServerClient } from './server-client.js';
import { addStorageOptions, storageSettingsOf } from './storage-options.js';
import { trainFromQueue } from './train-queue.js';

interface TrainOptions {
  model?: string;
  fromQueue?: string;
  redisUrl?: string;
  data?: string;
  valData?: string;
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
  'valData',
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
  valData: '--val-data',
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

/** `name@version` (version `latest` when it names none), from --dataset or the retraining hook's variables. */
function datasetRef(options: TrainOptions): { name: string; version: string } | undefined {
  const text =
    options.dataset ??
    (process.env.SEGSERVE_DATASET &&
      `${process.env.SEGSERVE_DATASET}@${process.env.SEGSERVE_DATASET_VERSION ?? 'latest'}`);
  if (!text) return undefined;
  const at = text.indexOf('@');
  return at < 0
    ? { name: text, version: 'latest' }
    : { name: text.slice(0, at), version: text.slice(at + 1) };
}

interface DatasetFolder {
  dir: string;
  /** A folder this run made, removed after it. */
  temporary?: string;
  /** The dataset version it holds, as recorded with the run: the version's id when the server exported it. */
  dataset?: { name: string; version: string };
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
): Promise<DatasetFolder> {
  const ref = datasetRef(options);
  if (options.data) return { dir: options.data, dataset: ref };
  if (!ref) {
    throw new SegserveError('INVALID_ARGUMENT', {
      reason:
        'give --data <mask folder> or --dataset <name>@<version> (or SEGSERVE_DATASET and SEGSERVE_DATASET_VERSION)',
    });
  }
  if (!client) {
    throw new SegserveError('INVALID_ARGUMENT', {
      reason: `--dataset ${ref.name}@${ref.version} is exported by the server: give --server and SEGSERVE_ADMIN_KEY, or --data <folder> of an export`,
    });
  }
  const name = encodeURIComponent(ref.name);
  // `latest` (or an id prefix) resolved first: an export's prefix holds one version, named by its id.
  const { body: version } = await client.send<VersionJson>(
    `/v1/datasets/${name}/versions/${encodeURIComponent(ref.version)}`,
  );
  const prefix = `exports/training/${ref.name}/${version.id}/`;
  await client.send(`/v1/datasets/${name}/versions/${version.id}/exports`, {
    method: 'POST',
    json: { format: 'masks', prefix },
  });
  const blobs = await openBlobStore(storageSettingsOf(options).blobs);
  const dir = await mkdtemp(join(tmpdir(), `segserve-train-data-${ref.name}-`));
  try {
    for await (const info of blobs.list(prefix)) {
      const path = join(dir, info.key.slice(prefix.length));
      await mkdir(dirname(path), { recursive: true });
      await writeFile(path, await blobs.get(info.key));
    }
  } finally {
    await blobs.close();
  }
  return { dir, temporary: dir, dataset: { name: ref.name, version: version.id } };
}

/**
 * The model a run makes a version of, when the server already serves it: its versions share one config.yaml
 * and labels, so the new weights must read the model's input (U-Net: trained with its normalisation, at its
 * size) and name its classes, and the upload brings no config of its own.
 */
async function existingModel(
  client: ServerClient | undefined,
  model: string,
): Promise<ModelJson | undefined> {
  if (!client) return undefined;
  try {
    return (await client.send<ModelJson>(`/v1/models/${encodeURIComponent(model)}`)).body;
  } catch (error) {
    if (error instanceof SegserveError && error.code === 'MODEL_NOT_FOUND') return undefined;
    throw error;
  }
}

/** The reference trainer exports RGB NCHW models; anything else the existing model reads cannot be matched. */
function checkFits(model: ModelJson, labels: readonly string[] | undefined): void {
  const problem = (reason: string) =>
    new SegserveError('INVALID_ARGUMENT', {
      reason: `${model.name} exists on the server, so this run makes a version of it, but ${reason}`,
    });
  if (model.input && (model.input.color !== 'RGB' || model.input.layout !== 'NCHW')) {
    throw problem(`it reads ${model.input.color} ${model.input.layout} and the trainer exports RGB NCHW`);
  }
  if (labels && model.labels && labels.join('\n') !== model.labels.join('\n')) {
    throw problem(`its classes are ${model.labels.join(', ')} and the run's are ${labels.join(', ')}`);
  }
}

/** What the run wrote against the existing model: its classes, and the input its config.yaml says it reads. */
async function checkTrainedFits(model: ModelJson, out: string): Promise<void> {
  checkFits(model, await labelsIn(join(out, 'labels.txt')));
  const trained = (parse(await readFile(join(out, 'config.yaml'), 'utf8')) as { input: InputConfig }).input;
  const differing = (['width', 'height', 'scale', 'mean', 'std'] as const).filter(
    (key) => JSON.stringify(trained[key]) !== JSON.stringify(model.input?.[key]),
  );
  if (differing.length > 0) {
    throw new SegserveError('INVALID_ARGUMENT', {
      reason: `${model.name} exists on the server and reads another input than the run's (${differing.join(', ')}): upload it under a new model name`,
    });
  }
}

async function labelsIn(file: string): Promise<string[]> {
  return (await readFile(file, 'utf8'))
    .split('\n')
    .map((line) => line.trim())
    .filter(Boolean);
}

export async function train(kind: TrainerKind, options: TrainOptions): Promise<void> {
  const model = options.model ?? process.env.SEGSERVE_MODEL;
  if (!model)
    throw new SegserveError('INVALID_ARGUMENT', {
      reason: 'name the model with --model (or SEGSERVE_MODEL)',
    });
  if ((options.push || options.alias) && !options.server) {
    throw new SegserveError('INVALID_ARGUMENT', {
      reason: '--push and --alias upload to a server: give --server <url>',
    });
  }
  if (options.alias && !options.push) {
    throw new SegserveError('INVALID_ARGUMENT', {
      reason: '--alias points at the version --push uploads: give --push',
    });
  }
  const adminKey = process.env[ADMIN_KEY_ENV];
  if (options.push && !adminKey) {
    throw new SegserveError('INVALID_ARGUMENT', {
      reason: `--push needs an admin key of the server in ${ADMIN_KEY_ENV}`,
    });
  }
  const client = options.server && adminKey ? new ServerClient(options.server, adminKey) : undefined;
  const {
    dir: data,
    temporary,
    dataset,
  } = kind === 'unet' ? await datasetFolder(options, client) : { dir: '', dataset: datasetRef(options) };
  try {
    const existing = options.push ? await existingModel(client, model) : undefined;
    if (existing) checkFits(existing, kind === 'unet' ? await labelsIn(join(data, 'labels.txt')) : undefined);
    await trainFor(kind, options, { model, client, data, dataset, existing });
  } finally {
    if (temporary) await rm(temporary, { recursive: true, force: true });
  }
}

async function trainFor(
  kind: TrainerKind,
  options: TrainOptions,
  target: {
    model: string;
    client: ServerClient | undefined;
    data: string;
    dataset: DatasetFolder['dataset'];
    existing: ModelJson | undefined;
  },
): Promise<void> {
  const { model, client, data, dataset, existing } = target;
  const out = options.out ?? (await mkdtemp(join(tmpdir(), `segserve-train-${model}-`)));
  const args = kind === 'unet' ? ['--data', data, '--out', out] : ['--out', out];
  const input = kind === 'unet' ? existing?.input : undefined;
  const modelInput = input && {
    width: input.width,
    height: input.height,
    scale: input.scale,
    mean: input.mean,
    std: input.std,
  };
  if (modelInput) args.push('--model-input', JSON.stringify(modelInput));
  for (const key of PASSED) {
    const value = options[key];
    if (value !== undefined) args.push(FLAG[key], String(value));
  }
  if (kind === 'classifier') {
    for (const folder of (options.positives as string[] | undefined) ?? []) args.push('--positives', folder);
    for (const folder of (options.negatives as string[] | undefined) ?? []) args.push('--negatives', folder);
  }
  if (dataset) args.push('--dataset-version', `${dataset.name}@${dataset.version}`);
  await trainIn(kind, options, { model, client, args, dataset, out, existing, modelInput });
}

interface TrainSetup {
  model: string;
  client: ServerClient | undefined;
  args: string[];
  dataset: DatasetFolder['dataset'];
  out: string;
  existing: ModelJson | undefined;
  /** The existing model's input the U-Net trains for. */
  modelInput: Record<string, unknown> | undefined;
}

async function trainIn(kind: TrainerKind, options: TrainOptions, setup: TrainSetup): Promise<void> {
  const { model, client, args, dataset, out, existing, modelInput } = setup;
  const report = new RunReport(client);
  await report.start({
    model,
    kind,
    ...(dataset ? { dataset: dataset.name, dataset_version: dataset.version } : {}),
    params: {
      ...Object.fromEntries(
        PASSED.filter((key) => options[key] !== undefined).map((key) => [key, options[key]]),
      ),
      ...(modelInput ? { model_input: modelInput } : {}),
    },
  });
  let progress: Progress | undefined;
  try {
    const outcome = await stoppable((signal) =>
      runTrainer(kind, args, {
        signal,
        onEvent: (event) => {
          if (event.event === 'epoch') {
            progress ??= createProgress(event.epochs, `train ${kind} ${model}`);
            progress.tick(metricLine(event));
            void report.epoch(event);
          }
        },
      }),
    );
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
      if (existing) await checkTrainedFits(existing, out);
      const uploaded = await pushVersion({
        file: join(out, 'model.onnx'),
        // A new model brings its definition; a version of an existing one runs with the model's own.
        ...(existing ? {} : { config: join(out, 'config.yaml'), labels: join(out, 'labels.txt') }),
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
    const { wall_s, cpu_s, images_per_s } = outcome.done;
    await report.finish({
      state: 'succeeded',
      metrics: { ...(outcome.done.metrics ?? {}), timing: { wall_s, cpu_s, images_per_s } },
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

/**
 * Aborted by SIGTERM or SIGINT (a hook's timeout, Kubernetes, Ctrl-C): the trainer is stopped with SIGTERM, so
 * it removes its staging folder instead of running on without its parent, and the run is recorded as failed.
 */
async function stoppable<T>(run: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  const abort = (signal: NodeJS.Signals) => controller.abort(signal);
  const signals = ['SIGTERM', 'SIGINT'] as const;
  for (const signal of signals) process.once(signal, abort);
  try {
    return await run(controller.signal);
  } finally {
    // Outside the trainer's run a signal ends the command as it would any other.
    for (const signal of signals) process.off(signal, abort);
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
        .option(
          '--val-data <folder>',
          "a mask folder to validate on (all of it), e.g. the promotion gate's; the dataset's train and validation images then all train",
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
    if (kind === 'unet') {
      sub
        .option(
          '--from-queue <queue>',
          "run as a training worker: train on each retraining trigger's job from this BullMQ queue (the job hook's), until stopped",
        )
        .option('--redis-url <url>', "with --from-queue: the job hook's Redis (default SEGSERVE_REDIS_URL)");
    }
    sub.action((options: TrainOptions) => {
      if (options.fromQueue && (options.data || options.dataset)) {
        throw new SegserveError('INVALID_ARGUMENT', {
          reason: '--from-queue takes the dataset version from each job: leave out --data and --dataset',
        });
      }
      return options.fromQueue
        ? trainFromQueue(options.fromQueue, options.redisUrl, (job) =>
            train(kind, { ...options, model: job.model, dataset: `${job.dataset}@${job.dataset_version}` }),
          )
        : train(kind, options);
    });
  }
}
