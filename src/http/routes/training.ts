/**
 * The run history of the reference trainer: `segserve train` (on this machine, in a Kubernetes Job, in CI)
 * reports each run here as it goes (admin key), and anyone may read a model's runs, as its version history.
 * The server owns the database, so a trainer elsewhere never needs to reach it.
 */
import type { FastifyPluginAsync } from 'fastify';
import { SegserveError } from '../../errors.js';
import { TrainingRuns } from '../../learning/training/runs.js';
import type { TrainingRunListJson } from '../../learning/training/wire-types.js';
import type { StorageAccess } from '../../storage/index.js';
import { type AdminKeys, requireAdmin } from '../admin-auth.js';
import { errorResponses } from '../schemas.js';

export interface TrainingRouteOptions {
  stores: StorageAccess;
  adminKeys?: AdminKeys;
}

const tags = ['lifecycle'];
/** A run as TrainingRunJson (src/learning/training/wire-types.ts) describes it; epochs and metrics are the trainer's own. */
const run = {
  type: 'object',
  additionalProperties: true,
  description: 'A training run (TrainingRunJson).',
} as const;
const ok = { 200: run, ...errorResponses } as const;
const object = { type: 'object', additionalProperties: true } as const;
const idParams = {
  type: 'object',
  required: ['id'],
  properties: { id: { type: 'string', maxLength: 64 } },
} as const;

export const trainingRoutes: FastifyPluginAsync<TrainingRouteOptions> = async (app, options) => {
  const admin = requireAdmin(options.adminKeys);
  const runs = async () => new TrainingRuns(await options.stores.database());
  const known = async (id: string) => {
    const run = await (await runs()).get(id);
    if (!run) throw new SegserveError('TRAINING_RUN_NOT_FOUND', { run: id });
    return run;
  };

  app.get<{ Params: { model: string }; Querystring: { limit?: number } }>(
    '/v1/models/:model/training-runs',
    {
      schema: {
        tags,
        summary: "A model's training runs, newest first, with their metrics per epoch",
        params: {
          type: 'object',
          required: ['model'],
          properties: { model: { type: 'string', maxLength: 128 } },
        },
        querystring: { type: 'object', properties: { limit: { type: 'integer', minimum: 1, maximum: 500 } } },
        response: {
          200: { type: 'object', additionalProperties: true, description: '{runs: TrainingRunJson[]}' },
          ...errorResponses,
        },
      },
    },
    async (request): Promise<TrainingRunListJson> => ({
      runs: await (await runs()).ofModel(request.params.model, request.query.limit ?? 50),
    }),
  );

  app.get<{ Params: { id: string } }>(
    '/v1/training-runs/:id',
    { schema: { tags, summary: 'One training run', params: idParams, response: ok } },
    async (request) => known(request.params.id),
  );

  app.post<{
    Body: {
      model: string;
      kind: 'unet' | 'classifier';
      dataset?: string;
      dataset_version?: string;
      params?: object;
    };
  }>(
    '/v1/admin/training-runs',
    {
      onRequest: admin,
      schema: {
        tags,
        summary: 'Record the start of a training run (segserve train does)',
        security: [{ adminKey: [] }],
        body: {
          type: 'object',
          required: ['model', 'kind'],
          additionalProperties: false,
          properties: {
            model: { type: 'string', minLength: 1, maxLength: 128 },
            kind: { type: 'string', enum: ['unet', 'classifier'] },
            dataset: { type: 'string', maxLength: 256 },
            dataset_version: { type: 'string', maxLength: 128 },
            params: object,
          },
        },
        response: { 201: run, ...ok },
      },
    },
    async (request, reply) => {
      const { model, kind, dataset, dataset_version: datasetVersion, params } = request.body;
      const id = await (await runs()).start({ model, kind, dataset, datasetVersion, params: { ...params } });
      return reply.code(201).send(await known(id));
    },
  );

  app.post<{ Params: { id: string }; Body: Record<string, unknown> }>(
    '/v1/admin/training-runs/:id/epochs',
    {
      onRequest: admin,
      schema: {
        tags,
        summary: "Append an epoch's metrics",
        security: [{ adminKey: [] }],
        params: idParams,
        body: object,
        response: ok,
      },
    },
    async (request) => {
      await known(request.params.id);
      await (await runs()).epoch(request.params.id, request.body);
      return { ok: true };
    },
  );

  app.post<{
    Params: { id: string };
    Body: {
      state: 'succeeded' | 'failed';
      metrics?: Record<string, unknown>;
      code_version?: string;
      error?: string;
      produced?: { version: number; gate?: { accepted: boolean; reason?: string } };
    };
  }>(
    '/v1/admin/training-runs/:id/finish',
    {
      onRequest: admin,
      schema: {
        tags,
        summary: 'Record how a training run ended, and the version it produced',
        security: [{ adminKey: [] }],
        params: idParams,
        body: {
          type: 'object',
          required: ['state'],
          additionalProperties: false,
          properties: {
            state: { type: 'string', enum: ['succeeded', 'failed'] },
            metrics: object,
            code_version: { type: 'string', maxLength: 256 },
            error: { type: 'string', maxLength: 4000 },
            produced: {
              type: 'object',
              required: ['version'],
              additionalProperties: false,
              properties: {
                version: { type: 'integer', minimum: 1 },
                gate: {
                  type: 'object',
                  required: ['accepted'],
                  additionalProperties: false,
                  properties: { accepted: { type: 'boolean' }, reason: { type: 'string', maxLength: 2000 } },
                },
              },
            },
          },
        },
        response: ok,
      },
    },
    async (request) => {
      const { id } = request.params;
      await known(id);
      const store = await runs();
      const body = request.body;
      if (body.state === 'succeeded')
        await store.succeeded(id, { metrics: body.metrics, codeVersion: body.code_version });
      else await store.failed(id, body.error ?? 'failed');
      if (body.produced) await store.produced(id, body.produced);
      return known(id);
    },
  );
};
