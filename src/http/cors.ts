/**
 * CORS for the origins an operator configured, through the official @fastify/cors plugin. Without configured
 * origins the plugin is not registered at all: no CORS header is ever sent and browsers keep to same-origin.
 *
 * A request from an origin not on the list gets no CORS header (not even on a preflight, which then falls
 * through to the 404 handler), so nothing tells a foreign page what the server would allow.
 */
import cors, { type FastifyCorsOptions } from '@fastify/cors';
import type { FastifyInstance } from 'fastify';

/** Methods of the API; OPTIONS is the preflight itself. */
export const CORS_METHODS = ['GET', 'HEAD', 'POST'] as const;

/**
 * Request headers a browser page may send. Content-Type is listed because `application/octet-stream` and
 * `application/json` bodies are not "simple" requests; the v2 binary extension needs its length header.
 */
export const CORS_ALLOWED_HEADERS = [
  'accept',
  'content-type',
  'content-encoding',
  'x-request-id',
  'inference-header-content-length',
] as const;

/** Response headers a page's script may read (browsers hide all but a few safe ones otherwise). */
export const CORS_EXPOSED_HEADERS = [
  'x-request-id',
  'x-segserve-model',
  'x-segserve-version',
  'x-segserve-variant',
  'retry-after',
  'server-timing',
  'inference-header-content-length',
] as const;

/** Browsers may cache a preflight answer this long (Chromium caps it at 2 hours). */
const PREFLIGHT_MAX_AGE_S = 600;

/** Registers CORS for `origins` (already normalised, see `normalizeCorsOrigins`); none: does nothing. */
export async function registerCors(app: FastifyInstance, origins: readonly string[]): Promise<void> {
  if (origins.length === 0) return;
  const anyOrigin = origins.includes('*');
  const allowed = new Set(origins);
  const options: FastifyCorsOptions = {
    // A function rather than the list: for an unlisted origin it disables CORS for the request entirely
    // (the list form still answers preflights with methods and headers, only without Allow-Origin).
    origin: (origin, callback) => {
      if (anyOrigin) callback(null, '*');
      else callback(null, origin !== undefined && allowed.has(origin) ? origin : false);
    },
    methods: [...CORS_METHODS],
    allowedHeaders: [...CORS_ALLOWED_HEADERS],
    exposedHeaders: [...CORS_EXPOSED_HEADERS],
    maxAge: PREFLIGHT_MAX_AGE_S,
    // No cookies or HTTP auth in this API; credentials stay off, which also keeps `*` legal.
    credentials: false,
  };
  await app.register(cors, options);
}
