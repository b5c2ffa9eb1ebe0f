/**
 * The colours of the monitor page's series: categorical colours that read on the light and the dark scheme.
 * Constants only (no DOM), so the browser tests look for exactly these in the chart pixels.
 */
import type { Outcome, SignalName } from '../../src/monitoring/monitor-types.js';

export const OUTCOME_COLORS: Record<Outcome, string> = {
  ok: '#2da44e',
  client_error: '#d4a72c',
  refused: '#8250df',
  server_error: '#cf222e',
};

export const STAGE_COLORS = {
  decode: '#4e79a7',
  preprocess: '#76b7b2',
  queue: '#edc948',
  infer: '#f28e2b',
  postprocess: '#59a14f',
  encode: '#b07aa1',
} as const;

/** Classes in the order the answer lists them; `other` (the rest) in grey. */
export const CLASS_COLORS = [
  '#4e79a7',
  '#f28e2b',
  '#59a14f',
  '#e15759',
  '#76b7b2',
  '#edc948',
  '#b07aa1',
  '#ff9da7',
];
export const OTHER_COLOR = '#9c9c9c';

export const SIGNAL_COLORS: Record<SignalName, string> = {
  brightness: '#f28e2b',
  contrast: '#76b7b2',
  colourfulness: '#b07aa1',
  aspect_ratio: '#9c755f',
  entropy: '#4e79a7',
  instance_score: '#4e79a7',
  class_mix: '#59a14f',
};

/** Limits drawn as dashed lines: the drift threshold, the queue capacity, the p95 latency. */
export const LIMIT_COLOR = '#cf222e';
/** The p10..p90 spread of entropy or instance scores. */
export const SPREAD_COLOR = '#4e79a7';
export const QUEUE_COLOR = '#4e79a7';

/**
 * Learning curves of training runs (models page): the same metric in the same colour in every run; metrics not
 * named here (Dice per class, say) take the next of CURVE_OTHER_COLORS in the order they first appear.
 */
export const CURVE_COLORS: Readonly<Record<string, string>> = {
  loss: '#4e79a7',
  'val loss': '#76b7b2',
  pixel_accuracy: '#59a14f',
  accuracy: '#59a14f',
  mean_iou: '#f28e2b',
};
export const CURVE_OTHER_COLORS = ['#e15759', '#b07aa1', '#edc948', '#ff9da7', '#9c755f', '#bab0ac'];
