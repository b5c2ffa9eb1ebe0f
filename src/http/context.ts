/**
 * What every route plugin of the app shares, built once by `buildApp`, and how a route hands a request to the
 * serving core: admitted in an `onRequest` hook, before Fastify reads the body, so that a full queue or an
 * unknown model is answered without reading or decoding the image.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest, onRequestHookHandler } from 'fastify';
import { SegserveError } from '../errors.js';
import type { Segmentation } from '../serving/pipeline.js';
import type {
  InferenceService,
  RequestOrigin,
  RequestSource,
  TargetRequest,
  Ticket,
} from '../serving/service.js';
import type { UrlFetcher } from '../sources/fetch-url.js';
import type { AdminKeys } from './admin-auth.js';
import type { HttpLimits } from './options.js';

export interface HttpContext {
  service: InferenceService;
  limits: HttpLimits;
  fetcher: UrlFetcher;
  /** Real path of the folder `/predict/batch` reads `paths` from. */
  batchRoot?: string;
  /** Who may call admin routes; undefined: the admin API is off (they answer ADMIN_API_DISABLED). */
  adminKeys?: AdminKeys;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by `admitBeforeBody` on the routes that run a model. */
    ticket: Ticket | null;
  }
}

/** Gives requests their `ticket` slot; a plugin registered on its own (the /v2 routes in tests) calls it too. */
export function decorateTickets(app: FastifyInstance): void {
  if (!app.hasRequestDecorator('ticket')) app.decorateRequest('ticket', null);
}

interface Named {
  model?: string;
  version?: string;
}

/** The model and version a request names, from its path or else its query (raw strings: the core parses them). */
export function namedTarget(request: FastifyRequest): Named {
  const params = request.params as Named;
  const query = request.query as Named;
  return { model: params.model ?? query.model, version: params.version ?? query.version };
}

/**
 * A route-level `onRequest` hook that admits the request, or refuses it before its body is read. The ticket is
 * released when the response is done, however it ends (answered, failed or the client gone).
 */
export function admitBeforeBody(
  service: InferenceService,
  source: RequestSource,
  prefer?: TargetRequest['prefer'],
): onRequestHookHandler {
  return async (request, reply) => {
    const ticket = service.admit({ ...namedTarget(request), prefer }, requestOrigin(request, source));
    reply.raw.once('close', () => ticket.release());
    request.ticket = ticket;
    // On every answer of the request from here on, errors included: which variant of a traffic policy it met.
    reply.header(VARIANT_HEADER, ticket.variant);
    request.log.info(
      {
        source,
        model: ticket.loaded.name,
        version: ticket.loaded.version,
        variant: ticket.variant,
        ...(ticket.endpoint === undefined ? {} : { endpoint: ticket.endpoint }),
      },
      'request admitted',
    );
  };
}

/** The response header that names the traffic variant that answered (`default` without a policy). */
export const VARIANT_HEADER = 'x-segserve-variant';

/**
 * Who asks, as the serving core sees an HTTP request: its adapter, its id, the name of its API key (api-keys.ts)
 * for policies sticky by key, and its headers for policies sticky by header.
 */
export function requestOrigin(request: FastifyRequest, source: RequestSource): RequestOrigin {
  return {
    source,
    requestId: request.id,
    stickyKey: request.apiKeyName ?? undefined,
    header: (name) => {
      const value = request.headers[name];
      return Array.isArray(value) ? value[0] : value;
    },
  };
}

export function ticketOf(request: FastifyRequest): Ticket {
  if (!request.ticket) throw new Error(`route ${request.url} runs a model without admitBeforeBody`);
  return request.ticket;
}

/**
 * An AbortSignal that fires with REQUEST_ABORTED when the client hangs up before the answer is sent, so a job
 * still waiting for a session leaves the queue instead of costing inference. `done` detaches it.
 */
export function abandonedSignal(reply: FastifyReply): { signal: AbortSignal; done: () => void } {
  const controller = new AbortController();
  const onClose = () => {
    if (!reply.raw.writableFinished) controller.abort(new SegserveError('REQUEST_ABORTED'));
  };
  reply.raw.once('close', onClose);
  return { signal: controller.signal, done: () => reply.raw.off('close', onClose) };
}

/** Segments the admitted request's image with the server's queue timeout, abandoning it if the client leaves. */
export async function segmentForRequest(
  context: HttpContext,
  request: FastifyRequest,
  reply: FastifyReply,
  bytes: Uint8Array,
  keepImage = false,
  ticket: Ticket = ticketOf(request),
): Promise<Segmentation> {
  const abandoned = abandonedSignal(reply);
  try {
    return await context.service.segment(ticket, bytes, {
      keepImage,
      timeoutMs: context.limits.inferenceTimeoutMs,
      signal: abandoned.signal,
    });
  } finally {
    abandoned.done();
  }
}
