/**
 * The one place HTTP errors are formatted: every failure, ours or Fastify's, leaves as
 * `{"error": {"code", "message", "details"}}` with the catalogue's status. Unforeseen errors become
 * INTERNAL_ERROR with the request id; their stack goes to the log, never to the client.
 */
import type { FastifyError, FastifyInstance, FastifyRequest } from 'fastify';
import { isSegserveError, SegserveError } from '../errors.js';
import type { HttpLimits } from './options.js';

const MULTIPART_LIMITS: Record<string, string> = {
  FST_PARTS_LIMIT: 'too many parts',
  FST_FILES_LIMIT: 'too many files',
  FST_FIELDS_LIMIT: 'too many fields',
  FST_PROTO_VIOLATION: 'a field is named after an object prototype property',
};

function clip(text: string, length = 200): string {
  return text.length > length ? `${text.slice(0, length)}...` : text;
}

/** Fastify's and @fastify/multipart's own errors as catalogue errors; anything else is internal. */
export function toSegserveError(error: unknown, request: FastifyRequest, limits: HttpLimits): SegserveError {
  if (isSegserveError(error)) return error;
  const fastifyError = error as Partial<FastifyError>;
  if (fastifyError.validation) {
    return new SegserveError('INVALID_ARGUMENT', { reason: fastifyError.message ?? 'invalid request' });
  }
  const code = fastifyError.code ?? '';
  switch (code) {
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

export function installErrorHandler(app: FastifyInstance, limits: HttpLimits): void {
  app.setErrorHandler((error, request, reply) => {
    const mapped = toSegserveError(error, request, limits);
    if (mapped.status >= 500) {
      request.log.error({ err: error, code: mapped.code }, mapped.message);
    } else {
      request.log.info({ code: mapped.code, reason: mapped.message }, 'request refused');
    }
    if (mapped.status === 503) reply.header('retry-after', String(limits.retryAfterSeconds));
    return reply.code(mapped.status).send({ error: mapped.toJSON() });
  });

  app.setNotFoundHandler((request) => {
    throw new SegserveError('ROUTE_NOT_FOUND', {
      method: request.method,
      path: clip(request.url.split('?')[0]),
    });
  });
}
