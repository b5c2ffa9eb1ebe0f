/**
 * What the serving layer hands its callers: stage timings, the JSON answer, COCO results entries and the model
 * list. Types only (and the stage order), with no Node-only imports anywhere below them, so the browser UI (web/)
 * type-checks against these same declarations instead of keeping its own copy of the wire format.
 */
import type { Polygon } from '../masks/polygons.js';
import type { CompressedRle } from '../masks/types.js';
import type { DecoderName, GateConfig, InputConfig } from '../models/config.js';
import type { ErrorSummary, LoadState } from '../models/status.js';
import type { Box, ClassUncertainty, InstanceUncertainty, PixelUncertainty, Task } from '../tasks/types.js';

export type { ErrorSummary, LoadState };

export interface StageTimings {
  /** Header probe, decode, EXIF orientation and resize (libvips, on libuv threads). */
  decode: number;
  /**
   * Models with a gate (`pipeline.gate`): the gate classifier's whole stage, from the decoded image to its
   * decision (its resize, queue, tensor fill, inference and decoder). Absent for models without a gate.
   */
  gate?: number;
  /** Tensor fill (placement, padding, layout, colour order, normalisation), in the inference worker. */
  preprocess: number;
  /** Waiting for a free worker. */
  queue: number;
  /** `session.run` inside the worker. */
  infer: number;
  /** Task decoder inside the worker (NMS, masks back to image coordinates, entropy). */
  postprocess: number;
  /** Serialising the answer (RLE strings, PNG, overlay); filled in by the adapter that encodes. */
  encode: number;
  /** Wall time from bytes in to result out (before encoding). */
  total: number;
}

/** The stages in the order a request passes them, `total` last: the order Server-Timing and the UI list them. */
export const STAGES = [
  'decode',
  'gate',
  'preprocess',
  'queue',
  'infer',
  'postprocess',
  'encode',
  'total',
] as const satisfies ReadonlyArray<keyof StageTimings>;

export interface InstanceJson {
  label: string;
  class_id: number;
  score: number;
  /** [x, y, width, height] in pixels of the EXIF-oriented input image (COCO's bbox convention). */
  box: Box;
  area: number;
  margin: number;
  mask?: CompressedRle;
  polygons?: Polygon[];
}

export interface ClassJson {
  class_id: number;
  label: string;
  area: number;
  mask?: CompressedRle;
  polygons?: Polygon[];
}

/** The variant of requests that reach a model directly, without a traffic policy. */
export const DEFAULT_VARIANT = 'default';

/**
 * One class of a classification answer, best first. The mask fields are declared absent (`never`) so that code
 * reading `answer.classes` of either kind of answer type-checks and finds them undefined here.
 */
export interface ClassScoreJson {
  label: string;
  class_id: number;
  score: number;
  area?: never;
  mask?: never;
  polygons?: never;
}

/** What the gate classifier of a gated model said about an image it let through. */
export interface GateJson {
  model: string;
  version: number;
  /** The accepted label that passed, and its probability. */
  label: string;
  score: number;
}

interface AnswerJsonBase {
  model: string;
  version: number;
  /** The traffic variant that answered: its name in the endpoint's policy, or `default` for a request to a model. */
  variant: string;
  image: { width: number; height: number; format: string };
  timings: StageTimings;
  /** Models with a gate: the gate's decision (the image was accepted, or there would be no answer). */
  gate?: GateJson;
}

/** The answer of a segmentation model: instances, or classes with their areas and masks. */
export interface MaskAnswerJson extends AnswerJsonBase {
  task: Exclude<Task, 'classification'>;
  instances?: InstanceJson[];
  classes?: ClassJson[];
  labels?: string[];
  /** The mask PNG in base64, with mask format `png`. */
  mask_png?: string;
  uncertainty: PixelUncertainty | InstanceUncertainty;
}

/** The answer of a classification model: its best classes (`top_k`), no masks. */
export interface ClassificationJson extends AnswerJsonBase {
  task: 'classification';
  classes: ClassScoreJson[];
  uncertainty: ClassUncertainty;
  instances?: never;
  labels?: never;
  mask_png?: never;
}

/** The JSON answer of /v1, the compatible routes and `segserve predict`. */
export type SegmentationJson = MaskAnswerJson | ClassificationJson;

/** One entry of a COCO results file (the format of COCO's evaluation server and pycocotools' loadRes). */
export interface CocoResult {
  image_id: number;
  file_name: string;
  category_id: number;
  category_name: string;
  segmentation: CompressedRle;
  /** [x, y, width, height] in pixels of the EXIF-oriented input image, as COCO results write it. */
  bbox: Box;
  area: number;
  score: number;
}

/** One version of a model in `GET /v1/models[/{model}]`. */
export interface ModelVersionJson {
  version: number;
  state: LoadState;
  error?: ErrorSummary;
}

/** One model in `GET /v1/models` and the answer of `GET /v1/models/{model}` (schema `Model` in schemas.ts). */
export interface ModelJson {
  name: string;
  state: LoadState;
  task?: Task;
  decoder?: DecoderName;
  /** Class names by class id, exactly as answers name them (`class_id` indexes this list). */
  labels?: string[];
  /** What the model reads, from its config.yaml (defaults applied). */
  input?: InputConfig;
  /** The gate classifier that must accept each image first (`pipeline.gate`), for a model with one. */
  gate?: GateConfig;
  versions: ModelVersionJson[];
  error?: ErrorSummary;
}

/** `GET /v1/models`. */
export interface ModelListJson {
  default_model?: string;
  models: ModelJson[];
}
