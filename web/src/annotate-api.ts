/**
 * Calls to the annotation queue (/v1/annotations). The annotator goes in the X-Annotator header of every call
 * that acts, so the bodies carry only what the call is about.
 */
import type {
  AnnotationItemJson,
  AnnotationSummaryJson,
  ClaimNextJson,
  LabelBodyJson,
} from '../../src/learning/annotations/types.js';
import type { LabelDocument } from '../../src/learning/label-document.js';
import { call } from './api';

const item = (id: string) => `/v1/annotations/${encodeURIComponent(id)}`;

function acting(annotator: string, body: unknown = {}, keepalive = false): RequestInit {
  return {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-annotator': annotator },
    body: JSON.stringify(body),
    keepalive,
  };
}

async function itemOf(response: Response): Promise<AnnotationItemJson> {
  return (await response.json()) as AnnotationItemJson;
}

export async function claimNext(
  model: string,
  annotator: string,
  exclude: readonly string[],
): Promise<AnnotationItemJson | null> {
  const response = await call(
    '/v1/annotations/claim-next',
    acting(annotator, { model, exclude: [...exclude] }),
  );
  return ((await response.json()) as ClaimNextJson).item;
}

export async function claim(id: string, annotator: string): Promise<AnnotationItemJson> {
  return itemOf(await call(`${item(id)}/claim`, acting(annotator)));
}

/** Gives a held item back; `keepalive` lets it finish while the page is being left. */
export async function release(id: string, annotator: string, keepalive = false): Promise<void> {
  await call(`${item(id)}/release`, acting(annotator, {}, keepalive));
}

export async function prediction(id: string, signal?: AbortSignal): Promise<LabelDocument> {
  return (await (await call(`${item(id)}/prediction`, { signal })).json()) as LabelDocument;
}

export function imageUrl(id: string): string {
  return `${item(id)}/image`;
}

export async function submitLabel(
  id: string,
  annotator: string,
  body: LabelBodyJson,
): Promise<AnnotationItemJson> {
  return itemOf(await call(`${item(id)}/label`, acting(annotator, body)));
}

export async function skip(id: string, annotator: string): Promise<AnnotationItemJson> {
  return itemOf(await call(`${item(id)}/skip`, acting(annotator)));
}

export async function reject(id: string, annotator: string): Promise<AnnotationItemJson> {
  return itemOf(await call(`${item(id)}/reject`, acting(annotator)));
}

export async function summary(model: string): Promise<AnnotationSummaryJson> {
  const response = await call(`/v1/annotations/summary?model=${encodeURIComponent(model)}`);
  return (await response.json()) as AnnotationSummaryJson;
}
