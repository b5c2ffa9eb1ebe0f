/** What an operator can tune about the HTTP server, with the defaults it runs with. */

import type { EventRule } from '../jobs/event-jobs.js';
import type { Jobs } from '../jobs/jobs.js';
import type { RetrainingTriggers } from '../learning/retraining/triggers.js';
import type { AliasTable } from '../lifecycle/aliases.js';
import type { ModelLifecycle } from '../lifecycle/lifecycle.js';
import type { TrafficControl } from '../lifecycle/traffic.js';
import type { ServingMetrics } from '../monitoring/metrics.js';
import type { MonitorHistory } from '../monitoring/monitor-history.js';
import type { ShadowTraffic } from '../monitoring/shadow/index.js';
import type { InferenceService } from '../serving/service.js';
import type { UrlFetchOptions } from '../sources/fetch-url.js';
import type { StorageAccess } from '../storage/index.js';
import type { AdminKeys } from './admin-auth.js';
import type { ApiKeys } from './api-keys.js';
import type { ModelUploads } from './routes/admin-upload.js';
import { defaultServerLimits, splitLimits } from './settings.js';

/**
 * The limits the HTTP app enforces. Defaults, flags, environment variables and the README table come from one
 * table in `./settings.ts`; every field here has a row there (the compiler checks).
 */
export interface HttpLimits {
  /** Bodies that carry an image (raw, multipart file, JSON with base64), batch files, and URL downloads. */
  imageBodyBytes: number;
  /** Bodies that only carry JSON parameters (`{"url"}`, batch lists). */
  jsonBodyBytes: number;
  /** Open Inference Protocol (/v2) request bodies, after decompression. */
  v2BodyBytes: number;
  /** Items in one `/predict/batch` request. */
  batchItems: number;
  /** Model uploads: the ONNX file, streamed to disk. */
  modelUploadBytes: number;
  /** Multipart bodies: file parts (busboy `files`); each file is capped by `imageBodyBytes`. */
  multipartFiles: number;
  /** Multipart bodies: non-file fields (busboy `fields`). */
  multipartFields: number;
  /** Multipart bodies: bytes of one non-file field's value (busboy `fieldSize`). */
  multipartFieldBytes: number;
  /** Multipart bodies: parts, files and fields together (busboy `parts`). */
  multipartParts: number;
  /** URL downloads: DNS and connection of one hop. */
  urlConnectTimeoutMs: number;
  /** URL downloads: the whole download, redirects and body included. */
  urlTimeoutMs: number;
  /** URL downloads: redirects followed. */
  urlMaxRedirects: number;
  /**
   * Decoded pixels that all requests in flight may hold together. Carried here for the serving core's admission
   * (it decides what waits and what is refused); the HTTP layer itself does not enforce it.
   */
  decodedPixelBudget: number;
  /** Longest wait for a free inference worker; a request still waiting then gets INFERENCE_TIMEOUT (504). */
  inferenceTimeoutMs: number;
  /** Whole-request receive deadline (headers and body), against clients that trickle bytes. */
  requestTimeoutMs: number;
  /** Deadline for the request headers alone (Node's `headersTimeout`); capped by `requestTimeoutMs`. */
  headersTimeoutMs: number;
  /** Idle keep-alive connections are closed after this long. */
  keepAliveTimeoutMs: number;
  /** Annotation queue: how long a claim holds an item before the item returns to the queue. */
  annotationClaimMs: number;
  /** Inputs in one batch job (listed, uploaded, or found under its prefix). */
  maxJobInputs: number;
}

export const DEFAULT_LIMITS: HttpLimits = splitLimits(defaultServerLimits()).http;

export interface LoggerOptions {
  level?: string;
  /** Where JSON log lines go (default stdout). */
  stream?: NodeJS.WritableStream;
}

export interface AppOptions {
  /** The serving core every route calls. */
  service: InferenceService;
  /** Prometheus metrics: with them the app records every request and serves `GET /metrics`. */
  metrics?: ServingMetrics;
  /** The monitor page's history: with it the app feeds it every request and serves `GET /v1/monitor`. */
  monitor?: MonitorHistory;
  /** Shadow traffic: with it the app serves `GET /v1/shadows` and `GET /v1/endpoints/{name}/shadows...`. */
  shadows?: ShadowTraffic;
  /** Retraining triggers: with them the app serves `GET /v1/retraining/triggers`. */
  retraining?: RetrainingTriggers;
  limits?: Partial<HttpLimits>;
  /**
   * URL downloads: allow-listed addresses. Timeouts and redirects default to `limits.url*`; given here they win.
   * The size cap is `limits.imageBodyBytes`.
   */
  urlFetch?: Partial<Omit<UrlFetchOptions, 'maxBytes'>>;
  /**
   * Browser origins allowed to call the API cross-origin (`https://app.example.com`), or `['*']` for any.
   * None (the default): no CORS headers at all, so browsers allow same-origin calls only.
   */
  corsOrigins?: readonly string[];
  /** Folder `/predict/batch` may read `paths` from; without one, `paths` are refused. */
  batchRoot?: string;
  /**
   * Folder the evaluation API may read dataset paths from (COCO files, mask folders), symbolic links resolved;
   * without one, only stored dataset versions (`dataset:<name>`) can be evaluated over HTTP.
   */
  evalRoot?: string;
  /**
   * The blob store and database (opened on first use by the server): with them the app serves the annotation
   * queue (`/v1/annotations`) and the dataset API (`/v1/datasets...`).
   */
  stores?: StorageAccess;
  /** Batch jobs (`/v1/jobs`); they need `stores`. */
  jobs?: Jobs;
  /** `POST /v1/events`: the rule that turns storage events into jobs, and the sender's token; needs `jobs`. */
  events?: { rule: EventRule; token?: string };
  /**
   * Aliases, promotion and rollback, with `stores`: with them the app serves the lifecycle's admin routes and
   * `GET /v1/models/{m}/history`. `hasDatabase` says whether a database exists to read history from.
   */
  lifecycle?: {
    lifecycle: ModelLifecycle;
    aliases: AliasTable;
    hasDatabase: () => boolean;
    /** Uploads of versions and models (`POST /v1/admin/models/{m}/versions`); without them, no upload route. */
    uploads?: ModelUploads;
    /** Endpoints' traffic policies (`/v1/admin/endpoints/{e}/traffic`, `/v1/endpoints`); without it, no such route. */
    traffic?: TrafficControl;
  };
  /** Keys (and their rate limits) the inference routes require; none (the default): open (api-keys.ts). */
  apiKeys?: ApiKeys;
  /** Who may call the admin routes; none (the default) turns the admin API off (admin-auth.ts). */
  adminKeys?: AdminKeys;
  /** Epoch milliseconds now, for claims' expiry; tests inject a clock (default Date.now). */
  now?: () => number;
  /** false: no logs (tests, benchmarks); otherwise JSON lines with a request id. Default: info to stdout. */
  logger?: false | LoggerOptions;
}
