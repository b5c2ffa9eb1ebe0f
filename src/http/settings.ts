/**
 * Every limit of the server in one declarative table: its name, command-line flag, environment variable,
 * default, unit, accepted range and description. The `segserve serve` options, the environment variables read
 * at start, `DEFAULT_LIMITS` and the README's "Limits" table are all generated from it, so a limit cannot
 * exist in one place and be missing (or differ) in another.
 *
 * Precedence is flag, then environment, then default; a config file (`--config`, src/cli/config/file.ts) fills
 * the variables left unset before this reads them. A value that does not parse or is out of range refuses
 * to start the server, naming the flag or variable and the accepted range: a limit silently left at its default
 * is how a server ends up accepting 4 GiB bodies its operator believed capped.
 *
 * This module sits with the adapters (it knows flags and environment variables); the core only ever sees the
 * resolved numbers, through `HttpLimits`.
 */

import { SegserveError } from '../errors.js';
import { DEFAULT_CLAIM_MS } from '../learning/annotations/index.js';
import { DEFAULT_MODELS_SYNC_INTERVAL_MS } from '../lifecycle/repository-sync.js';
import { DEFAULT_WATCH_INTERVAL_MS } from '../lifecycle/repository-watch.js';
import { ModelConfigSchema } from '../models/config.js';
import { DEFAULT_RETIRE_TIMEOUT_MS } from '../models/index.js';
import { DEFAULT_DECODED_PIXEL_BUDGET } from '../serving/service.js';
import type { HttpLimits } from './options.js';
import { replaceReadmeSection } from './readme-section.js';

export type LimitUnit = 'bytes' | 'ms' | 'seconds' | 'count' | 'pixels';

/** Limits of the server process that are not HTTP limits (the app never sees them). */
export interface ProcessLimits {
  /** Longest wait for requests in flight after SIGTERM/SIGINT before exiting anyway. */
  shutdownTimeoutMs: number;
  /** Most bytes of samples spooled on the local disk while the store is down (learning/capture/spool.ts). */
  sampleSpoolBytes: number;
  /** The repository watch: time between two looks at the model folder's files (lifecycle/repository-watch.ts). */
  watchIntervalMs: number;
  /** `--models-sync`: time between two passes over the bucket prefix (lifecycle/repository-sync.ts). */
  modelsSyncIntervalMs: number;
  /** After a version is unloaded or replaced, longest wait for the requests holding it before it closes. */
  unloadTimeoutMs: number;
  /** Runs of a job input that failed for a reason a retry may fix, before it gives up. */
  jobAttempts: number;
  /** With Redis: how long a worker holds a message before another may take it (a killed worker's come back). */
  jobLockMs: number;
}

export type ServerLimits = HttpLimits & ProcessLimits;
export type LimitKey = keyof ServerLimits;

export interface LimitSpec {
  flag: `--${string}`;
  env: `SEGSERVE_${string}`;
  default: number;
  unit: LimitUnit;
  /** Accepted range, both ends included. */
  min: number;
  max: number;
  description: string;
}

/** One row of the table: a server-wide limit, set by flag or environment. */
export interface ServerLimit extends LimitSpec {
  key: LimitKey;
}

/** A limit each model sets in its own config.yaml; listed so the README table names every limit. */
export interface ModelLimit {
  configKey: 'max_queue' | 'max_pixels';
  default: number;
  unit: LimitUnit;
  description: string;
}

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;
const HOUR_MS = 3_600_000;

/*
 * A mapped type over every key of ServerLimits: adding a field to HttpLimits without a row here (or the reverse)
 * does not compile. Object key order is the table's order (README, --help).
 */
const TABLE: { [K in LimitKey]: LimitSpec } = {
  imageBodyBytes: {
    flag: '--max-image-bytes',
    env: 'SEGSERVE_MAX_IMAGE_BYTES',
    default: 32 * MiB,
    unit: 'bytes',
    min: 1 * KiB,
    // Bodies are buffered whole; 2 GiB stays clear of Node's largest Buffer.
    max: 2 * GiB,
    description:
      'Largest body carrying an image (raw, multipart file, JSON with base64), batch file and URL download.',
  },
  jsonBodyBytes: {
    flag: '--max-json-bytes',
    env: 'SEGSERVE_MAX_JSON_BYTES',
    default: 64 * KiB,
    unit: 'bytes',
    min: 1 * KiB,
    max: 64 * MiB,
    description: 'Largest body carrying only JSON parameters (`{"url"}`, batch lists).',
  },
  v2BodyBytes: {
    flag: '--max-v2-body-bytes',
    env: 'SEGSERVE_MAX_V2_BODY_BYTES',
    default: 32 * MiB,
    unit: 'bytes',
    min: 1 * KiB,
    max: 2 * GiB,
    description:
      'Largest Open Inference Protocol (`/v2`) request body (JSON or binary tensors), compressed or not.',
  },
  batchItems: {
    flag: '--max-batch-items',
    env: 'SEGSERVE_MAX_BATCH_ITEMS',
    default: 16,
    unit: 'count',
    min: 1,
    max: 1000,
    description: 'Items in one `/predict/batch` request.',
  },
  modelUploadBytes: {
    flag: '--max-model-upload-bytes',
    env: 'SEGSERVE_MAX_MODEL_UPLOAD_BYTES',
    // Written to disk as it arrives, never held in memory; 2 GiB is protobuf's own ceiling for one ONNX file.
    default: 2 * GiB,
    unit: 'bytes',
    min: 1 * KiB,
    max: 2 * GiB,
    description: 'Largest model file an upload (`POST /v1/admin/models/{m}/versions`) may carry.',
  },
  multipartFiles: {
    flag: '--multipart-files',
    env: 'SEGSERVE_MULTIPART_FILES',
    default: 4,
    unit: 'count',
    min: 1,
    max: 64,
    description: 'File parts in one multipart body (each at most the image body limit).',
  },
  multipartFields: {
    flag: '--multipart-fields',
    env: 'SEGSERVE_MULTIPART_FIELDS',
    default: 16,
    unit: 'count',
    min: 0,
    max: 1000,
    description: 'Non-file fields in one multipart body.',
  },
  multipartFieldBytes: {
    flag: '--multipart-field-bytes',
    env: 'SEGSERVE_MULTIPART_FIELD_BYTES',
    default: 64 * KiB,
    unit: 'bytes',
    min: 1,
    max: 16 * MiB,
    description: 'Largest value of one non-file multipart field.',
  },
  multipartParts: {
    flag: '--multipart-parts',
    env: 'SEGSERVE_MULTIPART_PARTS',
    default: 24,
    unit: 'count',
    min: 1,
    max: 2000,
    description: 'Parts (files and fields together) in one multipart body.',
  },
  urlConnectTimeoutMs: {
    flag: '--url-connect-timeout',
    env: 'SEGSERVE_URL_CONNECT_TIMEOUT',
    default: 5_000,
    unit: 'ms',
    min: 1,
    max: HOUR_MS,
    description: 'URL downloads: longest wait for DNS and the connection of one hop.',
  },
  urlTimeoutMs: {
    flag: '--url-timeout',
    env: 'SEGSERVE_URL_TIMEOUT',
    default: 15_000,
    unit: 'ms',
    min: 1,
    max: HOUR_MS,
    description: 'URL downloads: deadline for the whole download, every redirect and the body included.',
  },
  urlMaxRedirects: {
    flag: '--url-max-redirects',
    env: 'SEGSERVE_URL_MAX_REDIRECTS',
    default: 5,
    unit: 'count',
    min: 0,
    max: 20,
    description: 'URL downloads: redirects followed (each hop checked against the address policy).',
  },
  decodedPixelBudget: {
    flag: '--max-decoded-pixels-in-flight',
    env: 'SEGSERVE_MAX_DECODED_PIXELS_IN_FLIGHT',
    default: DEFAULT_DECODED_PIXEL_BUDGET,
    unit: 'pixels',
    min: 1,
    max: 100_000_000_000,
    description:
      'Decoded pixels held by all requests in flight together; the serving core admits new images within it.',
  },
  inferenceTimeoutMs: {
    flag: '--inference-timeout',
    env: 'SEGSERVE_INFERENCE_TIMEOUT',
    default: 30_000,
    unit: 'ms',
    min: 1,
    max: HOUR_MS,
    description: 'Longest wait for a free inference worker before INFERENCE_TIMEOUT (504).',
  },
  requestTimeoutMs: {
    flag: '--request-timeout',
    env: 'SEGSERVE_REQUEST_TIMEOUT',
    default: 60_000,
    unit: 'ms',
    min: 1,
    max: HOUR_MS,
    description:
      'Deadline to receive a whole request (headers and body), against clients that trickle bytes.',
  },
  headersTimeoutMs: {
    flag: '--headers-timeout',
    env: 'SEGSERVE_HEADERS_TIMEOUT',
    // Node's own default; at most the request timeout (Node refuses a longer one).
    default: 60_000,
    unit: 'ms',
    min: 1,
    max: HOUR_MS,
    description: 'Deadline to receive the request headers; at most the request timeout.',
  },
  keepAliveTimeoutMs: {
    flag: '--keep-alive-timeout',
    env: 'SEGSERVE_KEEP_ALIVE_TIMEOUT',
    // Fastify's default: longer than the 60 s idle timeout of common load balancers, so they close first and
    // never send a request on a connection the server is closing.
    default: 72_000,
    unit: 'ms',
    min: 1,
    max: HOUR_MS,
    description: 'How long an idle keep-alive connection stays open.',
  },
  maxJobInputs: {
    flag: '--max-job-inputs',
    env: 'SEGSERVE_MAX_JOB_INPUTS',
    default: 10_000,
    unit: 'count',
    min: 1,
    max: 1_000_000,
    description:
      'Inputs in one batch job (listed, uploaded, or found under its prefix); more is JOB_TOO_LARGE.',
  },
  annotationClaimMs: {
    flag: '--annotation-claim-timeout',
    env: 'SEGSERVE_ANNOTATION_CLAIM_TIMEOUT',
    default: DEFAULT_CLAIM_MS,
    unit: 'ms',
    // Under a second no one could finish a label; past a day an abandoned item is lost to the queue too long.
    min: 1_000,
    max: 24 * HOUR_MS,
    description:
      'Annotation queue: how long a claim holds an item; an item whose claim expires returns to the queue.',
  },
  shutdownTimeoutMs: {
    flag: '--shutdown-timeout',
    env: 'SEGSERVE_SHUTDOWN_TIMEOUT',
    default: 25_000,
    unit: 'ms',
    min: 1,
    max: HOUR_MS,
    description: 'After SIGTERM/SIGINT, longest wait for requests in flight before exiting with 1.',
  },
  sampleSpoolBytes: {
    flag: '--max-sample-spool-bytes',
    env: 'SEGSERVE_MAX_SAMPLE_SPOOL_BYTES',
    // About 5,000 samples of 200 KB photos: a day of a busy sampler's quota, on any disk.
    default: 1 * GiB,
    unit: 'bytes',
    // 0 turns the spool off (samples kept while the store is down are dropped, and counted).
    min: 0,
    max: 1024 * GiB,
    description:
      'Sampled predictions kept in `<data dir>/spool` while the blob store or database is down, replayed when it is back; beyond, they are dropped (0: no spool).',
  },
  watchIntervalMs: {
    flag: '--watch-interval',
    env: 'SEGSERVE_WATCH_INTERVAL',
    default: DEFAULT_WATCH_INTERVAL_MS,
    unit: 'ms',
    // Each look stats every file of every model folder: a few per model, cheap even at 100 ms.
    min: 100,
    max: HOUR_MS,
    description:
      'With `serve --watch`, and in `worker --models-sync` (which always watches the folder it syncs): time between two looks at the model folder; a change applies once two looks agree (fs.watch events bring the next look forward).',
  },
  modelsSyncIntervalMs: {
    flag: '--models-sync-interval',
    env: 'SEGSERVE_MODELS_SYNC_INTERVAL',
    default: DEFAULT_MODELS_SYNC_INTERVAL_MS,
    unit: 'ms',
    // Each pass lists the whole prefix: one request per 1000 objects.
    min: 1_000,
    max: 24 * HOUR_MS,
    description:
      'With `--models-sync`: time between two passes that mirror the bucket prefix into the model folder.',
  },
  jobAttempts: {
    flag: '--job-attempts',
    env: 'SEGSERVE_JOB_ATTEMPTS',
    default: 5,
    unit: 'count',
    min: 1,
    max: 100,
    description:
      'Runs of a job input that failed for a reason a retry may fix (a model not ready, a download timeout, a store down for over 5 minutes), 1 s doubling between them, before the input fails with its last error.',
  },
  jobLockMs: {
    flag: '--job-lock',
    env: 'SEGSERVE_JOB_LOCK',
    default: 30_000,
    unit: 'ms',
    // Workers renew their locks at half this; a lock shorter than an input's run would hand it to another worker.
    min: 1_000,
    max: HOUR_MS,
    description:
      "With Redis: a worker's hold on the messages it runs (renewed while it runs); a worker that dies gives its messages back after this long.",
  },
  unloadTimeoutMs: {
    flag: '--unload-timeout',
    env: 'SEGSERVE_UNLOAD_TIMEOUT',
    default: DEFAULT_RETIRE_TIMEOUT_MS,
    unit: 'ms',
    min: 1,
    max: HOUR_MS,
    description:
      'After a model version is unloaded or replaced, longest wait for the requests holding it before its workers stop anyway.',
  },
};

export const SERVER_LIMITS: readonly ServerLimit[] = (Object.keys(TABLE) as LimitKey[]).map((key) => ({
  key,
  ...TABLE[key],
}));

const modelDefault = (key: ModelLimit['configKey']): number => ModelConfigSchema.shape[key].parse(undefined);

/** Per-model limits; their defaults come from the config schema itself, so they cannot drift. */
export const MODEL_LIMITS: readonly ModelLimit[] = [
  {
    configKey: 'max_queue',
    default: modelDefault('max_queue'),
    unit: 'count',
    description: 'Requests waiting per loaded model version before QUEUE_FULL (503 with `Retry-After`).',
  },
  {
    configKey: 'max_pixels',
    default: modelDefault('max_pixels'),
    unit: 'pixels',
    description: 'Images whose header declares more pixels are refused (IMAGE_TOO_LARGE) before decoding.',
  },
];

export function defaultServerLimits(): ServerLimits {
  return Object.fromEntries(SERVER_LIMITS.map((row) => [row.key, row.default])) as unknown as ServerLimits;
}

/** The keys of ProcessLimits, each once: a key missing or extra does not compile. */
const PROCESS_KEYS: Record<keyof ProcessLimits, true> = {
  shutdownTimeoutMs: true,
  sampleSpoolBytes: true,
  watchIntervalMs: true,
  modelsSyncIntervalMs: true,
  unloadTimeoutMs: true,
  jobAttempts: true,
  jobLockMs: true,
};

/** Splits resolved limits into what the HTTP app gets and what only the process uses. */
export function splitLimits(limits: ServerLimits): { http: HttpLimits; process: ProcessLimits } {
  const http: Record<string, number> = {};
  const process: Record<string, number> = {};
  for (const [key, value] of Object.entries(limits)) (key in PROCESS_KEYS ? process : http)[key] = value;
  return { http: http as unknown as HttpLimits, process: process as unknown as ProcessLimits };
}

// ---- parsing and formatting values -------------------------------------------------------------------------

const BYTE_SUFFIXES: Record<string, number> = { '': 1, b: 1, kib: KiB, mib: MiB, gib: GiB };
const MS_SUFFIXES: Record<string, number> = { '': 1, ms: 1, s: 1000 };
const SECOND_SUFFIXES: Record<string, number> = { '': 1, s: 1 };
const NO_SUFFIX: Record<string, number> = { '': 1 };

const SUFFIXES: Record<LimitUnit, Record<string, number>> = {
  bytes: BYTE_SUFFIXES,
  ms: MS_SUFFIXES,
  seconds: SECOND_SUFFIXES,
  count: NO_SUFFIX,
  pixels: NO_SUFFIX,
};

const UNIT_SYNTAX: Record<LimitUnit, string> = {
  bytes: 'a whole number of bytes, or with a KiB/MiB/GiB suffix',
  ms: 'a whole number of milliseconds, or seconds with an s suffix',
  seconds: 'a whole number of seconds',
  count: 'a whole number',
  pixels: 'a whole number of pixels',
};

/** The number `text` means in `unit`, or undefined when it is not one (digits may be grouped with `_`). */
export function parseLimitValue(text: string, unit: LimitUnit): number | undefined {
  const match = /^([0-9][0-9_]*)\s*([a-z]*)$/i.exec(text.trim());
  if (!match) return undefined;
  const factor = SUFFIXES[unit][match[2].toLowerCase()];
  if (factor === undefined) return undefined;
  const value = Number(match[1].replaceAll('_', '')) * factor;
  return Number.isSafeInteger(value) ? value : undefined;
}

function groupDigits(n: number): string {
  return String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

/** How a value reads in help and the README: `32 MiB`, `30000 ms`, `100,000,000 pixels`. */
export function formatLimitValue(value: number, unit: LimitUnit): string {
  switch (unit) {
    case 'bytes':
      for (const [suffix, size] of [
        ['GiB', GiB],
        ['MiB', MiB],
        ['KiB', KiB],
      ] as const) {
        if (value >= size && value % size === 0) return `${value / size} ${suffix}`;
      }
      return `${value} B`;
    case 'ms':
      return `${value} ms`;
    case 'seconds':
      return `${value} s`;
    case 'pixels':
      return `${groupDigits(value)} ${value === 1 ? 'pixel' : 'pixels'}`;
    case 'count':
      return groupDigits(value);
  }
}

export function formatRange(row: Pick<LimitSpec, 'min' | 'max' | 'unit'>): string {
  return `${formatLimitValue(row.min, row.unit)} to ${formatLimitValue(row.max, row.unit)}`;
}

// ---- resolving flag > environment > default ---------------------------------------------------------------

export type Environment = Readonly<Record<string, string | undefined>>;

/** Shells and compose files write an unset variable as an empty one (`FOO=`), so empty means not set. */
function fromEnvironment(env: Environment, name: string): string | undefined {
  const value = env[name];
  return value === undefined || value.trim() === '' ? undefined : value;
}

/**
 * The limits in effect: each from its flag when given (raw text, as commander hands it over), else from its
 * environment variable, else the default. Every invalid value is reported at once, each naming where it came
 * from and what is accepted.
 */
export function resolveLimits(
  flags: Partial<Record<LimitKey, string>>,
  env: Environment = process.env,
): ServerLimits {
  const resolved = defaultServerLimits();
  const problems: string[] = [];
  for (const row of SERVER_LIMITS) {
    const flagText = flags[row.key];
    const envText = fromEnvironment(env, row.env);
    const text = flagText ?? envText;
    if (text === undefined) continue;
    const source =
      flagText !== undefined ? `${row.flag} ${JSON.stringify(text)}` : `${row.env}=${JSON.stringify(text)}`;
    const value = parseLimitValue(text, row.unit);
    if (value === undefined || value < row.min || value > row.max) {
      problems.push(
        `${source} is not accepted (${flagText !== undefined ? `env ${row.env}` : `flag ${row.flag}`}): ` +
          `expected ${UNIT_SYNTAX[row.unit]} from ${formatRange(row)}`,
      );
      continue;
    }
    resolved[row.key] = value;
  }
  if (problems.length === 0) problems.push(...crossCheck(resolved));
  if (problems.length > 0) {
    throw new SegserveError('INVALID_ARGUMENT', { reason: `invalid limits: ${problems.join('; ')}` });
  }
  return resolved;
}

/** Relations between limits that each row alone cannot check. */
function crossCheck(limits: ServerLimits): string[] {
  const problems: string[] = [];
  if (limits.headersTimeoutMs > limits.requestTimeoutMs) {
    problems.push(
      `${TABLE.headersTimeoutMs.flag} (${limits.headersTimeoutMs} ms) must not exceed ` +
        `${TABLE.requestTimeoutMs.flag} (${limits.requestTimeoutMs} ms)`,
    );
  }
  return problems;
}

// ---- CORS origins -----------------------------------------------------------------------------------------

export const CORS_ORIGINS_ENV = 'SEGSERVE_CORS_ORIGINS';

/**
 * Browser origins allowed to call the API cross-origin, normalised the way browsers send them
 * (`https://app.example.com`: no trailing slash, lower-case host, default port dropped). `*` alone allows any
 * origin. Anything else (a path, a query, credentials, another scheme) is refused: an origin compared as a string that can never
 * match would silently leave CORS off.
 */
export function normalizeCorsOrigins(origins: readonly string[], source = '--cors-origin'): string[] {
  const cleaned = origins.map((o) => o.trim()).filter(Boolean);
  if (cleaned.includes('*')) {
    if (cleaned.length > 1) {
      throw new SegserveError('INVALID_ARGUMENT', {
        reason: `${source}: "*" allows every origin and cannot be combined with others`,
      });
    }
    return ['*'];
  }
  const normalized = cleaned.map((origin) => {
    let url: URL | undefined;
    try {
      url = new URL(origin);
    } catch {
      url = undefined;
    }
    const plain =
      url !== undefined &&
      (url.protocol === 'http:' || url.protocol === 'https:') &&
      url.username === '' &&
      url.password === '' &&
      url.pathname === '/' &&
      url.search === '' &&
      url.hash === '';
    if (!url || !plain) {
      throw new SegserveError('INVALID_ARGUMENT', {
        reason: `${source}: "${origin}" is not an origin; expected scheme://host[:port] such as https://app.example.com, or *`,
      });
    }
    return url.origin;
  });
  return [...new Set(normalized)];
}

/** Origins from the flag when given (repeatable, comma-separated), else from SEGSERVE_CORS_ORIGINS. */
export function resolveCorsOrigins(
  flag: readonly string[] | undefined,
  env: Environment = process.env,
): string[] {
  if (flag !== undefined) return normalizeCorsOrigins(flag, '--cors-origin');
  const text = fromEnvironment(env, CORS_ORIGINS_ENV);
  return text === undefined ? [] : normalizeCorsOrigins(text.split(','), CORS_ORIGINS_ENV);
}

// ---- README -----------------------------------------------------------------------------------------------

export const LIMITS_DOC_START =
  '<!-- limits:start (generated by npm run docs:limits from src/http/settings.ts) -->';
export const LIMITS_DOC_END = '<!-- limits:end -->';

/** The README's "Limits" table, as markdown. */
export function renderLimitsTable(): string {
  const lines = [
    '| Limit | Flag | Environment | Default | Accepted | Description |',
    '| --- | --- | --- | --- | --- | --- |',
  ];
  for (const row of SERVER_LIMITS) {
    lines.push(
      `| \`${row.key}\` | \`${row.flag}\` | \`${row.env}\` | ${formatLimitValue(row.default, row.unit)} | ` +
        `${formatRange(row)} | ${row.description} |`,
    );
  }
  for (const row of MODEL_LIMITS) {
    lines.push(
      `| \`${row.configKey}\` | per model: \`${row.configKey}\` in config.yaml | | ` +
        `${formatLimitValue(row.default, row.unit)} | | ${row.description} |`,
    );
  }
  return lines.join('\n');
}

/** `readme` with the text between the limits markers replaced by the generated table. */
export function withLimitsTable(readme: string): string {
  return replaceReadmeSection(readme, LIMITS_DOC_START, LIMITS_DOC_END, renderLimitsTable());
}
