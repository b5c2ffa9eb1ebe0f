/**
 * Drift monitoring: per-prediction signals, a PSI monitor per model version, and baseline files. Subscribes to
 * nothing by itself: DriftWatch (src/monitoring/drift-watch.ts) feeds each `prediction.completed` to its version's
 * DriftMonitor, and `segserve monitor baseline` builds a reference with `driftObservation(seg, labels.length)`.
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
export {
  type DriftObservation,
  driftObservation,
  type InputSignals,
  inputSignalsOf,
  type OutputSignals,
  outputSignals,
  outputSignalsOf,
} from './signals.js';
