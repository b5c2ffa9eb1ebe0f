/** Active learning's sink: kept predictions stored as samples, spooled while the store is down. The rest of src/learning/capture is internal. */
export { type CaptureLog, type CaptureOptions, type CaptureStats, SampleCapture } from './capture.js';
export { FAILURE_REASONS, type FailureReason } from './capture-metrics.js';
export { sampleId } from './sample-record.js';
export type { SampleStores } from './store-sample.js';
