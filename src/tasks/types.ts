import type { InputTransform } from '../image/types.js';
import type { CroppedMask } from '../masks/types.js';
import type { ModelConfig, Task } from '../models/config.js';
import type { NamedTensors } from '../runtime/types.js';

/** Box in original-image pixels: [x, y, width, height], as COCO writes it. */
export type Box = [number, number, number, number];

export interface Instance {
  classId: number;
  label: string;
  score: number;
  box: Box;
  /** Pixel count of the mask. */
  area: number;
  mask: CroppedMask;
  /** Best class score minus the second best (1 when the model gives a single score per detection). */
  margin: number;
}

/**
 * Normalised Shannon entropy per pixel, in [0, 1] (divided by ln C; binary uses ln 2).
 * 0 = the model is certain, 1 = every class equally likely.
 */
export interface PixelUncertainty {
  kind: 'pixel-entropy';
  meanEntropy: number;
  maxEntropy: number;
  /** Share of pixels whose winning probability is below 0.75 (a "doubtful" area). */
  uncertainShare: number;
}

export interface InstanceUncertainty {
  kind: 'instance-scores';
  count: number;
  meanScore: number;
  minScore: number;
  maxScore: number;
  /** Smallest best-minus-second class-score margin over the instances (1 when there are none). */
  minMargin: number;
  meanMargin: number;
  /** Share of kept instances whose score lies within 0.15 of the score threshold. */
  nearThresholdShare: number;
}

export interface InstanceResult {
  task: 'instance';
  width: number;
  height: number;
  instances: Instance[];
  uncertainty: InstanceUncertainty;
}

export interface ClassArea {
  classId: number;
  label: string;
  /** Pixel count in the original image. */
  area: number;
}

export interface SemanticResult {
  task: 'semantic' | 'binary';
  width: number;
  height: number;
  /** Class index per original-image pixel, row-major. 0 = background for binary and multilabel models. */
  classMap: Uint8Array;
  /** Labels by class index, background included where the model has one. */
  labels: string[];
  /** Every class with a non-zero area, by class index. */
  areas: ClassArea[];
  uncertainty: PixelUncertainty;
}

/** One class of a classification and its probability. */
export interface ClassScore {
  classId: number;
  label: string;
  /** Probability in [0, 1] (the softmax of the logits, or what the model output when it applies it). */
  score: number;
}

/**
 * How unsure a classifier was about one image: the Shannon entropy of its class probabilities divided by ln C
 * (0 = certain, 1 = every class equally likely), the best probability, and the best minus the second best.
 */
export interface ClassUncertainty {
  kind: 'class-scores';
  entropy: number;
  topScore: number;
  margin: number;
}

/** A classifier's answer for one image (task `classification`, decoder `softmax-classifier`). */
export interface ClassificationResult {
  task: 'classification';
  /** The image size (EXIF-oriented), as for the other tasks. */
  width: number;
  height: number;
  /** The `top_k` best classes, best first (ties by class id). */
  top: ClassScore[];
  /** The probability of every class, by class id (what a gate decides on: an accepted label may be outside `top`). */
  scores: number[];
  /** Labels by class id. */
  labels: string[];
  uncertainty: ClassUncertainty;
}

/** What a task decoder answers: masks (instance, semantic, binary) or class scores (classification). */
export type SegmentationResult = InstanceResult | SemanticResult | ClassificationResult;

/** The results that carry masks. */
export type MaskResult = InstanceResult | SemanticResult;

/** What a decoder needs besides the raw outputs: the parsed config, labels and the input mapping. */
export interface DecodeContext {
  config: ModelConfig;
  labels: string[];
  transform: InputTransform;
}

export type Decoder = (outputs: NamedTensors, context: DecodeContext) => SegmentationResult;

export type { Task };
