/** What an operator can tune about the HTTP server, with the defaults it runs with. */
import type { InferenceService } from '../serving/service.js';
import type { UrlFetchOptions } from './fetch-url.js';

export interface HttpLimits {
  /** Bodies that carry an image (raw, multipart file, JSON with base64), and URL downloads. */
  imageBodyBytes: number;
  /** Bodies that only carry JSON parameters (`{"url"}`, batch lists). */
  jsonBodyBytes: number;
  /** Items in one `/predict/batch` request. */
  batchItems: number;
  /** Longest wait for a free inference worker; a request still waiting then gets INFERENCE_TIMEOUT (504). */
  inferenceTimeoutMs: number;
  /** Whole-request receive deadline (headers and body), against clients that trickle bytes. */
  requestTimeoutMs: number;
}

export const DEFAULT_LIMITS: HttpLimits = {
  imageBodyBytes: 32 * 1024 * 1024,
  jsonBodyBytes: 64 * 1024,
  batchItems: 16,
  inferenceTimeoutMs: 30_000,
  requestTimeoutMs: 60_000,
};

export interface LoggerOptions {
  level?: string;
  /** Where JSON log lines go (default stdout). */
  stream?: NodeJS.WritableStream;
}

export interface AppOptions {
  /** The serving core every route calls. */
  service: InferenceService;
  limits?: Partial<HttpLimits>;
  /** URL downloads: allow-listed addresses, timeouts, redirects (the size cap is `limits.imageBodyBytes`). */
  urlFetch?: Partial<Omit<UrlFetchOptions, 'maxBytes'>>;
  /** Folder `/predict/batch` may read `paths` from; without one, `paths` are refused. */
  batchRoot?: string;
  /** false: no logs (tests, benchmarks); otherwise JSON lines with a request id. Default: info to stdout. */
  logger?: false | LoggerOptions;
}
