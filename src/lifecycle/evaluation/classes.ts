/**
 * Matching a model with an evaluation dataset: by task (instances are scored against instances, class maps
 * against class maps) and by class name, never by position, since two label files rarely agree on order.
 *
 * - Class maps (semantic and binary): the dataset's class names must be the model's, in any order; each dataset
 *   class id is mapped to the model's id of the same name. A mask folder without `labels.txt` names no classes:
 *   its values are taken as the model's class ids (a binary model's foreground may be 1 or 255).
 * - Instances: every category of the dataset must be one of the model's labels; the model may know more
 *   classes (an 80-class COCO model on a dataset of people), whose detections are left out, as COCO's
 *   evaluation leaves out categories its ground truth does not have.
 */
import { SegserveError } from '../../errors.js';
import type { Task } from '../../models/index.js';
import type { ClassMapFormat, EvaluationDataset } from './dataset.js';

/** How a class-map dataset's values become the model's class ids. */
export interface ClassMapBinding {
  format: ClassMapFormat;
  /** Model class id by dataset class id; undefined when they are the same (no labels in the dataset). */
  toModel?: Uint8Array;
}

const LISTED = 20;

function list(names: readonly string[]): string {
  const shown = names.slice(0, LISTED).join(', ');
  return names.length > LISTED ? `${shown}, ... (${names.length} in all)` : shown;
}

function mismatch(
  dataset: EvaluationDataset,
  model: string,
  labels: readonly string[],
  classes: readonly string[],
  reason: string,
) {
  return new SegserveError('EVAL_CLASSES_MISMATCH', {
    source: `dataset ${dataset.source}`,
    model,
    dataset_classes: list(classes),
    model_classes: list(labels),
    reason,
  });
}

/** EVAL_TASK_MISMATCH when the model's task cannot be scored on the dataset's ground truth. */
export function checkTask(dataset: EvaluationDataset, model: string, task: Task): void {
  if (task === 'classification') {
    throw new SegserveError('EVAL_TASK_MISMATCH', {
      model,
      task,
      source: `dataset ${dataset.source}`,
      ground_truth: dataset.kind === 'instances' ? 'instance annotations (COCO)' : 'class-map masks',
      reason: 'segserve evaluates segmentation models only (mask AP, box AP, mIoU), not classifiers',
    });
  }
  const instances = task === 'instance';
  if (instances === (dataset.kind === 'instances')) return;
  throw new SegserveError('EVAL_TASK_MISMATCH', {
    model,
    task,
    source: `dataset ${dataset.source}`,
    ground_truth: dataset.kind === 'instances' ? 'instance annotations (COCO)' : 'class-map masks',
    reason: instances
      ? 'instance models are evaluated on COCO instances or instance dataset versions'
      : 'semantic and binary models are evaluated on mask folders or semantic and binary dataset versions',
  });
}

/** The binding of a class-map dataset to the model's labels (`labels`: class names by the model's class id). */
export function bindClassMaps(
  dataset: Extract<EvaluationDataset, { kind: 'class-maps' }>,
  model: string,
  task: Task,
  labels: readonly string[],
): ClassMapBinding {
  const { classes } = dataset;
  if (classes === undefined) return { format: { classes: labels.length, binary: task === 'binary' } };
  const duplicate = classes.find((name, i) => classes.indexOf(name) !== i);
  if (duplicate !== undefined)
    throw mismatch(dataset, model, labels, classes, `the dataset names "${duplicate}" twice`);
  const missing = classes.filter((name) => !labels.includes(name));
  const extra = labels.filter((name) => !classes.includes(name));
  if (missing.length > 0 || extra.length > 0) {
    const parts = [
      missing.length > 0 ? `not classes of the model: ${list(missing)}` : '',
      extra.length > 0 ? `not classes of the dataset: ${list(extra)}` : '',
    ].filter(Boolean);
    throw mismatch(dataset, model, labels, classes, `${parts.join('; ')} (classes are matched by name)`);
  }
  const toModel = Uint8Array.from(classes, (name) => labels.indexOf(name));
  const identity = toModel.every((id, i) => id === i);
  return {
    format: { classes: classes.length, binary: dataset.binary },
    toModel: identity ? undefined : toModel,
  };
}

/** Checks that every category of an instance dataset is one of the model's labels; answers their names. */
export function bindInstances(
  dataset: Extract<EvaluationDataset, { kind: 'instances' }>,
  model: string,
  labels: readonly string[],
): ReadonlySet<string> {
  const missing = dataset.classes.filter((name) => !labels.includes(name));
  if (missing.length > 0) {
    throw mismatch(
      dataset,
      model,
      labels,
      dataset.classes,
      `categories that are not labels of the model: ${list(missing)} (categories are matched by name)`,
    );
  }
  return new Set(dataset.classes);
}

/** `map` with every value replaced by `toModel[value]` (in place). */
export function remapClassMap(map: Uint8Array, toModel: Uint8Array | undefined): Uint8Array {
  if (!toModel) return map;
  for (let i = 0; i < map.length; i++) map[i] = toModel[map[i]];
  return map;
}
