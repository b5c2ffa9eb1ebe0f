/**
 * The `evaluation:` block of a model's config.yaml: the dataset a version of the model is evaluated on before it
 * may become `stable` (the promotion gate), which metric decides, and how much worse than the current stable
 * version a candidate may score. `segserve eval` and the evaluation API read the same dataset sources
 * (src/lifecycle/evaluation/source.ts); the README's "Model repository" section documents each key. A model
 * without the block has no gate dataset.
 *
 *     evaluation:
 *       dataset: dataset:faces@latest#validation   # or a COCO file, a mask folder (relative to the model folder)
 *       metric: miou                               # miou | mask_ap | box_ap; default: miou, or mask_ap for instance
 *       tolerance: 0.01                            # refuse a candidate more than this below stable
 */
import { z } from 'zod';
import type { Task } from './config.js';

export const EVALUATION_METRICS = ['miou', 'mask_ap', 'box_ap'] as const;
export type EvaluationMetric = (typeof EVALUATION_METRICS)[number];

/**
 * A stored dataset's version: `dataset:<name>[@<version id, unique prefix or latest>][#<split>]`. The one
 * reading for the config check here and the source parser (src/lifecycle/evaluation/source.ts).
 */
const DATASET_REFERENCE = /^dataset:([^@#]+)(?:@([^@#]+))?(?:#([^@#]+))?$/;

/** The splits of a dataset version, as src/learning/datasets/manifest.ts names them (a test keeps them equal). */
export const REFERENCE_SPLITS = ['train', 'validation'] as const;

export interface DatasetReference {
  name: string;
  /** `latest` when the text names none. */
  ref: string;
  split?: (typeof REFERENCE_SPLITS)[number];
}

/**
 * The dataset version `text` names, undefined for text that is not a `dataset:` reference (a path), or the
 * problem with one that is malformed.
 */
export function parseDatasetReference(text: string): DatasetReference | { problem: string } | undefined {
  if (!text.startsWith('dataset:')) return undefined;
  const match = DATASET_REFERENCE.exec(text);
  if (!match) return { problem: 'write dataset:<name>[@<version>][#train|#validation]' };
  const [, name, ref, split] = match;
  if (split !== undefined && !(REFERENCE_SPLITS as readonly string[]).includes(split)) {
    return { problem: `split "${split.slice(0, 40)}" is not one of ${REFERENCE_SPLITS.join(', ')}` };
  }
  return { name, ref: ref ?? 'latest', split: split as DatasetReference['split'] };
}

export const EvaluationConfigSchema = z
  .object({
    /**
     * `dataset:<name>[@<version>][#<split>]`, or a path relative to the model folder (`${VAR}` and
     * `${VAR:-default}` expanded as in `versions`): a COCO instances file, or a mask folder with manifest.csv.
     */
    dataset: z
      .string()
      .min(1)
      .max(4096)
      .superRefine((text, ctx) => {
        const reference = parseDatasetReference(text);
        if (reference && 'problem' in reference) ctx.addIssue({ code: 'custom', message: reference.problem });
      }),
    /** Default by task: miou (semantic, binary), mask_ap (instance). */
    metric: z.enum(EVALUATION_METRICS).optional(),
    /** How far below the current stable version's metric a candidate may score and still be promoted. */
    tolerance: z.number().min(0).max(1).default(0.01),
  })
  .strict();

export type EvaluationConfig = z.infer<typeof EvaluationConfigSchema>;

/** The metrics a task is scored with. */
export function metricsOfTask(task: Task): readonly EvaluationMetric[] {
  return task === 'instance' ? ['mask_ap', 'box_ap'] : ['miou'];
}

/** The metric that decides for a model of `task`: the configured one, else the task's first. */
export function evaluationMetric(
  task: Task,
  evaluation: Pick<EvaluationConfig, 'metric'> | undefined,
): EvaluationMetric {
  return evaluation?.metric ?? metricsOfTask(task)[0];
}

/** Why `metric` cannot score a model of `task`, or undefined when it can. */
export function metricTaskMismatch(task: Task, metric: EvaluationMetric | undefined): string | undefined {
  if (metric === undefined || metricsOfTask(task).includes(metric)) return undefined;
  return `${metric} does not score a ${task} model; use ${metricsOfTask(task).join(' or ')}`;
}
