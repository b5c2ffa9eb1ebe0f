/**
 * The one error catalogue of segserve. Every error the product raises is declared here once, with a stable
 * code (what clients match on), an HTTP status (used by the HTTP layer, meaningless to the core) and a
 * message template. Code anywhere throws `new SegserveError('CODE', {details})`; adapters format it.
 */
export const ERROR_CATALOGUE = {
  // Input images
  IMAGE_EMPTY: { status: 400, message: 'The image is empty (zero bytes).' },
  IMAGE_UNSUPPORTED_FORMAT: {
    status: 415,
    message: 'The bytes are not an image format segserve reads (JPEG, PNG, WebP, GIF, TIFF, AVIF).',
  },
  IMAGE_CORRUPT: { status: 400, message: 'The image could not be decoded: {reason}' },
  IMAGE_TOO_LARGE: {
    status: 413,
    message: 'The image declares {width}x{height} = {pixels} pixels, over the limit of {limit}.',
  },
  // Model repository and configuration
  CONFIG_INVALID: { status: 500, message: 'Invalid model configuration {file}: {issues}' },
  MODEL_NOT_FOUND: { status: 404, message: 'No model named "{model}".' },
  MODEL_VERSION_NOT_FOUND: { status: 404, message: 'Model "{model}" has no loaded version {version}.' },
  MODEL_NOT_READY: { status: 503, message: 'Model "{model}" version {version} is not ready: {reason}' },
  MODEL_LOAD_FAILED: { status: 500, message: 'Model "{model}" version {version} failed to load: {reason}' },
  MODEL_OUTPUT_MISMATCH: {
    status: 500,
    message: 'Model "{model}" returned outputs that decoder "{decoder}" cannot read: {reason}',
  },
  // Runtime
  EXECUTION_PROVIDER_UNAVAILABLE: {
    status: 500,
    message: 'Execution provider "{provider}" is not available on this machine: {reason}',
  },
  INFERENCE_FAILED: { status: 500, message: 'Inference failed: {reason}' },
  INFERENCE_TIMEOUT: {
    status: 504,
    message: 'Model "{model}" version {version} had no free worker within {timeout_ms} ms.',
  },
  RUNTIME_CLOSED: { status: 503, message: 'The model runtime is shutting down.' },
  QUEUE_FULL: { status: 503, message: 'Model "{model}" has {queued} requests waiting; try again shortly.' },
  // Generic input validation (CLI arguments, request fields)
  INVALID_ARGUMENT: { status: 400, message: '{reason}' },
} as const satisfies Record<string, { status: number; message: string }>;

export type ErrorCode = keyof typeof ERROR_CATALOGUE;

export type ErrorDetails = Record<string, string | number | boolean | undefined>;

function renderTemplate(template: string, details: ErrorDetails): string {
  return template.replace(/\{(\w+)\}/g, (whole, key: string) =>
    details[key] === undefined ? whole : String(details[key]),
  );
}

export class SegserveError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly details: ErrorDetails;

  constructor(code: ErrorCode, details: ErrorDetails = {}, options?: { cause?: unknown }) {
    super(renderTemplate(ERROR_CATALOGUE[code].message, details), options);
    this.name = 'SegserveError';
    this.code = code;
    this.status = ERROR_CATALOGUE[code].status;
    this.details = details;
  }

  /** A plain object that survives structured clone (worker threads) and JSON. */
  toJSON(): { code: ErrorCode; message: string; details: ErrorDetails } {
    return { code: this.code, message: this.message, details: this.details };
  }
}

export function isSegserveError(value: unknown): value is SegserveError {
  return value instanceof SegserveError;
}

/** Rebuilds an error that crossed a thread boundary as `toJSON()` output. */
export function reviveError(value: { code: ErrorCode; details: ErrorDetails }): SegserveError {
  return new SegserveError(value.code, value.details);
}
