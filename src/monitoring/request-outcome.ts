/**
 * How the monitor page sorts a request's answer code: fine, the client's fault, deliberate back-pressure, or
 * the server's fault. The server-side codes are exactly those the Prometheus rule `model:segserve_server_errors`
 * counts (deploy/prometheus/rules/segserve.rules.yml; a test compares the two), so the page's error ratio and
 * the SegserveHighErrorRatio alert read the same thing.
 */
import { ERROR_CATALOGUE, type ErrorCode } from '../errors.js';

export const OUTCOMES = ['ok', 'client_error', 'refused', 'server_error'] as const;
export type Outcome = (typeof OUTCOMES)[number];

/** Faults of the server or the model, not of the request. */
export const SERVER_ERROR_CODES: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  'INTERNAL_ERROR',
  'CONFIG_INVALID',
  'MODEL_LOAD_FAILED',
  'MODEL_OUTPUT_MISMATCH',
  'EXECUTION_PROVIDER_UNAVAILABLE',
  'INFERENCE_FAILED',
  'INFERENCE_TIMEOUT',
  'ENCODE_FAILED',
]);

function isCatalogued(code: string): code is ErrorCode {
  return Object.hasOwn(ERROR_CATALOGUE, code);
}

/** `code` is `OK` or a catalogue code (what ServingMetrics' request records carry). */
export function outcomeOf(code: string): Outcome {
  if (code === 'OK') return 'ok';
  // A code outside the catalogue cannot come from our handler: count it against the server.
  if (!isCatalogued(code) || SERVER_ERROR_CODES.has(code)) return 'server_error';
  // The 503s are back-pressure or lifecycle (QUEUE_FULL, MODEL_NOT_READY, SERVER_CLOSING...): the request
  // was fine and may be sent again.
  if (ERROR_CATALOGUE[code].status === 503) return 'refused';
  return 'client_error';
}
