/**
 * Drift monitoring: per-prediction signals, a PSI monitor per model version, and baseline files. Subscribes to
 * nothing by itself: an adapter feeds `DriftMonitor.observe` with `driftObservation(result, labels.length, bytes)`
 * for each completed prediction.
 */
export {
  BASELINE_FORMAT,
  type BaselineTarget,
  baselineMismatch,
  type DriftBaseline,
  makeBaseline,
  openDriftMonitor,
  readBaseline,
  targetOf,
  writeBaseline,
} from './baseline.js';
export {
  CLEAR_RATIO,
  type DriftChange,
  DriftMonitor,
  type DriftMonitorOptions,
  type DriftState,
} from './monitor.js';
export { binOf, psi, quantileEdges, SMOOTHING_COUNT, smoothedProportions } from './psi.js';
export {
  driftBins,
  NUMERIC_SIGNALS,
  type NumericSignal,
  numericSignalsFor,
  ReferenceBuilder,
  type ReferenceDistributions,
  type SignalName,
} from './reference.js';
export { SIGNAL_NAMES } from './signal-names.js';
export {
  type DriftObservation,
  driftObservation,
  type InputSignals,
  inputSignals,
  type OutputSignals,
  outputSignals,
  outputSignalsOf,
  SIGNAL_THUMBNAIL_SIZE,
  type SignalThumbnail,
  thumbnailForSignals,
} from './signals.js';
