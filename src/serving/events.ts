/**
 * The serving core's typed in-process events, the seam that monitoring, drift, active learning and shadow
 * traffic hang off. `prediction.completed` is emitted once per prediction from every adapter, after its answer
 * has been sent (when the request's ticket is released). Subscribers run on a later turn of the event loop:
 * they never slow or fail a request, and one that throws is logged and counted.
 */
import type { ImageFormat, PixelStatistics } from '../image/index.js';
import type { ErrorSummary, RepositoryEvent, RetireReason } from '../models/repository.js';
import type {
  ClassUncertainty,
  InstanceUncertainty,
  PixelUncertainty,
  SegmentationResult,
  Task,
} from '../tasks/types.js';
import type { ShadowTarget } from './traffic.js';
import type { StageTimings } from './types.js';

/** Which adapter a request came through (bounded: used in logs and metric labels). */
export type RequestSource =
  | 'v1'
  | 'predict'
  | 'predict/upload'
  | 'predict/url'
  | 'predict/batch'
  | 'api/detect'
  | 'v2'
  | 'cli'
  /** An input of a batch job (src/jobs), run by a worker. */
  | 'job'
  /** A model evaluation (src/lifecycle/evaluation): never published, see UNPUBLISHED_SOURCES. */
  | 'eval'
  /** A copy of a served request run on a shadow variant (src/monitoring/shadow): never published either. */
  | 'shadow';

/**
 * Sources whose predictions are not live traffic, so the service publishes no `prediction.completed` for them.
 * An evaluation runs a whole dataset through a version: published, its predictions would count as requests in
 * the metrics and the monitor page, shift the drift windows towards the dataset's images (and could raise drift
 * on them), and fill the annotation queue with images that already have labels. Not publishing them keeps every
 * subscriber, present and future, right without each having to remember to skip them; the admission counters
 * and the Retry-After estimate still see them, since they do hold the model's workers.
 *
 * Shadow runs (copies of live requests on a shadow variant) are left out for the same reasons, and one more: a
 * shadow prediction published with the endpoint's shadows would be shadowed again, without end.
 */
export const UNPUBLISHED_SOURCES: ReadonlySet<RequestSource> = new Set<RequestSource>(['eval', 'shadow']);

/** What a prediction found, small enough to keep per prediction: no masks, no pixels. */
export type PredictionSummary =
  | { task: 'instance'; instances: Array<{ label: string; classId: number; score: number; area: number }> }
  | {
      task: Exclude<Task, 'instance' | 'classification'>;
      /** Every class present, with its pixel count and its share of the image. */
      classes: Array<{ label: string; classId: number; area: number; ratio: number }>;
    }
  /** A classifier's answer: its top classes, best first. */
  | { task: 'classification'; classes: Array<{ label: string; classId: number; score: number }> }
  /** An Open Inference Protocol request: raw tensors in and out, nothing decoded. */
  | { task: 'tensors' };

/** What a result found, without masks or pixels. */
export function summarizeResult(result: SegmentationResult): PredictionSummary {
  if (result.task === 'instance') {
    return {
      task: 'instance',
      instances: result.instances.map(({ label, classId, score, area }) => ({ label, classId, score, area })),
    };
  }
  if (result.task === 'classification') {
    return {
      task: 'classification',
      classes: result.top.map(({ label, classId, score }) => ({ label, classId, score })),
    };
  }
  const pixels = Math.max(1, result.width * result.height);
  return {
    task: result.task,
    classes: result.areas.map(({ label, classId, area }) => ({ label, classId, area, ratio: area / pixels })),
  };
}

export interface PredictionCompleted {
  type: 'prediction.completed';
  /** Unique per prediction (a batch request makes several). */
  predictionId: string;
  /** The HTTP request id; absent for the command line. */
  requestId?: string;
  source: RequestSource;
  model: string;
  version: number;
  /** The traffic variant that served it: its name in the endpoint's policy, or `default` for a request to a model. */
  variant: string;
  /** The endpoint the request called, when a traffic policy chose the variant (absent for a request to a model). */
  endpoint?: string;
  /**
   * With `endpoint`: the policy's shadow variants, resolved to versions when the request was admitted (one that
   * could not serve then, or that is the version that served, is left out). The shadow feature (src/monitoring/shadow)
   * samples them by `sampleRate` and runs them on a copy of the input after the answer was sent.
   */
  shadows?: ShadowTarget[];
  /** Epoch milliseconds when the answer was done. */
  at: number;
  timings: StageTimings;
  image?: { width: number; height: number; format: ImageFormat };
  uncertainty?: PixelUncertainty | InstanceUncertainty | ClassUncertainty;
  summary: PredictionSummary;
  /** Brightness, contrast and colourfulness of the input as the model saw it; absent for raw tensors. */
  imageStatistics?: PixelStatistics;
  /** The input's perceptual hash, for models whose sampling suppresses near-duplicates (`sampling.dedupe`). */
  imageHash?: bigint;
  /** Requests in the inference that served this one (config `batching`); absent where the runtime does not say. */
  batchSize?: number;
  /** The compressed input image, for subscribers that keep inputs (sampling); absent for raw tensors. */
  imageBytes?: Uint8Array;
  /**
   * The result with its masks, for subscribers that keep predictions (sampling stores them as the label an
   * annotator starts from). The answer was built from it already: a subscriber must not change it.
   */
  result?: SegmentationResult;
}

/** A model version's drift crossed its threshold (`detected`) or fell back below it (see monitoring/drift). */
export interface DriftDetected {
  type: 'drift.detected';
  model: string;
  version: number;
  detected: boolean;
  /** The largest PSI over the signals, and the signal it came from. */
  score: number;
  signal: string;
  at: number;
}

/**
 * A model version began serving after start: loaded by an operator, the watch or an upload, or swapped in by a
 * reload (`replaced`: the version of that number before it is retiring). Versions loaded at start are in the
 * repository's list before any subscriber exists, and are not announced.
 */
export interface ModelLoaded {
  type: 'model.loaded';
  model: string;
  version: number;
  replaced: boolean;
  loadMs: number;
  at: number;
}

/**
 * A model version stopped serving and its runtime is closed: no prediction of it is made after this event (a
 * request that outlived the unload timeout aside). Subscribers drop what they keep per version (metric series,
 * drift monitors, samplers). Not published when a reload replaced the version's runtime: the version serves on.
 */
export interface ModelUnloaded {
  type: 'model.unloaded';
  model: string;
  version: number;
  reason: Exclude<RetireReason, 'replaced'>;
  at: number;
}

/**
 * Loading a version after start failed. `serving`: a version of that number loaded before keeps serving (a
 * failed reload).
 */
export interface ModelLoadFailed {
  type: 'model.load_failed';
  model: string;
  version: number;
  serving: boolean;
  error: ErrorSummary;
  at: number;
}

/**
 * The gate classifier of a gated model decided on an image (`pipeline.gate`): accepted (it is segmented next)
 * or refused (the request is answered GATE_REFUSED). Emitted as the decision is made; a refused image makes no
 * `prediction.completed`.
 */
export interface GateDecided {
  type: 'gate.decided';
  /** The gated model and the version the request was admitted to. */
  model: string;
  version: number;
  /** The gate classifier and its version. */
  gate: string;
  gateVersion: number;
  accepted: boolean;
  /** The best-scoring accepted label and its probability. */
  label: string;
  score: number;
  source: RequestSource;
  requestId?: string;
  at: number;
}

export type ServingEvent =
  | PredictionCompleted
  | GateDecided
  | DriftDetected
  | ModelLoaded
  | ModelUnloaded
  | ModelLoadFailed;

/** The serving event a repository event is published as, if any. */
export function servingEventOf(event: RepositoryEvent, at = Date.now()): ServingEvent | undefined {
  switch (event.type) {
    case 'version-ready':
    case 'version-reloaded':
      return {
        type: 'model.loaded',
        model: event.model,
        version: event.version,
        replaced: event.type === 'version-reloaded',
        loadMs: event.loadMs,
        at,
      };
    case 'version-unloaded':
      // A runtime replaced by a reload: the version itself still serves (model.loaded said `replaced`).
      if (event.reason === 'replaced') return undefined;
      return { type: 'model.unloaded', model: event.model, version: event.version, reason: event.reason, at };
    case 'version-failed':
    case 'version-reload-failed':
      return {
        type: 'model.load_failed',
        model: event.model,
        version: event.version,
        serving: event.type === 'version-reload-failed',
        error: event.error,
        at,
      };
    default:
      return undefined;
  }
}
export type ServingEventType = ServingEvent['type'];
type EventOf<T extends ServingEventType> = Extract<ServingEvent, { type: T }>;
export type Subscriber<T extends ServingEventType> = (event: EventOf<T>) => void | Promise<void>;

type AnySubscriber = (event: ServingEvent) => void | Promise<void>;

export interface EventFailure {
  type: ServingEventType;
  subscriber: string;
  error: unknown;
}

export class ServingEvents {
  readonly #subscribers = new Map<ServingEventType, Array<{ name: string; handler: AnySubscriber }>>();
  readonly #onFailure: (failure: EventFailure) => void;
  #failures = 0;

  /** `onFailure` hears of every subscriber that threw (the server logs it). */
  constructor(onFailure: (failure: EventFailure) => void = () => {}) {
    this.#onFailure = onFailure;
  }

  /** Subscribes `handler` (named for the failure log); returns the unsubscribe function. */
  on<T extends ServingEventType>(type: T, name: string, handler: Subscriber<T>): () => void {
    const list = this.#subscribers.get(type) ?? [];
    // Stored by event type, so each list only ever receives events of the type its handlers were written for.
    const entry = { name, handler: handler as unknown as AnySubscriber };
    list.push(entry);
    this.#subscribers.set(type, list);
    return () => {
      const index = list.indexOf(entry);
      if (index >= 0) list.splice(index, 1);
    };
  }

  /** Delivers `event` to its subscribers on a later turn of the event loop; returns at once. */
  emit(event: ServingEvent): void {
    const list = this.#subscribers.get(event.type);
    if (!list || list.length === 0) return;
    setImmediate(() => {
      for (const { name, handler } of [...list]) {
        try {
          const done = handler(event);
          if (done instanceof Promise) done.catch((error: unknown) => this.#fail(event.type, name, error));
        } catch (error) {
          this.#fail(event.type, name, error);
        }
      }
    });
  }

  /** Subscribers that threw since start. */
  failures(): number {
    return this.#failures;
  }

  #fail(type: ServingEventType, subscriber: string, error: unknown): void {
    this.#failures++;
    this.#onFailure({ type, subscriber, error });
  }
}
