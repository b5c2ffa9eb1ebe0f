/**
 * The answers of the segserve API that the browser reads and the server declares only as JSON schemas (the model
 * list). The segmentation answer, its timings and COCO results are the server's own types: import them from
 * src/serving/types.ts, which is kept free of Node-only imports for this reason.
 */
import type { Task } from '../../src/tasks/types.js';

export type LoadState = 'ready' | 'loading' | 'failed';

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
