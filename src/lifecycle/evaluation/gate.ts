/**
 * Evaluations as the model lifecycle keeps them: the figure a report gives for a configured metric, the
 * evaluation of a version on its model's configured dataset (config.yaml `evaluation:`, what the promotion gate
 * of src/lifecycle/lifecycle.ts compares), and recording an evaluation with its version.
 */
import { SegserveError } from '../../errors.js';
import type { EvaluationReport } from '../../eval/index.js';
import { type EvaluationMetric, evaluationMetric, expandEnv } from '../../models/index.js';
import type { InferenceService } from '../../serving/service.js';
import type { Queryable, StorageAccess } from '../../storage/index.js';
import type { GateEvaluation, GateEvaluator } from '../lifecycle.js';
import { recordEvaluation, recordHistory } from '../store.js';
import { evaluateModel, type ModelEvaluation } from './evaluate.js';
import { DatasetFiles } from './files.js';
import { openDatasetSource } from './source.js';

/**
 * The figure of `metric` in `report`: mIoU of a semantic or binary report, COCO's AP (.50:.95) of masks or
 * boxes of an instance one; null when the report has none (boxes only, or a measure of another task).
 */
export function metricValue(report: EvaluationReport, metric: EvaluationMetric): number | null {
  if (report.kind === 'semantic') return metric === 'miou' ? report.summary.miou : null;
  const summary =
    metric === 'mask_ap' ? report.summary.mask : metric === 'box_ap' ? report.summary.box : null;
  // COCO prints -1 where nothing could be measured.
  return summary === null || summary.AP < 0 ? null : summary.AP;
}

export interface GateOptions {
  service: InferenceService;
  /** Where `dataset:` sources are stored. */
  storage?: StorageAccess;
  /** Environment for `${VAR}` in dataset paths (default process.env). */
  env?: NodeJS.ProcessEnv;
  /** Images in flight at once (default the version's workers, so live traffic keeps its queue). */
  concurrency?: number;
}

/**
 * Evaluates `version` of `model` on the dataset of its config's `evaluation:` block; undefined when it has none.
 * A path in the block is relative to the model folder (`${VAR}` expanded), and read without an evaluation root:
 * config.yaml is the operator's, not a request's.
 */
export async function evaluateConfigured(
  options: GateOptions,
  model: string,
  version: number,
): Promise<{ evaluation: ModelEvaluation; gate: GateEvaluation } | undefined> {
  const { service } = options;
  const loaded = service.resolve({ model, version });
  const config = loaded.config.evaluation;
  if (!config) return undefined;
  const status = service.repository.get(loaded.name);
  const { value: source, missing } = expandEnv(config.dataset, options.env ?? process.env);
  if (missing.length > 0) {
    throw new SegserveError('INVALID_ARGUMENT', {
      reason: `evaluation.dataset of model "${loaded.name}" names unset environment variables: ${missing.join(', ')}`,
    });
  }
  const dataset = await openDatasetSource(source, {
    files: DatasetFiles.unconfined(status?.dir),
    storage: options.storage,
  });
  const evaluation = await evaluateModel({
    service,
    model: loaded.name,
    version: loaded.version,
    dataset,
    concurrency: options.concurrency ?? loaded.config.instances,
  });
  const metric = evaluationMetric(loaded.config.task, config);
  const value = metricValue(evaluation.report, metric);
  if (value === null) {
    throw new SegserveError('EVAL_DATASET_EMPTY', {
      reason: `the evaluation of model "${loaded.name}" version ${loaded.version} on ${dataset.description} gives no ${metric}`,
    });
  }
  const gate: GateEvaluation = {
    dataset: evaluation.report.dataset,
    metric,
    value,
    tolerance: config.tolerance,
    report: evaluation.report,
  };
  return { evaluation, gate };
}

/** The promotion gate's evaluator (ModelLifecycle's `evaluate`): the configured dataset, metric and tolerance. */
export function configuredGateEvaluator(options: GateOptions): GateEvaluator {
  return async (model, version) => (await evaluateConfigured(options, model, version))?.gate;
}

/**
 * Records an evaluation made outside the gate (the evaluation API) with its version, and in the model's history,
 * so the version's history shows it and a later promotion may compare against it (the gate reuses a recorded
 * figure of the same dataset and metric). The metric recorded is the one the model's gate uses.
 */
export async function recordModelEvaluation(
  db: Queryable,
  evaluation: ModelEvaluation,
  metric: EvaluationMetric,
  actor: string,
): Promise<{ id: string; metric: EvaluationMetric; value: number } | undefined> {
  const value = metricValue(evaluation.report, metric);
  if (value === null) return undefined;
  const { model, version, report } = evaluation;
  const record = await recordEvaluation(db, {
    model,
    version,
    dataset: report.dataset,
    metric,
    value,
    report,
  });
  await recordHistory(db, {
    model,
    version,
    kind: 'evaluated',
    actor,
    details: { evaluation: record.id, dataset: record.dataset, metric, value },
  });
  return { id: record.id, metric, value };
}
