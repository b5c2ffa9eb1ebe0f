/**
 * How the v2 routes answer: JSON with the content type exactly `application/json` (Triton's; some clients
 * compare the header verbatim), and every error as the protocol's `{"error": "<message>"}`.
 */
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { isSegserveError, SegserveError } from '../../errors.js';

/** Seconds a client should wait before retrying a 503 (queue full, model or server not ready). */
export const RETRY_AFTER_SECONDS = 1;

/** Sends JSON text as bytes: Fastify appends `; charset=utf-8` to a JSON content type for string payloads only. */
export function sendJson(reply: FastifyReply, status: number, json: string | Buffer): FastifyReply {
  if (status === 503) reply.header('retry-after', String(RETRY_AFTER_SECONDS));
  const body = typeof json === 'string' ? Buffer.from(json, 'utf8') : json;
  return reply.code(status).header('content-type', 'application/json').send(body);
}

/** The status and message of any error a v2 route or Fastify itself raises. */
function describeError(
  error: Error,
  request: FastifyRequest,
  bodyLimit: number,
): SegserveError | FastifyError {
  if (isSegserveError(error)) return error;
  const fastify = error as FastifyError;
  if (fastify.code === 'FST_ERR_CTP_BODY_TOO_LARGE')
    return new SegserveError('BODY_TOO_LARGE', { limit: bodyLimit });
  // Fastify's own client errors (a malformed Content-Type, a Content-Length that does not match the body).
  if (typeof fastify.statusCode === 'number' && fastify.statusCode >= 400 && fastify.statusCode < 500)
    return fastify;
  return new SegserveError('INTERNAL_ERROR', { request_id: request.id });
}

/**
 * The error handler of the v2 plugin: anything unforeseen is a 500 that names the request id, with the details
 * in the log only.
 */
export function v2ErrorHandler(bodyLimit: number) {
  return (error: Error, request: FastifyRequest, reply: FastifyReply): FastifyReply => {
    const known = describeError(error, request, bodyLimit);
    const status = isSegserveError(known) ? known.status : (known.statusCode ?? 500);
    if (status >= 500) request.log.error({ err: error }, 'v2 request failed');
    else request.log.info({ reason: known.message }, 'v2 request refused');
    return sendJson(reply, status, JSON.stringify({ error: known.message }));
  };
}
