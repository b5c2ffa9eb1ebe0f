/** `GET /v1/models` and `GET /v1/models/{model}`: what is served, in what state, and what each model reads. */
import type { FastifyPluginAsync } from 'fastify';
import { SegserveError } from '../../errors.js';
import type { ModelStatus } from '../../models/index.js';
import type { ModelJson, ModelListJson } from '../../serving/types.js';
import type { HttpContext } from '../context.js';
import { errorResponses, ref } from '../schemas.js';

/** Typed with the wire type the browser UI reads, so the two cannot drift apart. */
function modelJson(status: ModelStatus): ModelJson {
  return {
    name: status.name,
    state: status.state,
    task: status.task,
    decoder: status.decoder,
    labels: status.labels,
    input: status.input,
    gate: status.gate,
    versions: status.versions
      .map((v) => ({ version: v.version, state: v.state, error: v.error }))
      .sort((a, b) => a.version - b.version),
    error: status.error,
  };
}

export const modelRoutes: FastifyPluginAsync<HttpContext> = async (app, context) => {
  app.get(
    '/v1/models',
    {
      schema: {
        tags: ['models'],
        summary: 'Every model with its state, task, labels, input and versions',
        response: {
          200: {
            type: 'object',
            required: ['models'],
            properties: {
              default_model: { type: 'string' },
              models: { type: 'array', items: ref('Model') },
            },
          },
          ...errorResponses,
        },
      },
    },
    async (): Promise<ModelListJson> => ({
      default_model: context.service.defaultModel()?.model,
      models: context.service.repository.list().map(modelJson),
    }),
  );

  app.get<{ Params: { model: string } }>(
    '/v1/models/:model',
    {
      schema: {
        tags: ['models'],
        summary: 'One model: versions, task, labels, input, state and load errors',
        params: { type: 'object', required: ['model'], properties: { model: { type: 'string' } } },
        response: { 200: ref('Model'), ...errorResponses },
      },
    },
    async (request) => {
      const status = context.service.repository.get(request.params.model);
      if (!status) throw new SegserveError('MODEL_NOT_FOUND', { model: request.params.model });
      return modelJson(status);
    },
  );
};
