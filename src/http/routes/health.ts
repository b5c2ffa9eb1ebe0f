/**
 * `GET /health`, the liveness answer the common segmentation services give. It reads in-memory state only,
 * so it answers at once however busy the models are (inference runs in worker threads).
 */
import type { FastifyPluginAsync } from 'fastify';
import type { HttpContext } from '../context.js';
import { errorResponses } from '../schemas.js';

export const healthRoutes: FastifyPluginAsync<HttpContext> = async (app, context) => {
  app.get(
    '/health',
    {
      // Probes call this every few seconds; their lines would drown the request log.
      logLevel: 'warn',
      schema: {
        tags: ['health'],
        summary: 'Liveness, with the state of every model',
        response: {
          200: {
            type: 'object',
            required: ['status', 'models'],
            properties: {
              status: {
                type: 'string',
                enum: ['ok', 'degraded'],
                description: 'degraded: some model is not ready (the process itself is alive).',
              },
              default_model: { type: 'string' },
              models: {
                type: 'object',
                additionalProperties: { type: 'string', enum: ['ready', 'loading', 'failed'] },
              },
            },
          },
          // 503 SERVER_CLOSING while the server drains: load balancers take the instance out.
          ...errorResponses,
        },
      },
    },
    async () => {
      const models = context.repository.list();
      return {
        status: models.every((m) => m.state === 'ready') ? 'ok' : 'degraded',
        default_model: context.defaultModel ?? context.repository.defaultModel(),
        models: Object.fromEntries(models.map((m) => [m.name, m.state])),
      };
    },
  );
};
