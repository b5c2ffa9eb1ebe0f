/**
 * `segserve models optimize <model> --int8 --calibration <folder | dataset:name[@v]>`: a float32 version quantised
 * to int8, checked by the accuracy guard and added as a new version (src/lifecycle/optimize). The new version
 * goes through the repository's upload path, so it is recorded in the model history and, when the model serves
 * traffic without a `stable` alias, `stable` is first pointed at the version serving now (as for any upload).
 */
import { readdir, readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { type Command, InvalidArgumentError, Option } from 'commander';
import { SegserveError } from '../errors.js';
import { repositoryUploads } from '../host/lifecycle.js';
import { LazyStorage } from '../host/storage.js';
import { AliasTable } from '../lifecycle/aliases.js';
import {
  configuredGateEvaluator,
  DatasetFiles,
  type EvaluationDataset,
  openDatasetSource,
} from '../lifecycle/evaluation/index.js';
import { ModelLifecycle } from '../lifecycle/lifecycle.js';
import {
  type CalibrationImage,
  type GuardResult,
  type OptimizeOutcome,
  optimizeInt8,
} from '../lifecycle/optimize/index.js';
import { stagingFolder } from '../lifecycle/upload.js';
import { COVERED_OPERATORS } from '../models/quantize/index.js';
import { InferenceService } from '../serving/service.js';
import { collectImages } from './inputs.js';
import { openModel } from './open-model.js';
import { createProgress, type Progress } from './progress.js';
import { addStorageOptions, storageSettingsOf } from './storage-options.js';

export interface OptimizeCommandOptions {
  int8: boolean;
  calibration: string;
  models: string;
  version?: number;
  method: 'minmax' | 'percentile';
  percentile: number;
  calibrationCount?: number;
  exclude: string[];
  evalDataset?: string;
  evalImages?: string;
  agreementImages?: string;
  maxLoss: number;
  minAgreement: number;
  autoExclude: number;
  json: boolean;
  /** Progress of calibration and guard runs (default: bars on stderr). */
  progress?: (label: string, total: number) => Progress;
  [storageFlag: string]: unknown;
}

/** Images of a folder, or of a stored dataset version (`dataset:name[@version]`). */
async function imagesOf(source: string, storage: LazyStorage, limit?: number): Promise<CalibrationImage[]> {
  let images: CalibrationImage[];
  if (source.startsWith('dataset:')) {
    const dataset = await openDatasetSource(source, { files: DatasetFiles.unconfined(), storage });
    images = Array.from({ length: dataset.size }, (_, i) => dataset.image(i));
  } else {
    const { images: files } = await collectImages([source], { recursive: false });
    images = files.map((file) => ({ name: file.relative, bytes: () => readFile(file.path) }));
  }
  return limit === undefined ? images : images.slice(0, limit);
}

export async function runOptimize(model: string, options: OptimizeCommandOptions): Promise<OptimizeOutcome> {
  if (!options.int8) {
    throw new SegserveError('INVALID_ARGUMENT', {
      reason: 'say what to optimise: --int8 is the one optimisation',
    });
  }
  const storage = new LazyStorage(storageSettingsOf(options));
  const { repository, name } = await openModel(model, options.models);
  const service = new InferenceService(repository);
  try {
    const calibrationImages = await imagesOf(options.calibration, storage, options.calibrationCount);
    let dataset: EvaluationDataset | undefined;
    if (options.evalDataset !== undefined) {
      dataset = await openDatasetSource(options.evalDataset, {
        files: DatasetFiles.unconfined(),
        storage,
        images: options.evalImages,
      });
    }
    const agreementImages =
      options.agreementImages === undefined
        ? calibrationImages
        : await imagesOf(options.agreementImages, storage);
    if (options.version !== undefined) {
      const listed = repository.get(name)?.versions.find((v) => v.version === options.version);
      if (listed?.state !== 'ready') await repository.loadVersion(name, options.version);
    }
    const source = service.resolve({ model: name, version: options.version });
    const status = repository.get(name);
    if (!status) throw new SegserveError('MODEL_NOT_FOUND', { model: name });
    const repositoryDir = repository.root ?? dirname(status.dir);
    const aliases = new AliasTable();
    if (storage.databaseExists()) await aliases.refresh(await storage.database());
    service.useAliases(aliases);
    const lifecycle = new ModelLifecycle({
      service,
      database: () => storage.database(),
      aliases,
      evaluate: configuredGateEvaluator({ service, storage }),
    });
    const uploads = repositoryUploads(service, lifecycle, storage, repositoryDir);
    const onDisk = (await readVersionsOnDisk(status.dir)).concat(status.versions.map((v) => v.version));
    return await optimizeInt8(
      {
        stage: () => stagingFolder(repositoryDir),
        publish: (staged, version) => uploads.publish({ model: name, version, staged, actor: 'cli' }),
      },
      {
        source,
        modelDir: status.dir,
        version: Math.max(0, ...onDisk) + 1,
        calibration: {
          images: calibrationImages,
          name: options.calibration,
          method:
            options.method === 'minmax'
              ? { kind: 'minmax' }
              : { kind: 'percentile', percentile: options.percentile },
        },
        exclude: options.exclude,
        guard: {
          dataset,
          agreementImages,
          maxLoss: options.maxLoss,
          minAgreement: options.minAgreement,
          autoExclude: options.autoExclude,
        },
        progress: options.progress ?? ((label, total) => createProgress(total, label)),
      },
    );
  } finally {
    await service.close();
    await storage.close();
  }
}

async function readVersionsOnDisk(dir: string): Promise<number[]> {
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  return entries.filter((e) => e.isDirectory() && /^[1-9][0-9]*$/.test(e.name)).map((e) => Number(e.name));
}

export function formatOptimizeOutcome(outcome: OptimizeOutcome): string {
  const { upload } = outcome;
  const lines = [
    `added ${upload.model} version ${upload.version} (int8 of version ${outcome.source.version}, ${(upload.bytes / 1e6).toFixed(2)} MB, sha256 ${upload.sha256.slice(0, 12)})`,
    `  quantised ${outcome.quantized} nodes; kept in float32: ${outcome.skipped.length === 0 ? 'none' : outcome.skipped.map((s) => `${s.name} (${s.reason})`).join(', ')}`,
    `  calibrated on ${outcome.calibration.images} images${outcome.calibration.skipped.length > 0 ? ` (${outcome.calibration.skipped.length} unreadable, skipped)` : ''}`,
  ];
  for (const attempt of outcome.attempts) {
    lines.push(
      `  guard, ${attempt.keptInFloat32} layers kept in float32 by the guard: ${formatGuard(attempt.guard)}`,
    );
  }
  if (upload.keptStableAt !== undefined) {
    lines.push(`  \`stable\` points at version ${upload.keptStableAt}: promote the new version to serve it`);
  }
  return lines.join('\n');
}

export function formatGuard(guard: GuardResult): string {
  const parts: string[] = [];
  if (guard.metric) {
    const m = guard.metric;
    parts.push(
      `${m.name} float32 ${m.float32.toFixed(4)}, int8 ${m.int8.toFixed(4)} (${m.loss.toFixed(2)} points lost)`,
    );
  }
  if (guard.agreement) {
    const a = guard.agreement;
    parts.push(
      `mask agreement ${a.mean.toFixed(3)} mean, ${a.lowest.toFixed(3)} lowest, over ${a.images} images`,
    );
  }
  return parts.join('; ') + (guard.refusals.length > 0 ? ' -> refused' : ' -> accepted');
}

function positiveInteger(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a positive integer');
  return n;
}

function wholeNumber(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('expected a whole number, 0 or more');
  return n;
}

function between(low: number, high: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isFinite(n) || n < low || n > high) {
      throw new InvalidArgumentError(`expected a number from ${low} to ${high}`);
    }
    return n;
  };
}

export function addOptimizeCommand(models: Command, modelsOption: () => Option): void {
  const covered = Object.keys(COVERED_OPERATORS).join(', ');
  const command = models
    .command('optimize')
    .description(
      `quantise a float32 version to int8 (QDQ around ${covered}), check it with an accuracy guard, and add it as a new version`,
    )
    .argument('<model>', 'model name in the repository, or a model folder')
    .addOption(modelsOption())
    .option('--int8', 'static int8 quantisation (the one optimisation there is)', false)
    .requiredOption('--calibration <source>', 'calibration images: a folder, or dataset:<name>[@<version>]')
    .option('--calibration-count <n>', 'use only the first n calibration images', positiveInteger)
    .option(
      '-v, --version <n>',
      'the float32 version to quantise (default: the newest loaded)',
      positiveInteger,
    )
    .addOption(
      new Option('--method <method>', 'activation ranges: min-max, or percentiles of each image')
        .choices(['minmax', 'percentile'])
        .default('minmax'),
    )
    .option(
      '--percentile <p>',
      'with --method percentile: clip to the [100-p, p] percentiles',
      between(90, 100),
      99.99,
    )
    .option(
      '--exclude <nodes>',
      'node names kept in float32, comma-separated',
      (value: string) =>
        value
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean),
      [],
    )
    .option(
      '--eval-dataset <source>',
      'labelled set for the guard (as `segserve eval --dataset`): mask AP (instance) or mIoU (semantic, binary)',
    )
    .option('--eval-images <dir>', 'the images folder of a COCO --eval-dataset')
    .option(
      '--agreement-images <source>',
      'unlabelled images whose masks must agree (default: the calibration images)',
    )
    .option(
      '--max-loss <points>',
      'most points of mask AP or mIoU the int8 version may lose',
      between(0, 100),
      1,
    )
    .option(
      '--min-agreement <0..1>',
      'least mean mask agreement with the float32 version',
      between(0, 1),
      0.8,
    )
    .option(
      '--auto-exclude <n>',
      'when the guard refuses, keep up to n of the most sensitive layers in float32 (0: never)',
      wholeNumber,
      8,
    )
    .option('--json', 'print the outcome as JSON', false);
  addStorageOptions(command).action(async (model: string, opts: OptimizeCommandOptions) => {
    const outcome = await runOptimize(model, opts);
    process.stdout.write(
      `${opts.json ? JSON.stringify(outcome, null, 2) : formatOptimizeOutcome(outcome)}\n`,
    );
  });
}
