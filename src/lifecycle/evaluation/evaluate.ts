/**
 * A model version's evaluation on a dataset: the run through the serving core (runner.ts), scored by the
 * evaluation library (src/eval) into its one report. Class maps stream into a SemanticEvaluator as each image is
 * done (only the confusion matrix and a row per image are kept); instance detections are scored at the end by
 * COCO's rules (box and mask AP, categories by name). The command line, the API and the promotion gate all call
 * this, so they report the same numbers.
 */
import {
  type EvaluationReport,
  evaluateCoco,
  type IouType,
  instanceReport,
  parseCocoDataset,
  SemanticEvaluator,
} from '../../eval/index.js';
import type { CocoResult } from '../../serving/types.js';
import type { EvaluationDataset } from './dataset.js';
import { type EvaluationRun, type RunOptions, resolveForEvaluation, runEvaluation } from './runner.js';

export interface EvaluateModelOptions extends RunOptions {
  /** Instance models: what to score (default both boxes and masks). */
  iouTypes?: IouType[];
  /** Instance models: called as the scoring goes through the images, after the run. */
  onScoring?: (done: number, total: number) => void;
}

export interface ModelEvaluation {
  report: EvaluationReport;
  model: string;
  version: number;
  /** What was read, for people (format, name and version, image count). */
  dataset: string;
  images: number;
  /** Seconds running the model over the images, and scoring them. */
  seconds: { run: number; score: number; total: number };
  /** Instance models: the detections, as a COCO results file holds them (category ids the dataset's). */
  detections?: CocoResult[];
}

/** How the report names the dataset: the source as given, a dataset version by its full id. */
function reportName(dataset: EvaluationDataset): string {
  return dataset.reportName ?? dataset.source;
}

export async function evaluateModel(options: EvaluateModelOptions): Promise<ModelEvaluation> {
  const started = performance.now();
  const { service, dataset } = options;
  // Resolved once: every image runs on this version even if another loads meanwhile, and the evaluator needs
  // the model's classes before the first image is done.
  const { loaded, labels } = resolveForEvaluation(service, options.model, options.version, dataset);
  const runOptions: RunOptions = { ...options, model: loaded.name, version: loaded.version };
  const meta = { dataset: reportName(dataset), model: { name: loaded.name, version: loaded.version } };
  let run: EvaluationRun;
  let report: EvaluationReport;
  let scoringStarted: number;
  if (dataset.kind === 'class-maps') {
    const task = loaded.config.task === 'binary' ? 'binary' : 'semantic';
    const evaluator = new SemanticEvaluator({ labels, task });
    run = await runEvaluation(runOptions, (pair) => evaluator.add(pair.image, pair.truth, pair.prediction));
    scoringStarted = performance.now();
    report = evaluator.report(meta);
  } else {
    run = await runEvaluation(runOptions);
    scoringStarted = performance.now();
    if (run.kind !== 'instances') throw new Error('an instance dataset gave a class-map run');
    const groundTruth = parseCocoDataset(dataset.groundTruth, `dataset ${dataset.source}`);
    const evaluation = await evaluateCoco(groundTruth, run.detections, {
      iouTypes: options.iouTypes,
      signal: options.signal,
      onImage: options.onScoring,
    });
    report = instanceReport(evaluation, meta);
  }
  const ended = performance.now();
  return {
    report,
    model: run.model,
    version: run.version,
    dataset: dataset.description,
    images: run.images,
    seconds: {
      run: (scoringStarted - started) / 1000,
      score: (ended - scoringStarted) / 1000,
      total: (ended - started) / 1000,
    },
    detections: run.kind === 'instances' ? run.detections : undefined,
  };
}
