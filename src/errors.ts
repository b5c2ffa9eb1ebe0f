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
  ALIAS_NOT_FOUND: { status: 404, message: 'Model "{model}" has no alias "{alias}".' },
  MODEL_NOT_READY: { status: 503, message: 'Model "{model}" version {version} is not ready: {reason}' },
  MODEL_LOAD_FAILED: { status: 500, message: 'Model "{model}" version {version} failed to load: {reason}' },
  // Registry operations (load, unload, reload, the watch, the model repository extension of /v2).
  MODEL_UNLOADED: {
    status: 404,
    message: 'Model "{model}" is in the repository but unloaded; an administrator can load it again.',
  },
  // An operator's load or reload that left a version or the model unable to serve (what was loaded before keeps
  // serving); {reason} lists each failure.
  REPOSITORY_LOAD_FAILED: { status: 422, message: 'Loading model "{model}" did not succeed: {reason}' },
  REPOSITORY_PARAMETER_UNSUPPORTED: {
    status: 400,
    message: 'The {operation} parameter "{parameter}" is not supported: {reason}',
  },
  // The repository mirrored from an object store prefix (`serve --models-sync`): a pass that could not finish.
  MODEL_SYNC_FAILED: { status: 500, message: 'Syncing the model repository from {source} failed: {reason}' },
  // Gate stages (`pipeline.gate` in config.yaml): a classifier that must accept an image before a model segments it.
  // GATE_INVALID is a gate that cannot serve (shown in the gated model's status: it does not load); GATE_REFUSED
  // an image the gate did not accept, with the classifier's answer in the details.
  GATE_INVALID: { status: 500, message: 'Model "{model}" cannot serve behind its gate "{gate}": {reason}' },
  GATE_REFUSED: {
    status: 422,
    message:
      'Model "{model}" segments only images its gate "{gate}" accepts ({accept} with a score of at least {min_score}); the gate scored {label} {score}.',
  },
  // An answer format the model's task cannot give: a classifier has no mask for a mask PNG, an overlay or COCO.
  ANSWER_FORMAT_UNSUPPORTED: {
    status: 400,
    message: 'Model "{model}" is a {task} model and gives no {format}: {reason}',
  },
  MODEL_OUTPUT_MISMATCH: {
    status: 500,
    message: 'Model "{model}" returned outputs that decoder "{decoder}" cannot read: {reason}',
  },
  // Drift monitoring: a baseline file (`segserve monitor baseline`) that cannot serve as a model's reference.
  // The model still serves; only its drift monitor is off.
  DRIFT_BASELINE_INVALID: {
    status: 500,
    message: 'Drift baseline {file} cannot be used for model "{model}": {reason}',
  },
  // TFLite import
  TFLITE_INVALID: { status: 400, message: 'Not a valid TFLite model: {reason}' },
  TFLITE_UNSUPPORTED_OPERATOR: {
    status: 422,
    message: 'TFLite operator {index} ({operator}) cannot be imported: {reason}',
  },
  TFLITE_UNSUPPORTED_MODEL: { status: 422, message: 'The TFLite model cannot be imported: {reason}' },
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
  // Encoding an answer (JSON, mask PNG, overlay) failed unforeseen, e.g. its encoder worker crashed.
  ENCODE_FAILED: { status: 500, message: 'Encoding the answer failed: {reason}' },
  RUNTIME_CLOSED: { status: 503, message: 'The model runtime is shutting down.' },
  QUEUE_FULL: {
    status: 503,
    message:
      'Model "{model}" version {version} has {in_flight} requests in flight, its limit; try again in {retry_after} s.',
  },
  DECODE_BUDGET_FULL: {
    status: 503,
    message:
      'The server is decoding {in_flight_pixels} pixels of images, and this one adds {pixels} to a budget of {budget}; try again in {retry_after} s.',
  },
  // Active learning (src/learning): labels, the annotation queue, datasets
  LABEL_INVALID: { status: 422, message: 'The label cannot be used: {reason}' },
  DATASET_MISMATCH: { status: 409, message: 'Dataset "{dataset}" cannot take these labels: {reason}' },
  DATASET_NOT_FOUND: { status: 404, message: 'No dataset named "{dataset}".' },
  DATASET_VERSION_NOT_FOUND: { status: 404, message: 'Dataset "{dataset}" has no version "{version}".' },
  // A version of nothing would be a version id that names no data: refused rather than recorded.
  DATASET_EMPTY: { status: 409, message: 'Dataset "{dataset}" has no labelled images to snapshot.' },
  // Imports are validated whole before anything is stored, so a refusal leaves the dataset as it was.
  DATASET_IMPORT_INVALID: {
    status: 422,
    message: 'The import from {source} was refused and nothing was stored: {reason}',
  },
  // The annotation queue: items are samples (a kept prediction), held by an annotator's claim while labelled.
  SAMPLE_NOT_FOUND: { status: 404, message: 'No annotation item "{id}".' },
  SAMPLE_CLAIMED: {
    status: 409,
    message: 'Annotation item "{id}" is claimed by "{claimed_by}" until {until}.',
  },
  SAMPLE_NOT_CLAIMED: {
    status: 409,
    message: 'Annotation item "{id}" is not claimed by "{annotator}": {reason}',
  },
  SAMPLE_NOT_QUEUED: { status: 409, message: 'Annotation item "{id}" is {state}, no longer in the queue.' },
  LABEL_NOT_FOUND: { status: 404, message: 'Annotation item "{id}" has no label ({state}).' },
  // Shadow traffic (src/monitoring/shadow): only the comparisons that agree least are kept, in memory, so one
  // listed a while ago may have been replaced by a worse one (or the server restarted).
  SHADOW_COMPARISON_NOT_FOUND: {
    status: 404,
    message: 'No shadow comparison "{id}" is kept for endpoint "{endpoint}".',
  },
  // Evaluation (src/eval): a ground truth and the results or predictions scored against it. Categories are
  // matched by name, so a model whose ids differ from the dataset's still scores; a name the dataset lacks is
  // refused rather than silently dropped (pycocotools drops it, which hides a wrong label list).
  EVAL_INPUT_INVALID: { status: 422, message: 'The {source} cannot be evaluated: {reason}' },
  EVAL_CATEGORY_UNKNOWN: {
    status: 422,
    message: 'Result {index} has category {category}, which the ground truth lacks (it has {known}).',
  },
  EVAL_IMAGE_UNKNOWN: {
    status: 422,
    message: 'Result {index} is for image {image_id}, which the ground truth does not have.',
  },
  EVAL_DATASET_EMPTY: { status: 422, message: 'There is nothing to evaluate against: {reason}' },
  // Evaluating a model (src/lifecycle/evaluation): a dataset whose classes or task the model does not share,
  // refused before the first image is run. Classes are matched by name, never by position.
  EVAL_CLASSES_MISMATCH: {
    status: 422,
    message:
      'The classes of {source} [{dataset_classes}] do not match those of model "{model}" [{model_classes}]: {reason}',
  },
  EVAL_TASK_MISMATCH: {
    status: 422,
    message: 'Model "{model}" is a {task} model and {source} holds {ground_truth}: {reason}',
  },
  // The model lifecycle (src/lifecycle): aliases, the promotion gate, rollback, uploads.
  PROMOTION_REFUSED: {
    status: 409,
    message: 'Model "{model}" version {version} was not moved to "{alias}": {reason}',
  },
  // Uploads are validated whole before the version is let in, so a refusal leaves the repository as it was.
  UPLOAD_REFUSED: {
    status: 422,
    message: 'The upload to model "{model}" was refused and nothing of it was kept: {reason}',
  },
  MODEL_VERSION_EXISTS: { status: 409, message: 'Model "{model}" already has a version {version}.' },
  // `segserve models optimize --int8` (src/lifecycle/optimize): each refusal writes no version.
  QUANTIZE_UNSUPPORTED: { status: 422, message: 'Model "{model}" cannot be quantised to int8: {reason}' },
  CALIBRATION_EMPTY: { status: 400, message: 'No calibration images in {source}: {reason}' },
  INT8_GUARD_REFUSED: {
    status: 422,
    message:
      'The int8 version of model "{model}" was refused by its accuracy guard and nothing was written: {reason}',
  },
  ROLLBACK_UNAVAILABLE: {
    status: 409,
    message: 'Alias "{alias}" of model "{model}" has nothing to roll back to: {reason}',
  },
  // Traffic policies (src/lifecycle/traffic.ts): validated whole before they are written, so a refusal leaves the
  // policy in force as it was; {reason} lists every problem by the path of its field.
  TRAFFIC_POLICY_INVALID: {
    status: 422,
    message: 'The traffic policy for endpoint "{endpoint}" was refused and the one in force stays: {reason}',
  },
  ENDPOINT_NOT_FOUND: { status: 404, message: 'Endpoint "{endpoint}" has no traffic policy.' },
  // The admin API (src/http/admin-auth.ts): model lifecycle and repository routes. Off unless keys are configured.
  ADMIN_API_DISABLED: {
    status: 403,
    message:
      'The admin API is off: start the server with SEGSERVE_ADMIN_KEYS or --admin-key-file to turn it on.',
  },
  ADMIN_KEY_MISSING: {
    status: 401,
    message: 'This route needs an admin key: send it as "Authorization: Bearer <key>".',
  },
  ADMIN_KEY_INVALID: { status: 401, message: 'The admin key is not one this server accepts.' },
  // API keys of the inference routes (src/http/api-keys.ts), when configured.
  API_KEY_MISSING: {
    status: 401,
    message: 'This route needs an API key: send it as "Authorization: Bearer <key>" or "X-API-Key: <key>".',
  },
  API_KEY_INVALID: { status: 401, message: 'The API key is not one this server accepts.' },
  API_KEY_REVOKED: { status: 403, message: 'API key "{name}" has been revoked.' },
  RATE_LIMITED: {
    status: 429,
    message: 'API key "{name}" is over its rate of {rate}; try again in {retry_after} s.',
  },
  // Storage event notifications (src/jobs/events): what S3/MinIO, CloudEvents senders and Pub/Sub push deliver to
  // POST /v1/events. A delete, a test event or an event type segserve does not act on is not an error: it is
  // answered as ignored, with why. {reason} names the field and what was expected, for the sender to act on.
  EVENT_INVALID: { status: 400, message: 'The storage event notification cannot be read: {reason}' },
  EVENT_UNAUTHORIZED: {
    status: 401,
    message:
      'The event sender is not authorised: {reason}. Send the event token as "Authorization: Bearer <token>", "Authorization: <token>" or the query parameter token=<token>.',
  },
  // Generic input validation (CLI arguments, request fields)
  INVALID_ARGUMENT: { status: 400, message: '{reason}' },
  // HTTP requests: what arrives and how it is framed
  ROUTE_NOT_FOUND: { status: 404, message: 'No route {method} {path}.' },
  PATH_TOO_LONG: {
    status: 414,
    message: 'A segment of the path (a model name or version) is longer than {limit} characters.',
  },
  BODY_TOO_LARGE: {
    status: 413,
    message: 'The request body is larger than the {limit} bytes this route accepts.',
  },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, message: 'Content type "{content_type}" is not accepted: {reason}' },
  INVALID_JSON: { status: 400, message: 'The request body is not valid JSON: {reason}' },
  MULTIPART_INVALID: { status: 400, message: 'The multipart body cannot be read: {reason}' },
  IMAGE_MISSING: { status: 400, message: 'The request carries no image: {reason}' },
  INPUT_TOO_LARGE: { status: 413, message: 'The {source} is larger than the limit of {limit} bytes.' },
  BATCH_TOO_LARGE: { status: 413, message: 'The batch has {count} items, over the limit of {limit}.' },
  PATH_FORBIDDEN: { status: 403, message: 'Path "{path}" cannot be read: {reason}' },
  FILE_NOT_FOUND: { status: 404, message: 'No file "{path}" in the batch folder.' },
  // A file that exists but does not give its bytes in time (a stalled network mount, a device).
  FILE_READ_TIMEOUT: { status: 504, message: 'Reading "{path}" took longer than {timeout_ms} ms.' },
  // Where the command line writes its results (`segserve predict --out`).
  OUTPUT_NOT_WRITABLE: { status: 500, message: 'Cannot write to {path}: {reason}' },
  NO_DEFAULT_MODEL: {
    status: 503,
    message: 'No model was named and no model is ready to serve as the default; name one with ?model=.',
  },
  SERVER_CLOSING: { status: 503, message: 'The server is shutting down; send the request again shortly.' },
  // Never reaches the client (it is gone); logged with the nginx convention for a request the client dropped.
  REQUEST_ABORTED: { status: 499, message: 'The client closed the connection before the answer was ready.' },
  // Images fetched from URLs on the client's behalf
  URL_INVALID: { status: 400, message: 'The URL cannot be fetched: {reason}' },
  URL_FORBIDDEN: {
    status: 403,
    // Says how to lift the refusal: the operator's only switch is `serve --allow-url` (no environment variable).
    message:
      'The URL leads to {address} ({range}), an address segserve does not fetch from. To allow it, start the server with `segserve serve --allow-url {address}` (an address or CIDR range such as 10.0.0.0/8; repeatable).',
  },
  URL_FETCH_FAILED: { status: 400, message: 'Fetching the image from {host} failed: {reason}' },
  URL_TIMEOUT: { status: 400, message: 'Fetching the image from {host} took longer than {timeout_ms} ms.' },
  // Storage ports (src/storage): the blob store and the database. "Unavailable" is a store that cannot be
  // reached now (down, restarting, network): retryable, so a spooling writer keeps the item and tries later.
  // "Failed" is a store that answered and refused (no bucket, no permission, bad credentials, a full disk):
  // retrying the same call will not help, an operator must act.
  STORAGE_UNAVAILABLE: { status: 503, message: 'The {store} cannot be reached: {reason}' },
  STORAGE_FAILED: { status: 500, message: 'The {store} failed: {reason}' },
  BLOB_NOT_FOUND: { status: 404, message: 'No blob "{key}" in the {store}.' },
  // {key} is JSON-quoted by the thrower: an invalid key may hold control characters.
  BLOB_KEY_INVALID: { status: 400, message: 'Blob key {key} is not accepted: {reason}' },
  // A statement the database refused; {sqlstate} is PostgreSQL's code (23505 unique violation, 40001 serialization
  // failure...), the same from the embedded database and from a PostgreSQL server.
  DATABASE_QUERY_FAILED: {
    status: 500,
    message: 'A database statement failed (SQLSTATE {sqlstate}): {reason}',
  },
  DATABASE_MIGRATION_FAILED: {
    status: 500,
    message: 'Database schema migration {version} ({name}) failed: {reason}',
  },
  // Anything not foreseen: the client gets this code and the request id, the log gets the details.
  INTERNAL_ERROR: {
    status: 500,
    message: 'An internal error occurred; it is logged under request id {request_id}.',
  },
  // Batch jobs (src/jobs): every reason known at submit time is refused then, never a job that fails later.
  JOB_INVALID: { status: 400, message: 'The job cannot be submitted: {reason}' },
  JOB_TOO_LARGE: { status: 413, message: 'The job has {inputs} inputs, over the limit of {limit}.' },
  JOB_NOT_FOUND: { status: 404, message: 'No job "{job}".' },
  JOB_OUTPUT_UNREACHABLE: {
    status: 422,
    message: "The job's output location {output} cannot be written: {reason}",
  },
  JOB_FINISHED: { status: 409, message: 'Job "{job}" has already finished ({state}).' },
  // The reference trainer (training/, run by `segserve train`): a run that reported an error, crashed, or made a
  // model that onnxruntime does not run as PyTorch did. Nothing of such a run is uploaded.
  TRAINING_FAILED: { status: 500, message: 'The {kind} training run failed: {reason}' },
  TRAINING_RUN_NOT_FOUND: { status: 404, message: 'No training run "{run}".' },
  // Open Inference Protocol v2 (KServe / Triton): a request the protocol or the model cannot take
  V2_BAD_REQUEST: { status: 400, message: '{reason}' },
  CONTENT_ENCODING_UNSUPPORTED: {
    status: 415,
    message: 'Content-Encoding "{encoding}" is not supported; send gzip, deflate or identity.',
  },
} as const satisfies Record<string, { status: number; message: string }>;

export type ErrorCode = keyof typeof ERROR_CATALOGUE;

/** A list in error details, e.g. the classes a gate classifier scored (GATE_REFUSED). */
export type ErrorDetailList = ReadonlyArray<Readonly<Record<string, string | number | boolean>>>;

export type ErrorDetails = Record<string, string | number | boolean | undefined | ErrorDetailList>;

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

/**
 * Seconds a client should wait before retrying, for the Retry-After header: the estimate an admission refusal
 * carries in `details.retry_after`, else 1 for any other 503 (closing, not ready), else none.
 */
export function retryAfterSeconds(error: SegserveError): number | undefined {
  const estimate = error.details.retry_after;
  if (typeof estimate === 'number') return estimate;
  return error.status === 503 ? DEFAULT_RETRY_AFTER_S : undefined;
}

/** Retry-After of a 503 without an estimate of its own (closing, not ready). */
export const DEFAULT_RETRY_AFTER_S = 1;

/** Rebuilds an error that crossed a thread boundary as `toJSON()` output. */
export function reviveError(value: { code: ErrorCode; details: ErrorDetails }): SegserveError {
  return new SegserveError(value.code, value.details);
}
