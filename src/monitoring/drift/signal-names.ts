/**
 * The names of the drift signals, on their own with no imports, so the browser's monitor page can type-check
 * against them (through monitoring/monitor-types.ts) without reaching the signal code, which needs sharp.
 */
export const NUMERIC_SIGNALS = [
  'brightness',
  'contrast',
  'colourfulness',
  'aspect_ratio',
  'entropy',
  'instance_score',
] as const;
export type NumericSignal = (typeof NUMERIC_SIGNALS)[number];
export type SignalName = NumericSignal | 'class_mix';

/** Every signal, in the order gauges and charts list them. */
export const SIGNAL_NAMES: readonly SignalName[] = [...NUMERIC_SIGNALS, 'class_mix'];
