/**
 * `segserve eval`: scores predictions against a ground truth and prints the report as a table (or JSON with
 * --json), writing the JSON report with --out. Where the predictions come from is the mode, one flag each, of
 * which exactly one is given: `--results <file>` scores a COCO results file without a model. A model mode
 * (`--model m[:version]`, running the model over the dataset) joins `EVAL_MODES` as another entry; the
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
import { notWritable } from './predict.js';
import { createProgress, type Progress } from './progress.js';

export interface EvalCommandOptions {
  dataset: string;
  results?: string;
  iouType: 'bbox' | 'segm' | 'both';
  out?: string;
  worst: number;
  json: boolean;
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
  key: keyof EvalCommandOptions;
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
    run: (options) =>
      evalResults({
        results: options.results!,
        dataset: options.dataset,
        iouTypes: IOU_TYPES[options.iouType],
      }),
  },
];

/** Writes the report whole or not at all: a temporary file beside it, renamed over it. */
export async function writeReport(path: string, report: EvaluationReport): Promise<void> {
  const temporary = `${path}.${process.pid}.tmp`;
  try {
    await writeFile(temporary, `${JSON.stringify(report, null, 2)}\n`);
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

function count(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('expected a whole number, 0 or more');
  return n;
}

export function addEvalCommand(program: Command): void {
  const command = program
    .command('eval')
    .description(
      'score predictions against ground truth: COCO box and mask AP of a results file (as pycocotools computes it)',
    );
  const flags = EVAL_MODES.map((mode) => mode.key);
  command.addOption(
    new Option('--results <file>', 'COCO results JSON to score, no model needed').conflicts(
      flags.filter((key) => key !== 'results'),
    ),
  );
  command
    .requiredOption('--dataset <file>', 'ground truth: a COCO instances JSON (categories matched by name)')
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
    .option('--json', 'print the JSON report instead of the table', false)
    .action(async (opts: EvalCommandOptions) => {
      await runEval(opts);
    });
}
