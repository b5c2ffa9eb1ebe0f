/**
 * A finished job's webhook: one POST of the job as `GET /v1/jobs/{id}` shows it, signed so the receiver knows it
 * came from this server and was not replayed from long ago:
 *
 *     X-Segserve-Delivery: <job id>            the same on every retry: a receiver dedupes on it
 *     X-Segserve-Timestamp: <unix seconds>
 *     X-Segserve-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>
 *
 * (the scheme of Stripe's and GitHub's webhooks: the timestamp inside the signed text bounds replays). The
 * request goes out under the URL policy of image downloads (no private addresses unless allowed), follows no
 * redirect, and counts only a 2xx answer as delivered; anything else throws and the queue retries.
 */
import { createHmac } from 'node:crypto';
import { SegserveError } from '../errors.js';
import type { UrlFetcher } from '../sources/fetch-url.js';
import type { JobRecord } from './job-store.js';

export const SIGNATURE_HEADER = 'x-segserve-signature';
export const TIMESTAMP_HEADER = 'x-segserve-timestamp';
export const DELIVERY_HEADER = 'x-segserve-delivery';

export function signWebhook(secret: string, timestamp: number, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

export async function deliverWebhook(fetcher: UrlFetcher, record: JobRecord): Promise<void> {
  const { view, webhookSecret } = record;
  const url = view.webhook?.url;
  if (!url || !webhookSecret) return;
  const { webhook: _status, ...job } = view;
  const body = JSON.stringify({ type: 'job.finished', job });
  const timestamp = Math.floor(Date.now() / 1000);
  const status = await fetcher.post(url, body, {
    'content-type': 'application/json',
    [DELIVERY_HEADER]: view.id,
    [TIMESTAMP_HEADER]: String(timestamp),
    [SIGNATURE_HEADER]: signWebhook(webhookSecret, timestamp, body),
  });
  if (status < 200 || status >= 300) {
    throw new SegserveError('URL_FETCH_FAILED', {
      host: new URL(url).host,
      reason: `the webhook answered HTTP ${status}`,
    });
  }
}
