/**
 * `segserve eval`: scores predictions against a ground truth and prints the report as a table (or JSON with
 * --json), writing the JSON report with --out. Where the predictions come from is the mode, one flag each, of
 * which exactly one is given: `--results <file>` scores a COCO results file without a model; `--model
 * m[:version]` runs a model version over the dataset (src/lifecycle/evaluation) and scores its predictions. The
 * dataset, output and table handling below is shared.
 */
import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import { type Command, InvalidArgumentError, Option } from 'commander';
import { SegserveError } from '../errors.js';
import {
  type EvaluationReport,
  evaluateCoco,
  formatReportTable,
  type IouType,
  instanceReport,
  parseCocoDataset,
  parseCocoResults,
} from '../eval/index.js';
import { LazyStorage } from '../host/storage.js';
import { AliasTable } from '../lifecycle/aliases.js';
import {
  DatasetFiles,
  evaluateModel,
  type ModelEvaluation,
  openDatasetSource,
} from '../lifecycle/evaluation/index.js';
import { ALIAS_NAME } from '../models/index.js';
import { InferenceService } from '../serving/service.js';
import { defaultRepositoryDir, openModel } from './open-model.js';
import { notWritable } from './predict.js';
import { createProgress, type Progress } from './progress.js';
import { addStorageOptions, storageSettingsOf } from './storage-options.js';

export interface EvalCommandOptions {
  dataset: string;
  results?: string;
  /** `m`, `m:<version>` or `m:<alias>`; m a model name in `models` or a model folder. */
  model?: string;
  models?: string;
  images?: string;
  concurrency?: number;
  saveResults?: string;
  iouType: 'bbox' | 'segm' | 'both';
  out?: string;
  worst: number;
  json: boolean;
  /** The storage flags, raw text by commander attribute name (see addStorageOptions). */
  [storageFlag: string]: unknown;
}

/** Reports progress over the images of the dataset, the bar made once the count is known. */
export type ProgressFactory = (total: number, label: string) => Progress;

/** Reads a JSON input; a file that is not JSON is EVAL_INPUT_INVALID naming it (a missing one, Node's error). */
export async function readJsonFile(path: string): Promise<unknown> {
  const text = await readFile(path, 'utf8');
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new SegserveError('EVAL_INPUT_INVALID', {
      source: path,
      reason: `not JSON: ${(error as Error).message}`,
    });
  }
}

export interface EvalResultsOptions {
  /** COCO results JSON file. */
  results: string;
  /** COCO instances JSON file. */
  dataset: string;
  /** Default: both when the results have masks, else bbox. */
  iouTypes?: IouType[];
  progress?: ProgressFactory;
}

/** `--results`: COCO box and/or mask AP of a results file against a COCO instances file. */
export async function evalResults(options: EvalResultsOptions): Promise<EvaluationReport> {
  const dataset = parseCocoDataset(await readJsonFile(options.dataset), options.dataset);
  const results = parseCocoResults(await readJsonFile(options.results), options.results);
  const warnings: string[] = [];
  let iouTypes = options.iouTypes;
  if (!iouTypes) {
    const masks = results.some((r) => r.segmentation !== undefined);
    iouTypes = masks ? ['bbox', 'segm'] : ['bbox'];
    if (!masks && results.length > 0) warnings.push('the results have no masks: boxes only');
  }
  let progress: Progress | undefined;
  try {
    const evaluation = await evaluateCoco(dataset, results, {
      iouTypes,
      onImage: (_done, total) => {
        progress ??= (options.progress ?? createProgress)(total, 'eval');
        progress.tick();
      },
    });
    evaluation.warnings.unshift(...warnings);
    return instanceReport(evaluation, { dataset: options.dataset, results: options.results });
  } finally {
    progress?.stop();
  }
}

interface EvalMode {
  /** The option's attribute name (commander's camelCase of the flag). */
  key: 'results' | 'model';
  flag: string;
  run(options: EvalCommandOptions): Promise<EvaluationReport>;
}

const IOU_TYPES: Record<EvalCommandOptions['iouType'], IouType[] | undefined> = {
  bbox: ['bbox'],
  segm: ['segm'],
  // Default: masks too when the results have them (evalResults decides).
  both: undefined,
};

export const EVAL_MODES: EvalMode[] = [
  {
    key: 'results',
    flag: '--results',
    run: (options) => {
      for (const [flag, value] of [
        ['--images', options.images],
        ['--concurrency', options.concurrency],
        ['--save-results', options.saveResults],
      ] as const) {
        if (value !== undefined) {
          throw new SegserveError('INVALID_ARGUMENT', { reason: `${flag} goes with --model, not --results` });
        }
      }
      return evalResults({
        results: options.results!,
        dataset: options.dataset,
        iouTypes: IOU_TYPES[options.iouType],
      });
    },
  },
  { key: 'model', flag: '--model', run: (options) => evalModelCommand(options) },
];

const VERSION_OR_ALIAS = new RegExp(`^(?:[1-9][0-9]{0,8}|${ALIAS_NAME.source.slice(1, -1)})$`);

/**
 * `m[:version]`: the model (a name or a model folder) and the version or alias after the last `:`, when what
 * follows it is one (a folder path may hold a `:` of its own).
 */
export function parseModelSpec(spec: string): { model: string; version?: string } {
  const colon = spec.lastIndexOf(':');
  if (colon > 0 && VERSION_OR_ALIAS.test(spec.slice(colon + 1))) {
    return { model: spec.slice(0, colon), version: spec.slice(colon + 1) };
  }
  return { model: spec };
}

export interface EvalModelOptions {
  /** `m[:version]`. */
  model: string;
  /** The model repository (default $SEGSERVE_MODELS, else ./models). */
  models?: string;
  /** The dataset source (see src/lifecycle/evaluation/source.ts). */
  dataset: string;
  /** The images folder of a COCO file. */
  images?: string;
  concurrency?: number;
  iouTypes?: IouType[];
  /** Where `dataset:` sources are stored (the storage flags and variables). */
  storage?: LazyStorage;
  /** Instance models: write the detections here as a COCO results file. */
  saveResults?: string;
  progress?: ProgressFactory;
  signal?: AbortSignal;
}

/** `--model`: runs the model version over the dataset and scores it. */
export async function evalModel(options: EvalModelOptions): Promise<ModelEvaluation> {
  const { model, version } = parseModelSpec(options.model);
  const dataset = await openDatasetSource(options.dataset, {
    files: DatasetFiles.unconfined(),
    storage: options.storage,
    images: options.images,
  });
  const opened = await openModel(model, options.models ?? defaultRepositoryDir());
  const service = new InferenceService(opened.repository);
  const makeProgress = options.progress ?? createProgress;
  let running: Progress | undefined;
  let scoring: Progress | undefined;
  try {
    // A version number the config's version policy does not load (yolov8n-seg:1 beside the newest) is loaded.
    if (version !== undefined && /^[1-9][0-9]*$/.test(version)) {
      const listed = opened.repository.get(opened.name)?.versions.find((v) => v.version === Number(version));
      if (listed?.state !== 'ready') await opened.repository.loadVersion(opened.name, Number(version));
    }
    // An alias (`:stable`) is read from the database the server keeps aliases in, when there is one.
    if (version !== undefined && ALIAS_NAME.test(version) && options.storage?.databaseExists()) {
      const aliases = new AliasTable();
      await aliases.refresh(await options.storage.database());
      service.useAliases(aliases);
    }
    const evaluation = await evaluateModel({
      service,
      model: opened.name,
      version,
      dataset,
      concurrency: options.concurrency,
      iouTypes: options.iouTypes,
      signal: options.signal,
      onProgress: ({ image }) => {
        running ??= makeProgress(dataset.size, `eval ${opened.name}`);
        running.tick(image);
      },
      onScoring: (_done, total) => {
        running?.stop();
        scoring ??= makeProgress(total, 'score');
        scoring.tick();
      },
    });
    if (options.saveResults !== undefined) {
      if (!evaluation.detections) {
        throw new SegserveError('INVALID_ARGUMENT', {
          reason: '--save-results writes the detections of an instance model; this model is not one',
        });
      }
      await writeJson(options.saveResults, evaluation.detections);
    }
    return evaluation;
  } finally {
    running?.stop();
    scoring?.stop();
    await service.close();
  }
}

/** One line on how long it took, for the end of the table. */
export function formatTimings(evaluation: ModelEvaluation): string {
  const { seconds, images } = evaluation;
  const rate = images / Math.max(seconds.run, 1e-9);
  return (
    `${evaluation.model} version ${evaluation.version} on ${evaluation.dataset}: ` +
    `${seconds.total.toFixed(1)} s (model ${seconds.run.toFixed(1)} s, ${rate.toFixed(2)} img/s; scoring ${seconds.score.toFixed(1)} s)`
  );
}

async function evalModelCommand(options: EvalCommandOptions): Promise<EvaluationReport> {
  const storage = new LazyStorage(storageSettingsOf(options));
  try {
    const evaluation = await evalModel({
      model: options.model!,
      models: options.models,
      dataset: options.dataset,
      images: options.images,
      concurrency: options.concurrency,
      iouTypes: IOU_TYPES[options.iouType],
      storage,
      saveResults: options.saveResults,
    });
    if (!options.json) process.stderr.write(`${formatTimings(evaluation)}\n`);
    return evaluation.report;
  } finally {
    await storage.close();
  }
}

/** Writes the report whole or not at all: a temporary file beside it, renamed over it. */
export async function writeReport(path: string, report: EvaluationReport): Promise<void> {
  await writeJson(path, report, 2);
}

/** Writes `value` as JSON whole or not at all: a temporary file beside it, renamed over it. */
async function writeJson(path: string, value: unknown, indent?: number): Promise<void> {
  const temporary = `${path}.${process.pid}.tmp`;
  try {
    await writeFile(temporary, `${JSON.stringify(value, null, indent)}\n`);
    await rename(temporary, path);
  } catch (error) {
    await rm(temporary, { force: true }).catch(() => undefined);
    throw notWritable(path, error);
  }
}

/** The whole command: the mode's report, printed, and written with --out. */
export async function runEval(options: EvalCommandOptions): Promise<EvaluationReport> {
  const given = EVAL_MODES.filter((mode) => options[mode.key] !== undefined);
  if (given.length !== 1) {
    throw new SegserveError('INVALID_ARGUMENT', {
      reason: `give exactly one of ${EVAL_MODES.map((mode) => mode.flag).join(', ')}`,
    });
  }
  const report = await given[0].run(options);
  if (options.out) await writeReport(options.out, report);
  process.stdout.write(
    `${options.json ? JSON.stringify(report, null, 2) : formatReportTable(report, { worst: options.worst })}\n`,
  );
  if (options.out && !options.json) process.stdout.write(`report written to ${options.out}\n`);
  return report;
}

function positiveInteger(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a positive integer');
  return n;
}

function count(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('expected a whole number, 0 or more');
  return n;
}

export function addEvalCommand(program: Command): void {
  const command = program
    .command('eval')
    .description(
      'score a model version on a dataset (IoU, Dice, confusion matrix; COCO box and mask AP), or a COCO results file (as pycocotools computes it)',
    );
  const flags = EVAL_MODES.map((mode) => mode.key);
  const others = (key: string) => flags.filter((other) => other !== key);
  command.addOption(
    new Option('--results <file>', 'COCO results JSON to score, no model needed').conflicts(
      others('results'),
    ),
  );
  command.addOption(
    new Option(
      '-m, --model <m[:version]>',
      'model name in the repository (or a model folder), with a version number or alias after ":" (default: the newest loaded)',
    ).conflicts(others('model')),
  );
  command
    .requiredOption(
      '--dataset <source>',
      'ground truth: a COCO instances JSON (categories matched by name); with --model also a mask folder ' +
        '(manifest.csv, optional labels.txt) or dataset:<name>[@<version>][#train|#validation]',
    )
    .addOption(
      new Option('--models <dir>', 'model repository folder (env SEGSERVE_MODELS)').default(
        defaultRepositoryDir(),
        '$SEGSERVE_MODELS, else ./models',
      ),
    )
    .option(
      '--images <dir>',
      "a COCO file's images folder (default: images/ beside annotations/, else beside it)",
    )
    .option('-c, --concurrency <n>', 'images in flight at once (default: workers + 1)', positiveInteger)
    .option('--save-results <file>', "instance models: write the model's detections as a COCO results file")
    .addOption(
      new Option(
        '--iou-type <type>',
        'what to score: boxes, masks, or both (masks only when the results have them)',
      )
        .choices(['bbox', 'segm', 'both'])
        .default('both'),
    )
    .option('-o, --out <file>', 'write the JSON report to this file')
    .option('--worst <n>', 'worst images listed in the table', count, 10)
    .option('--json', 'print the JSON report instead of the table', false);
  // Where dataset:<name> sources are stored: the same flags and variables as serve and datasets.
  addStorageOptions(command).action(async (opts: EvalCommandOptions) => {
    await runEval(opts);
  });
}
