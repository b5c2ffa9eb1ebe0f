/**
 * The model lifecycle over HTTP. Admin routes (the admin key required, admin-auth.ts): point an alias at a
 * version (`stable` through the promotion gate), remove one, roll one back. And `GET /v1/models/{m}/history`,
 * open to read like the rest of /v1/models: aliases, evaluations and what happened to each version, for the
 * models page of the UI.
 */
import type { FastifyPluginAsync } from 'fastify';
import { SegserveError } from '../../errors.js';
import type { AliasTable } from '../../lifecycle/aliases.js';
import type { ModelLifecycle } from '../../lifecycle/lifecycle.js';
import { type AliasRecord, listAliases, listEvaluations, modelHistory } from '../../lifecycle/store.js';
import type { AliasChangeJson, AliasJson, ModelHistoryJson } from '../../lifecycle/wire-types.js';
import { ALIAS_NAME } from '../../models/index.js';
import type { InferenceService } from '../../serving/service.js';
import type { StorageAccess } from '../../storage/index.js';
import type { AdminKeys } from '../admin-auth.js';
import { adminActorOf, decorateAdminActor, requireAdmin } from '../admin-auth.js';
import { errorResponses } from '../schemas.js';

export interface AdminModelRouteOptions {
  service: InferenceService;
  lifecycle: ModelLifecycle;
  aliases: AliasTable;
  stores: StorageAccess;
  /** Whether the database already exists: without one there is no history yet, and reading it opens none. */
  hasDatabase: () => boolean;
  adminKeys?: AdminKeys;
}

const modelParam = { type: 'string', maxLength: 128 } as const;
const aliasParam = { type: 'string', pattern: ALIAS_NAME.source } as const;

function aliasJson(record: AliasRecord): AliasJson {
  return {
    alias: record.alias,
    version: record.version,
    previous_version: record.previousVersion,
    updated_at: record.updatedAt,
    updated_by: record.updatedBy,
  };
}

export const adminModelRoutes: FastifyPluginAsync<AdminModelRouteOptions> = async (app, options) => {
  const { service, lifecycle } = options;
  decorateAdminActor(app);
  const admin = requireAdmin(options.adminKeys);
  const knownModel = (model: string) => {
    if (!service.repository.get(model)) throw new SegserveError('MODEL_NOT_FOUND', { model });
  };

  app.put<{ Params: { model: string; alias: string }; Body: { version: number; force?: boolean } }>(
    '/v1/admin/models/:model/aliases/:alias',
    {
      onRequest: admin,
      schema: {
        tags: ['lifecycle'],
        summary: 'Point an alias at a version; moving `stable` is a promotion through the evaluation gate',
        security: [{ adminKey: [] }],
        params: {
          type: 'object',
          required: ['model', 'alias'],
          properties: { model: modelParam, alias: aliasParam },
        },
        body: {
          type: 'object',
          required: ['version'],
          additionalProperties: false,
          properties: {
            version: { type: 'integer', minimum: 1, maximum: 999_999_999 },
            force: {
              type: 'boolean',
              default: false,
              description: 'Move `stable` without the evaluation gate (recorded as forced in the history).',
            },
          },
        },
        response: errorResponses,
      },
    },
    async (request): Promise<AliasChangeJson> => {
      const { model, alias } = request.params;
      knownModel(model);
      const change = await lifecycle.setAlias(model, alias, request.body.version, adminActorOf(request), {
        force: request.body.force,
      });
      return { model, ...aliasJson(change.alias), ...(change.gate ? { gate: change.gate } : {}) };
    },
  );

  app.delete<{ Params: { model: string; alias: string } }>(
    '/v1/admin/models/:model/aliases/:alias',
    {
      onRequest: admin,
      schema: {
        tags: ['lifecycle'],
        summary: 'Remove an alias (requests naming it are then refused with ALIAS_NOT_FOUND)',
        security: [{ adminKey: [] }],
        params: {
          type: 'object',
          required: ['model', 'alias'],
          properties: { model: modelParam, alias: aliasParam },
        },
        response: errorResponses,
      },
    },
    async (request, reply) => {
      knownModel(request.params.model);
      await lifecycle.removeAlias(request.params.model, request.params.alias, adminActorOf(request));
      return reply.code(204).send();
    },
  );

  app.post<{ Params: { model: string }; Body: { alias?: string } | undefined }>(
    '/v1/admin/models/:model/rollback',
    {
      onRequest: admin,
      schema: {
        tags: ['lifecycle'],
        summary: 'Put `stable` (or the given alias) back where it pointed before its last change',
        security: [{ adminKey: [] }],
        params: { type: 'object', required: ['model'], properties: { model: modelParam } },
        body: {
          type: 'object',
          additionalProperties: false,
          properties: { alias: { ...aliasParam, default: 'stable' } },
        },
        response: errorResponses,
      },
    },
    async (request): Promise<AliasChangeJson> => {
      const { model } = request.params;
      const record = await lifecycle.rollback(model, adminActorOf(request), request.body?.alias);
      return { model, ...aliasJson(record) };
    },
  );

  app.get<{ Params: { model: string } }>(
    '/v1/models/:model/history',
    {
      schema: {
        tags: ['lifecycle'],
        summary: "A model's aliases, evaluations and version history (uploads, promotions, rollbacks)",
        params: { type: 'object', required: ['model'], properties: { model: modelParam } },
        response: errorResponses,
      },
    },
    async (request): Promise<ModelHistoryJson> => {
      const { model } = request.params;
      knownModel(model);
      if (!options.hasDatabase()) return { model, aliases: [], evaluations: [], history: [] };
      const db = await options.stores.database();
      const [aliases, evaluations, history] = await Promise.all([
        listAliases(db, model),
        listEvaluations(db, model),
        modelHistory(db, model),
      ]);
      return {
        model,
        aliases: aliases.map(aliasJson),
        evaluations: evaluations.map(({ createdAt, model: _m, ...rest }) => ({
          ...rest,
          created_at: createdAt,
        })),
        history: history.map(({ model: _m, ...rest }) => rest),
      };
    },
  );
};
