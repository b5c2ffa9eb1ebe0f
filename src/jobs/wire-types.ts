/**
 * What the jobs API answers, shared with the CLI and the browser (the monitor page lists running jobs), so no
 * client keeps its own copy; with the two one-line descriptions all of them print.
 */

/**
 * The per-image outputs a job can write, those of `segserve predict`; `coco` also writes one COCO results file
 * for the whole job.
 */
export const JOB_FORMATS = ['json', 'coco', 'png', 'overlay'] as const;
export type JobFormat = (typeof JOB_FORMATS)[number];

export type JobState = 'running' | 'cancelling' | 'completed' | 'failed' | 'cancelled';
export type JobInputState = 'pending' | 'done' | 'failed' | 'cancelled';
/** Who submitted it: the jobs API (or the CLI through it), or a storage event. */
export type JobSource = 'api' | 'event';

/** An input: an object of the server's blob store, or an http(s) URL fetched under the URL policy. */
export type JobInput = { key: string } | { url: string };

/** What answers the job's inputs: a model (at a version or alias, else its default), or an endpoint's policy. */
export type JobTarget = { model: string; version?: string } | { endpoint: string };

export interface JobProgress {
  total: number;
  done: number;
  failed: number;
  cancelled: number;
}

export interface JobWebhookStatus {
  url: string;
  state: 'pending' | 'delivered' | 'failed';
  attempts: number;
  last_error?: string;
}

export interface JobView {
  id: string;
  state: JobState;
  source: JobSource;
  target: JobTarget;
  /** Where the outputs go: a prefix of the server's blob store, or `s3://bucket/prefix/`. */
  output: string;
  formats: JobFormat[];
  progress: JobProgress;
  created_at: string;
  finished_at?: string;
  /** Seconds from creation to the end, or to now while it runs. */
  elapsed_s: number;
  /** The manifest (and, with the coco format, the job's COCO results file), once the job has finished. */
  manifest_key?: string;
  coco_results_key?: string;
  webhook?: JobWebhookStatus;
}

export interface JobInputError {
  code: string;
  message: string;
}

export interface JobInputView {
  index: number;
  input: JobInput;
  /** The base name of its outputs under the job's output location. */
  name: string;
  state: JobInputState;
  attempts: number;
  outputs?: string[];
  /** The model version and variant that segmented it. */
  served_by?: { model: string; version: number; variant: string };
  error?: JobInputError;
}

export interface JobList {
  jobs: JobView[];
}

/** `GET /v1/jobs/{id}`: the job, and its failed inputs (the first 100). */
export type JobDetail = JobView & { errors: JobInputView[] };

/** `model m`, `model m:stable`, `endpoint e`: a job's target in a line of text (CLI, monitor page, logs). */
export function describeTarget(target: JobTarget): string {
  if ('endpoint' in target) return `endpoint ${target.endpoint}`;
  return target.version === undefined ? `model ${target.model}` : `model ${target.model}:${target.version}`;
}

/** An input as its key or URL. */
export function describeInput(input: JobInput): string {
  return 'key' in input ? input.key : input.url;
}

/** The manifest written beside a finished job's outputs: what each input became. */
export interface JobManifest {
  job: string;
  state: JobState;
  target: JobTarget;
  output: string;
  formats: JobFormat[];
  progress: JobProgress;
  created_at: string;
  finished_at: string;
  coco_results?: string;
  inputs: JobInputView[];
}
