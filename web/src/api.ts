/**
 * Calls to the segserve API. Every failure becomes an ApiError carrying the API's stable code and message
 * (`{"error": {"code", "message", "details"}}`), so the UI shows what the server said, not a generic failure.
 */

import type { JobList } from '../../src/jobs/wire-types.js';
import type { TrainingRunListJson } from '../../src/learning/training/wire-types.js';
import type { RetrainingTriggerListJson } from '../../src/learning/wire-types.js';
import type { ModelHistoryJson } from '../../src/lifecycle/wire-types.js';
import type { MonitorJson } from '../../src/monitoring/monitor-types.js';
import type { EndpointShadowsJson, ShadowListJson } from '../../src/monitoring/shadow/wire-types.js';
import type { ModelListJson, SegmentationJson } from '../../src/serving/types.js';

export class ApiError extends Error {
  readonly code: string;
  /** HTTP status; 0 when no answer arrived. */
  readonly status: number;

  constructor(code: string, message: string, status: number) {
    super(message);
    this.name = 'ApiError';
    this.code = code;
    this.status = status;
  }
}

/** An image the user gave: a file (picked, dropped or pasted) or a URL the server fetches. */
export type ImageSource = { kind: 'file'; file: File } | { kind: 'url'; url: string };

function isErrorBody(value: unknown): value is { error: { code: string; message: string } } {
  if (typeof value !== 'object' || value === null || !('error' in value)) return false;
  const error = (value as { error: unknown }).error;
  return (
    typeof error === 'object' &&
    error !== null &&
    typeof (error as { code?: unknown }).code === 'string' &&
    typeof (error as { message?: unknown }).message === 'string'
  );
}

/** The API's own error when the body is one; otherwise (a proxy's page, say) the status and the text's start. */
async function failure(response: Response): Promise<ApiError> {
  const text = await response.text();
  try {
    const body: unknown = JSON.parse(text);
    if (isErrorBody(body)) return new ApiError(body.error.code, body.error.message, response.status);
  } catch {
    // Not JSON: reported below with the start of the text.
  }
  const summary = text
    .replace(/<[^>]*>/g, ' ')
    .replace(/\s+/g, ' ')
    .trim()
    .slice(0, 200);
  return new ApiError(`HTTP_${response.status}`, summary || response.statusText, response.status);
}

/** `fetch` of an API path; a failure (no answer, or an error status) becomes an ApiError. */
export async function call(path: string, init?: RequestInit): Promise<Response> {
  let response: Response;
  try {
    response = await fetch(path, init);
  } catch (error) {
    if (error instanceof DOMException && error.name === 'AbortError') throw error;
    throw new ApiError('NETWORK_ERROR', `The server cannot be reached (${(error as Error).message}).`, 0);
  }
  if (!response.ok) throw await failure(response);
  return response;
}

export async function listModels(): Promise<ModelListJson> {
  const response = await call('/v1/models');
  return (await response.json()) as ModelListJson;
}

/** The monitor page's data: the last `windowSeconds` of history and the gauges of now. */
export async function monitor(windowSeconds: number, signal?: AbortSignal): Promise<MonitorJson> {
  const response = await call(`/v1/monitor?window=${windowSeconds}`, { signal });
  return (await response.json()) as MonitorJson;
}

/** The newest `limit` jobs still running (`GET /v1/jobs?state=running`), for the monitor page. */
export async function runningJobs(limit: number, signal?: AbortSignal): Promise<JobList> {
  const response = await call(`/v1/jobs?state=running&limit=${limit}`, { signal });
  return (await response.json()) as JobList;
}

/** Every endpoint with shadow variants, and their figures. */
export async function shadowList(signal?: AbortSignal): Promise<ShadowListJson> {
  const response = await call('/v1/shadows', { signal });
  return (await response.json()) as ShadowListJson;
}

/** One endpoint's shadow variants: figures and the comparisons that disagree most. */
export async function endpointShadows(endpoint: string, signal?: AbortSignal): Promise<EndpointShadowsJson> {
  const response = await call(`/v1/endpoints/${encodeURIComponent(endpoint)}/shadows`, { signal });
  return (await response.json()) as EndpointShadowsJson;
}

/**
 * The latest retraining triggers of every model; null when the server runs without retraining (the route is
 * absent), so the page shows nothing rather than an error.
 */
export async function retrainingTriggers(): Promise<RetrainingTriggerListJson | null> {
  try {
    const response = await call('/v1/retraining/triggers?limit=100');
    return (await response.json()) as RetrainingTriggerListJson;
  } catch (error) {
    if (error instanceof ApiError && error.code === 'ROUTE_NOT_FOUND') return null;
    throw error;
  }
}

/** A model's aliases, evaluations and version history; null when the server has no lifecycle routes. */
export async function modelHistory(model: string): Promise<ModelHistoryJson | null> {
  try {
    const response = await call(`/v1/models/${encodeURIComponent(model)}/history`);
    return (await response.json()) as ModelHistoryJson;
  } catch (error) {
    if (error instanceof ApiError && error.code === 'ROUTE_NOT_FOUND') return null;
    throw error;
  }
}

/**
 * A model's newest `limit` training runs, newest first; null when the server keeps no run history (it runs
 * without storage, so the route is absent), and the page then leaves the section out.
 */
export async function trainingRuns(model: string, limit: number): Promise<TrainingRunListJson | null> {
  try {
    const response = await call(`/v1/models/${encodeURIComponent(model)}/training-runs?limit=${limit}`);
    return (await response.json()) as TrainingRunListJson;
  } catch (error) {
    if (error instanceof ApiError && error.code === 'ROUTE_NOT_FOUND') return null;
    throw error;
  }
}

export type AnswerFormat = 'json' | 'mask' | 'overlay';

/** The segment route of a model, or of one version of it when given. */
function segmentPath(model: string, version: number | undefined, format: AnswerFormat): string {
  const name = encodeURIComponent(model);
  const base = version === undefined ? `/v1/models/${name}` : `/v1/models/${name}/versions/${version}`;
  return `${base}/segment?format=${format}${format === 'json' ? '&mask_format=rle' : ''}`;
}

function body(source: ImageSource): RequestInit {
  if (source.kind === 'url') {
    return { body: JSON.stringify({ url: source.url }), headers: { 'content-type': 'application/json' } };
  }
  const form = new FormData();
  form.append('file', source.file, source.file.name);
  return { body: form };
}

export interface Answer {
  answer: SegmentationJson;
  /** The body exactly as received, offered as the "answer JSON" download. */
  text: string;
}

export async function segment(
  source: ImageSource,
  model: string,
  version: number | undefined,
  signal?: AbortSignal,
): Promise<Answer> {
  const response = await call(segmentPath(model, version, 'json'), {
    method: 'POST',
    signal,
    ...body(source),
  });
  const text = await response.text();
  return { answer: JSON.parse(text) as SegmentationJson, text };
}

/** The mask PNG or the server's overlay PNG for the same image (segmented again by the server). */
export async function segmentToPng(
  source: ImageSource,
  model: string,
  version: number | undefined,
  format: 'mask' | 'overlay',
): Promise<Blob> {
  const response = await call(segmentPath(model, version, format), { method: 'POST', ...body(source) });
  return response.blob();
}
