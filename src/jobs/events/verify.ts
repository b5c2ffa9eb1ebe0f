/**
 * Who may send storage events. A configured token is accepted from `Authorization: Bearer <token>` (what MinIO
 * sends for a webhook `auth_token` of one word), the whole `Authorization` value (MinIO sends an `auth_token` of
 * two words, such as `Token <secret>`, as it is: configure the same two words here), or the `token` query
 * parameter (the pattern Google documents for Pub/Sub push endpoints, whose Authorization header, when set, carries
 * Google's OIDC token instead). The route should keep the query string out of its logs.
 *
 * The candidates are hashed and compared with `timingSafeEqual`, all of them every time, as src/http/admin-auth.ts
 * does: equal-length digests for timingSafeEqual, and no timing that says how much of a token matched.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { SegserveError } from '../../errors.js';
import { headerOf } from './shared.js';
import type { EventHeaders } from './types.js';

export interface EventSenderRequest {
  headers: EventHeaders;
  query: Readonly<Record<string, string | undefined>>;
}

function digestOf(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

/** Every value the request may present the token as; empty values are no token. */
function presented(request: EventSenderRequest): string[] {
  const candidates: string[] = [];
  const authorization = headerOf(request.headers, 'authorization')?.trim();
  if (authorization) {
    candidates.push(authorization);
    const bearer = /^Bearer[ ]+(\S.*)$/i.exec(authorization);
    if (bearer) candidates.push(bearer[1]);
  }
  const query = request.query.token;
  if (query) candidates.push(query);
  return candidates;
}

/**
 * Throws EVENT_UNAUTHORIZED (401) unless the request presents `token`. Without a token configured every sender is
 * accepted (the route warns of it at start). A configured empty token matches nothing (empty values are no token),
 * so it refuses every sender rather than letting an empty variable open the route.
 */
export function verifyEventSender(request: EventSenderRequest, token: string | undefined): void {
  if (token === undefined) return;
  const candidates = presented(request);
  if (candidates.length === 0) {
    throw new SegserveError('EVENT_UNAUTHORIZED', { reason: 'the request carries no token' });
  }
  const expected = digestOf(token);
  let matched = false;
  for (const candidate of candidates) matched = timingSafeEqual(digestOf(candidate), expected) || matched;
  if (!matched) {
    throw new SegserveError('EVENT_UNAUTHORIZED', {
      reason: 'the token sent is not the one this server accepts',
    });
  }
}
