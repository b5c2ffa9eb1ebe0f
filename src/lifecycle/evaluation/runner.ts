/**
 * Runs a model version over an evaluation dataset through the serving core, as every adapter reaches a model:
 * `InferenceService` admit, segment, release, with the request source `eval`. The service publishes no
 * `prediction.completed` for that source (src/serving/events.ts, UNPUBLISHED_SOURCES), so an evaluation never
 * shows in the request metrics, the drift windows or the annotation queue, which describe live traffic.
 *
 * A few images are in flight at once (bounded, and never more than the version admits), so decoding overlaps
 * inference; an evaluation on a server shares the version's workers with live requests, and a full queue
 * (QUEUE_FULL, DECODE_BUDGET_FULL) is waited out rather than failing the run. An AbortSignal stops it: no new
 * image starts, the ones waiting for a worker leave the queue, and the run rejects with the signal's reason.
 *
 * An image the model cannot read fails the whole run (EVAL_INPUT_INVALID naming it) instead of being
 * skipped: a score over part of a dataset is not comparable with another version's score over all of it.
 */
import { SegserveError } from '../../errors.js';
import { classLabels, type LoadedVersion, type Task } from '../../models/index.js';
import type { CategoryMapping } from '../../serving/category-ids.js';
import { categoryMapping } from '../../serving/category-ids.js';
import { InferenceService } from '../../serving/service.js';
import type { CocoResult } from '../../serving/types.js';
import { bindClassMaps, bindInstances, checkTask, remapClassMap } from './classes.js';
import type { EvaluationDataset } from './dataset.js';

export interface RunProgress {
  /** Images done so far, and in all. */
  done: number;
  total: number;
  /** The image just done. */
  image: string;
}

export interface RunOptions {
  service: InferenceService;
  model: string;
  /** A version number (or its text); the newest ready version when absent. */
  version?: number | string;
  dataset: EvaluationDataset;
  /** Images in flight at once; default the version's workers + 1, at most what it admits. */
  concurrency?: number;
  signal?: AbortSignal;
  onProgress?: (progress: RunProgress) => void;
  /** Longest wait for a free worker per image (INFERENCE_TIMEOUT); default the runtime's. */
  timeoutMs?: number;
}

/** One image's class maps, both in the model's class ids, at the image's size. */
export interface ClassMapPair {
  image: string;
  imageId: number;
  width: number;
  height: number;
  truth: Uint8Array;
  prediction: Uint8Array;
}

interface RunBase {
  model: string;
  version: number;
  task: Task;
  /** The model's class names by class id (ModelStatus.labels). */
  labels: string[];
  images: number;
  /** Wall-clock seconds of the run. */
  seconds: number;
}

/** An instance model's run: its detections, as a COCO results file holds them, category ids the dataset's. */
export interface InstanceRun extends RunBase {
  kind: 'instances';
  detections: CocoResult[];
  /** How detection labels became the dataset's category ids. */
  categories: string;
}

export interface ClassMapRun extends RunBase {
  kind: 'class-maps';
}

export type EvaluationRun = InstanceRun | ClassMapRun;

/** Image input errors: the dataset's fault, said with the image's name. */
const IMAGE_ERRORS = new Set(['IMAGE_EMPTY', 'IMAGE_UNSUPPORTED_FORMAT', 'IMAGE_CORRUPT', 'IMAGE_TOO_LARGE']);
/** Refusals of a busy server: the image waits for room instead of failing the run. */
const BUSY = new Set(['QUEUE_FULL', 'DECODE_BUDGET_FULL']);
/** Longest single wait for room, whatever Retry-After says. */
const MAX_BUSY_WAIT_MS = 5_000;

function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw signal.reason ?? new SegserveError('REQUEST_ABORTED');
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason ?? new SegserveError('REQUEST_ABORTED'));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * The version to evaluate, and its class names, checked against the dataset before any image is run: an unknown
 * model or version (MODEL_NOT_FOUND, MODEL_VERSION_NOT_FOUND), another task (EVAL_TASK_MISMATCH), other classes
 * (EVAL_CLASSES_MISMATCH), an empty dataset (EVAL_DATASET_EMPTY).
 */
export function resolveForEvaluation(
  service: InferenceService,
  model: string,
  version: number | string | undefined,
  dataset: EvaluationDataset,
): { loaded: LoadedVersion; labels: string[] } {
  const loaded = service.resolve({ model, version });
  const labels = classLabels(loaded.config.decoder, loaded.labels);
  checkTask(dataset, loaded.name, loaded.config.task);
  if (dataset.kind === 'instances') bindInstances(dataset, loaded.name, labels);
  else bindClassMaps(dataset, loaded.name, loaded.config.task, labels);
  if (dataset.size === 0) {
    throw new SegserveError('EVAL_DATASET_EMPTY', { reason: `dataset ${dataset.source} holds no image` });
  }
  return { loaded, labels };
}

/**
 * Runs the model on every image of the dataset. Class maps go to `onClassMap` as each image is done (in
 * completion order, not dataset order); instance detections are gathered and answered.
 */
export async function runEvaluation(
  options: RunOptions,
  onClassMap: (pair: ClassMapPair) => void = () => {},
): Promise<EvaluationRun> {
  const { service, dataset, signal } = options;
  const started = performance.now();
  const { loaded, labels } = resolveForEvaluation(service, options.model, options.version, dataset);
  // Every image runs on the version resolved now, even if a newer one loads meanwhile.
  const target = { model: loaded.name, version: loaded.version };
  const task = loaded.config.task;
  const capacity = InferenceService.capacity(loaded);
  const concurrency = Math.max(
    1,
    Math.min(options.concurrency ?? loaded.config.instances + 1, capacity, dataset.size),
  );

  let mapping: CategoryMapping | undefined;
  let keep: ReadonlySet<string> | undefined;
  if (dataset.kind === 'instances') {
    keep = bindInstances(dataset, loaded.name, labels);
    mapping = categoryMapping(labels, dataset.groundTruth.categories);
  }
  const binding =
    dataset.kind === 'class-maps' ? bindClassMaps(dataset, loaded.name, task, labels) : undefined;
  const detections: CocoResult[][] = [];

  const admit = async () => {
    for (;;) {
      throwIfAborted(signal);
      try {
        return service.admit(target, { source: 'eval' });
      } catch (error) {
        if (!(error instanceof SegserveError && BUSY.has(error.code))) throw error;
        const retryAfter = Number(error.details.retry_after ?? 1);
        await sleep(Math.min(retryAfter * 1000, MAX_BUSY_WAIT_MS), signal);
      }
    }
  };

  const runOne = async (index: number): Promise<void> => {
    const image = dataset.image(index);
    const bytes = await image.bytes();
    for (;;) {
      const ticket = await admit();
      try {
        const seg = await service.segment(ticket, bytes, { signal, timeoutMs: options.timeoutMs });
        const { result } = seg;
        if (result.task === 'instance') {
          const found = await service.encode(seg, {
            kind: 'coco',
            imageId: image.imageId,
            fileName: image.name,
            categoryId: mapping!,
          });
          detections[index] = found.filter((d) => keep!.has(d.category_name));
        } else {
          if (dataset.kind !== 'class-maps' || !binding || result.task === 'classification')
            throw new Error('class maps without class-map ground truth');
          const read = dataset.image(index).classMap(result.width, result.height, binding.format);
          const truth = remapClassMap(await read, binding.toModel);
          onClassMap({
            image: image.name,
            imageId: image.imageId,
            width: result.width,
            height: result.height,
            truth,
            prediction: result.classMap,
          });
        }
        return;
      } catch (error) {
        if (error instanceof SegserveError && BUSY.has(error.code)) {
          // The pixel budget refused the decode: wait for room as admission does.
          await sleep(Math.min(Number(error.details.retry_after ?? 1) * 1000, MAX_BUSY_WAIT_MS), signal);
          continue;
        }
        if (error instanceof SegserveError && IMAGE_ERRORS.has(error.code)) {
          throw new SegserveError(
            'EVAL_INPUT_INVALID',
            { source: `dataset ${dataset.source}`, reason: `image ${image.name}: ${error.message}` },
            { cause: error },
          );
        }
        throw error;
      } finally {
        ticket.release();
      }
    }
  };

  let next = 0;
  let done = 0;
  let failed = false;
  const worker = async () => {
    while (!failed && next < dataset.size) {
      throwIfAborted(signal);
      const index = next++;
      try {
        await runOne(index);
      } catch (error) {
        failed = true;
        throw error;
      }
      done++;
      options.onProgress?.({ done, total: dataset.size, image: dataset.image(index).name });
    }
  };
  const results = await Promise.allSettled(Array.from({ length: concurrency }, worker));
  const rejection = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (rejection) throw rejection.reason;

  const base = {
    model: loaded.name,
    version: loaded.version,
    task,
    labels,
    images: dataset.size,
    seconds: (performance.now() - started) / 1000,
  };
  if (dataset.kind === 'instances') {
    return { kind: 'instances', ...base, detections: detections.flat(), categories: mapping!.description };
  }
  return { kind: 'class-maps', ...base };
}
