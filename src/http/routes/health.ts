/**
 * `GET /health`, the liveness answer the common segmentation services give, with the state of every model and
 * the admission counters. It reads in-memory state only, so it answers at once however busy the models are.
 * It answers 503 when no model can serve, so a container health check stops sending traffic to this instance.
 */
import type { FastifyPluginAsync } from 'fastify';
import type { HttpContext } from '../context.js';
import { errorResponses, ref } from '../schemas.js';

const count = { type: 'integer' } as const;

const health = {
  type: 'object',
  required: ['status', 'models', 'requests'],
  properties: {
    status: {
      type: 'string',
      enum: ['ok', 'degraded', 'unavailable'],
      description:
        'ok: every model ready; degraded: some model is not ready; unavailable (HTTP 503): no model can serve.',
    },
    default_model: { type: 'string' },
    models: {
      type: 'object',
      additionalProperties: { type: 'string', enum: ['ready', 'loading', 'failed'] },
    },
    requests: {
      type: 'object',
      description: 'Admission since start: admitted, refused, images decoded, and what is in flight now.',
      required: ['admitted', 'refused', 'decoded', 'in_flight', 'pixels_in_flight'],
      properties: {
        admitted: count,
        refused: count,
        decoded: count,
        in_flight: count,
        pixels_in_flight: count,
      },
    },
  },
} as const;

export const healthRoutes: FastifyPluginAsync<HttpContext> = async (app, context) => {
  app.get(
    '/health',
    {
      // Probes call this every few seconds; their lines would drown the request log.
      logLevel: 'warn',
      schema: {
        tags: ['health'],
        summary: 'Liveness, with the state of every model; 503 when no model can serve',
        response: {
          ...errorResponses,
          200: health,
          // No model can serve (the health body), or the server is draining (the error body, SERVER_CLOSING).
          503: {
            description: 'No model can serve, or the server is shutting down.',
            anyOf: [health, ref('Error')],
          },
        },
      },
    },
    async (_request, reply) => {
      const answer = context.service.health();
      return reply.code(answer.status === 'unavailable' ? 503 : 200).send(answer);
    },
  );
};
