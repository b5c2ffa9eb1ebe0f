/** `segserve models optimize --int8`: calibration, the int8 graph, its accuracy guard, the new version. */
export { type CalibrationImage, calibrate } from './calibrate.js';
export { AccuracyGuard, type GuardBounds, type GuardResult } from './guard.js';
export { type OptimizeDeps, type OptimizeOutcome, type OptimizeRequest, optimizeInt8 } from './optimize.js';
