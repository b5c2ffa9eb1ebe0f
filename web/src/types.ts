/**
 * What the segserve API sends over the wire, as the browser reads it. The server's own types live beside
 * Node-only code (sharp, Buffer), so the browser declares the JSON shapes it consumes here; the end-to-end tests
 * compare these answers with the server's, which keeps the two in step.
 */

export type Task = 'instance' | 'semantic' | 'binary';
export type LoadState = 'ready' | 'loading' | 'failed';

/** [x, y, width, height] in image pixels. */
export type Box = [number, number, number, number];

/** COCO compressed RLE: column-major runs in pycocotools' string form; size is [height, width]. */
export interface Rle {
  size: [number, number];
  counts: string;
}

export interface InstanceJson {
  label: string;
  class_id: number;
  score: number;
  box: Box;
  area: number;
  margin: number;
  mask?: Rle;
}

export interface ClassJson {
  class_id: number;
  label: string;
  area: number;
  mask?: Rle;
}

export interface PixelUncertainty {
  kind: 'pixel-entropy';
  meanEntropy: number;
  maxEntropy: number;
  uncertainShare: number;
}

export interface InstanceUncertainty {
  kind: 'instance-scores';
  count: number;
  meanScore: number;
  minScore: number;
  maxScore: number;
  minMargin: number;
  meanMargin: number;
  nearThresholdShare?: number;
}

/** Pipeline stages in the order a request passes them, `total` last. */
export const STAGES = ['decode', 'preprocess', 'queue', 'infer', 'postprocess', 'encode', 'total'] as const;
export type Stage = (typeof STAGES)[number];

export interface SegmentationAnswer {
  model: string;
  version: number;
  task: Task;
  image: { width: number; height: number; format: string };
  instances?: InstanceJson[];
  labels?: string[];
  classes?: ClassJson[];
  uncertainty: PixelUncertainty | InstanceUncertainty;
  timings: Record<Stage, number>;
}

export interface ErrorSummary {
  code: string;
  message: string;
}

export interface ModelInput {
  name?: string;
  width?: number;
  height?: number;
  resize?: string;
  pad_value?: number;
  layout?: string;
  color?: string;
  scale?: number;
  mean?: number[];
  std?: number[];
}

export interface ModelInfo {
  name: string;
  state: LoadState;
  task?: Task;
  decoder?: string;
  labels?: string[];
  input?: ModelInput;
  versions: Array<{ version: number; state: LoadState; error?: ErrorSummary }>;
  error?: ErrorSummary;
}

export interface ModelList {
  default_model?: string;
  models: ModelInfo[];
}

/** One entry of a COCO results file, as `toCocoResults` on the server writes it. */
export interface CocoResult {
  image_id: number;
  file_name: string;
  category_id: number;
  category_name: string;
  segmentation: Rle;
  bbox: Box;
  area: number;
  score: number;
}
