/** The annotation queue (issue 10, point 4): list, claim, label, skip and reject the samples the sink kept. */
export type { NextFilter } from './claims.js';
export {
  type ClassRef,
  type LabelSubmission,
  type PolygonSegmentInput,
  type RleSegmentInput,
  resolveClass,
} from './label-input.js';
export { SKIP_PENALTY } from './order.js';
export {
  AnnotationQueue,
  type AnnotationQueueOptions,
  DEFAULT_CLAIM_MS,
  DEFAULT_PAGE_SIZE,
  type ListQuery,
  MAX_PAGE_SIZE,
  type StoredImage,
} from './queue.js';
export type * from './types.js';
