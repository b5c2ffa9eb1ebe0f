/**
 * `GET /v1/retraining/triggers`: the retraining triggers that fired (learning/retraining), newest first, each
 * with its reason, the dataset version it snapshotted and every hook's outcome.
 */
import type { FastifyPluginAsync } from 'fastify';
import type { RetrainingTriggers, TriggerRecord } from '../../learning/retraining/triggers.js';
import type { RetrainingTriggerJson, RetrainingTriggerListJson } from '../../learning/wire-types.js';
import { errorResponses } from '../schemas.js';

export interface RetrainingRouteOptions {
  retraining: RetrainingTriggers;
}

const nullableString = { type: 'string', nullable: true } as const;

const hookOutcome = {
  type: 'object',
  required: ['kind', 'target', 'ok', 'attempts'],
  properties: {
    kind: { type: 'string', enum: ['webhook', 'command', 'job'] },
    target: { type: 'string', description: 'The URL without its query, the program, or the queue.' },
    ok: { type: 'boolean' },
    attempts: { type: 'integer' },
    status: { type: 'integer', description: 'HTTP status or exit code of the last attempt.' },
    error: { type: 'string' },
  },
} as const;

const trigger = {
  type: 'object',
  required: [
    'id',
    'model',
    'dataset',
    'dataset_version',
    'reason',
    'state',
    'hooks',
    'created_at',
    'finished_at',
  ],
  properties: {
    id: { type: 'string' },
    model: { type: 'string' },
    dataset: { type: 'string' },
    dataset_version: {
      ...nullableString,
      description: 'The version the trigger snapshotted; null if it failed first.',
    },
    reason: { type: 'string', description: '`drift`, or `new_labels: N since the last version`.' },
    state: { type: 'string', enum: ['pending', 'succeeded', 'failed'] },
    hooks: { type: 'array', items: hookOutcome },
    error: { type: 'string', description: 'Why the trigger failed before its hooks (the snapshot).' },
    created_at: { type: 'string', format: 'date-time' },
    finished_at: { ...nullableString, format: 'date-time' },
  },
} as const;

function toJson(record: TriggerRecord): RetrainingTriggerJson {
  const { datasetVersion, createdAt, finishedAt, ...rest } = record;
  return { ...rest, dataset_version: datasetVersion, created_at: createdAt, finished_at: finishedAt };
}

export const retrainingRoutes: FastifyPluginAsync<RetrainingRouteOptions> = async (app, { retraining }) => {
  app.get<{ Querystring: { model?: string; limit?: number } }>(
    '/v1/retraining/triggers',
    {
      schema: {
        tags: ['learning'],
        summary: 'Retraining triggers that fired, newest first',
        querystring: {
          type: 'object',
          properties: {
            model: { type: 'string', maxLength: 128, description: 'Only this model.' },
            limit: { type: 'integer', minimum: 1, maximum: 500, default: 50 },
          },
          additionalProperties: false,
        },
        response: {
          200: {
            type: 'object',
            required: ['triggers'],
            properties: { triggers: { type: 'array', items: trigger } },
          },
          ...errorResponses,
        },
      },
    },
    async (request): Promise<RetrainingTriggerListJson> => {
      const { model, limit } = request.query;
      return { triggers: (await retraining.list(model, limit)).map(toJson) };
    },
  );
};
