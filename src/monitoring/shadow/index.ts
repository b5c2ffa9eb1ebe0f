/** Shadow traffic: copies of live requests run on an endpoint's shadow variants, their masks compared. */
export { comparisonPng, EDGE_ALPHA, FILL_ALPHA, UNMATCHED_COLOR } from './comparison-png.js';
export { SHADOW_OUTCOMES, type ShadowOutcome } from './shadow-metrics.js';
export {
  type ComparisonPart,
  SHADOW_DEFAULTS,
  type ShadowLog,
  type ShadowOptions,
  type ShadowTarget,
  ShadowTraffic,
} from './shadow-traffic.js';
export type * from './wire-types.js';
