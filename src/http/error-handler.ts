/**
 * The one place HTTP errors are formatted, for every route: our errors and Fastify's own become catalogue
 * errors with their status and, on 503, a Retry-After from `retryAfterSeconds`. The /v1 API and the compatible
 * routes answer `{"error": {"code", "message", "details"}}`; the Open Inference Protocol routes answer
 * `{"error": "<message>"}` with the content type exactly `application/json`, as the protocol and Triton's
 * clients expect. Unforeseen errors become INTERNAL_ERROR with the request id; their stack goes to the log,
 * never to the client. Expected refusals are logged without stacks and rate-limited (refusal-log.ts).
 */
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { type ErrorCode, isSegserveError, retryAfterSeconds, SegserveError } from '../errors.js';
import { RefusalLog } from './refusal-log.js';

export type ErrorStyle = 'segserve' | 'v2';

/** Longest path segment the router matches (Fastify's `maxParamLength`); model names are far shorter. */
export const MAX_PARAM_LENGTH = 200;

const MULTIPART_LIMITS: Record<string, string> = {
  FST_PARTS_LIMIT: 'too many parts',
  FST_FILES_LIMIT: 'too many files',
  FST_FIELDS_LIMIT: 'too many fields',
  FST_PROTO_VIOLATION: 'a field is named after an object prototype property',
};

function clip(text: string, length = 200): string {
  return text.length > length ? `${text.slice(0, length)}...` : text;
}

export interface ErrorLimits {
  /** Largest body of an image (upload, multipart file). */
  imageBodyBytes: number;
}

/** Fastify's and @fastify/multipart's own errors as catalogue errors; anything else is internal. */
export function toSegserveError(error: unknown, request: FastifyRequest, limits: ErrorLimits): SegserveError {
  if (isSegserveError(error)) return error;
  const fastifyError = error as Partial<FastifyError>;
  if (fastifyError.validation) {
    return new SegserveError('INVALID_ARGUMENT', { reason: fastifyError.message ?? 'invalid request' });
  }
  const code = fastifyError.code ?? '';
  switch (code) {
    case 'FST_ERR_MAX_PARAM_LENGTH':
      return new SegserveError('PATH_TOO_LONG', { limit: MAX_PARAM_LENGTH });
    case 'FST_ERR_BAD_URL':
      return new SegserveError('INVALID_ARGUMENT', { reason: 'the URL path is not valid percent-encoding' });
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new SegserveError('BODY_TOO_LARGE', { limit: request.routeOptions.bodyLimit });
    case 'FST_REQ_FILE_TOO_LARGE':
      return new SegserveError('INPUT_TOO_LARGE', { source: 'uploaded file', limit: limits.imageBodyBytes });
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new SegserveError('UNSUPPORTED_MEDIA_TYPE', {
        content_type: clip(String(request.headers['content-type'] ?? '')),
        reason: 'this route does not read it (see /openapi.json for what each route takes)',
      });
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new SegserveError('INVALID_JSON', { reason: 'the body is empty' });
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return new SegserveError('INVALID_JSON', { reason: fastifyError.message ?? 'syntax error' });
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return new SegserveError('INVALID_ARGUMENT', {
        reason: 'the body is not as long as its Content-Length header says',
      });
  }
  if (MULTIPART_LIMITS[code])
    return new SegserveError('MULTIPART_INVALID', { reason: MULTIPART_LIMITS[code] });
  // Fastify's JSON parser reports syntax errors as a plain SyntaxError with status 400.
  if (error instanceof SyntaxError && fastifyError.statusCode === 400) {
    return new SegserveError('INVALID_JSON', { reason: error.message });
  }
  const status = fastifyError.statusCode ?? 500;
  if (status >= 400 && status < 500) {
    return new SegserveError('INVALID_ARGUMENT', { reason: clip(fastifyError.message ?? 'bad request') });
  }
  return new SegserveError('INTERNAL_ERROR', { request_id: request.id });
}

/** Sends JSON text as bytes: Fastify appends `; charset=utf-8` to a JSON content type for string payloads only. */
export function sendJsonBytes(reply: FastifyReply, status: number, json: string | Buffer): FastifyReply {
  const body = typeof json === 'string' ? Buffer.from(json, 'utf8') : json;
  return reply.code(status).header('content-type', 'application/json').send(body);
}

/** The catalogue code each failed request was answered with, for request metrics. */
const answeredCodes = new WeakMap<FastifyRequest, ErrorCode>();

/** `OK` for a request answered without an error, else the catalogue code it was answered with. */
export function answeredCode(request: FastifyRequest): ErrorCode | 'OK' {
  return answeredCodes.get(request) ?? 'OK';
}

/** Answers `error` in the given style, with Retry-After where the catalogue says to wait. */
export function sendError(reply: FastifyReply, error: SegserveError, style: ErrorStyle): FastifyReply {
  answeredCodes.set(reply.request, error.code);
  const retryAfter = retryAfterSeconds(error);
  if (retryAfter !== undefined) reply.header('retry-after', String(retryAfter));
  if (style === 'v2') return sendJsonBytes(reply, error.status, JSON.stringify({ error: error.message }));
  return reply.code(error.status).send({ error: error.toJSON() });
}

/**
 * Fastify's `frameworkErrors`: a path the router refuses before any route or hook (a segment longer than
 * MAX_PARAM_LENGTH, broken percent-encoding) is answered like every other error, in the style of its protocol.
 */
export function frameworkErrorHandler(limits: ErrorLimits) {
  return (error: FastifyError, request: FastifyRequest, reply: FastifyReply): FastifyReply => {
    const mapped = toSegserveError(error, request, limits);
    return sendError(reply, mapped, request.url.startsWith('/v2/') ? 'v2' : 'segserve');
  };
}

/** Installs the error and not-found handlers of `app` (an encapsulated plugin gets its own style). */
export function installErrorHandler(app: FastifyInstance, limits: ErrorLimits, style: ErrorStyle): void {
  const refusals = new RefusalLog();
  app.setErrorHandler((error, request, reply) => {
    const mapped = toSegserveError(error, request, limits);
    if (
      mapped.code === 'INTERNAL_ERROR' ||
      (mapped.status >= 500 && mapped.status !== 503 && mapped.status !== 504)
    ) {
      request.log.error({ err: error, code: mapped.code }, mapped.message);
    } else {
      refusals.note(request, mapped);
    }
    return sendError(reply, mapped, style);
  });

  app.setNotFoundHandler((request, reply) =>
    sendError(
      reply,
      new SegserveError('ROUTE_NOT_FOUND', { method: request.method, path: clip(request.url.split('?')[0]) }),
      style,
    ),
  );
}
