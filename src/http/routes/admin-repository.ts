/**
 * Registry operations over HTTP, segserve's own admin routes (the admin key required, admin-auth.ts):
 *
 *   POST /v1/admin/models/{m}/load                    load as the version policy says, or apply changes
 *   POST /v1/admin/models/{m}/unload                  unload every version (until loaded again)
 *   POST /v1/admin/models/{m}/reload                  load every version afresh, swapped in one by one
 *   POST /v1/admin/models/{m}/versions/{v}/load       load one version and keep it, whatever the policy
 *   POST /v1/admin/models/{m}/versions/{v}/unload     unload one version (until loaded again)
 *   POST /v1/admin/repository/rescan                  apply what changed on disk now
 *
 * Every answer lists what changed. A load or reload that leaves a version failed answers
 * REPOSITORY_LOAD_FAILED (what was loaded before keeps serving); a rescan reports failures in its changes. An
 * unload answers at once: the version stops taking requests, and its runtime closes once those in flight end.
 */
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import { SegserveError } from '../../errors.js';
import type { ModelStatus, RepositoryChange } from '../../models/index.js';
import { type InferenceService, parseVersion } from '../../serving/service.js';
import { type AdminKeys, decorateAdminActor, requireAdmin } from '../admin-auth.js';
import { checkLoaded } from '../repository-ops.js';
import { errorResponses, VERSION_PARAM } from '../schemas.js';

export interface AdminRepositoryRouteOptions {
  service: InferenceService;
  adminKeys?: AdminKeys;
}

export interface RepositoryOperationJson {
  /** The model operated on (absent for a rescan). */
  model?: string;
  changes: RepositoryChange[];
  /** The model's status afterwards; absent once it is unloaded. */
  status?: ModelStatus;
}

const modelParam = { type: 'string', maxLength: 128 } as const;

const change = {
  type: 'object',
  required: ['model', 'change'],
  properties: {
    model: { type: 'string' },
    version: { type: 'integer' },
    change: {
      type: 'string',
      enum: [
        'loaded',
        'reloaded',
        'unloaded',
        'failed',
        'reload-failed',
        'model-failed',
        'model-reload-failed',
        'model-unloaded',
      ],
    },
    reason: { type: 'string' },
  },
} as const;

const operationAnswer = {
  type: 'object',
  required: ['changes'],
  properties: {
    model: { type: 'string' },
    changes: { type: 'array', items: change },
    status: { type: 'object', additionalProperties: true },
  },
} as const;

export const adminRepositoryRoutes: FastifyPluginAsync<AdminRepositoryRouteOptions> = async (
  app,
  options,
) => {
  const { repository } = options.service;
  decorateAdminActor(app);
  const admin = requireAdmin(options.adminKeys);
  const schema = (summary: string, withVersion = false) => ({
    tags: ['models'],
    summary,
    security: [{ adminKey: [] }],
    params: {
      type: 'object',
      required: withVersion ? ['model', 'version'] : ['model'],
      properties: withVersion ? { model: modelParam, version: VERSION_PARAM } : { model: modelParam },
    },
    response: { 200: operationAnswer, ...errorResponses },
  });
  const logged = (request: FastifyRequest, what: string, answer: RepositoryOperationJson) => {
    request.log.info({ ...answer, status: undefined, actor: request.adminActor }, what);
    return answer;
  };

  type ModelRoute = { Params: { model: string } };
  type VersionRoute = { Params: { model: string; version: string } };

  app.post<ModelRoute>(
    '/v1/admin/models/:model/load',
    { onRequest: admin, schema: schema('Load a model as its version policy says, or apply what changed') },
    async (request) => {
      const { model } = request.params;
      const changes = await repository.load(model);
      logged(request, 'model loaded', { model, changes });
      return { model, changes, status: checkLoaded(repository, model) };
    },
  );

  app.post<ModelRoute>(
    '/v1/admin/models/:model/reload',
    {
      onRequest: admin,
      schema: schema(
        'Load every version afresh; each swaps in once ready, a failed one keeps the old serving',
      ),
    },
    async (request) => {
      const { model } = request.params;
      const changes = await repository.reload(model);
      logged(request, 'model reloaded', { model, changes });
      return { model, changes, status: checkLoaded(repository, model) };
    },
  );

  app.post<ModelRoute>(
    '/v1/admin/models/:model/unload',
    {
      onRequest: admin,
      schema: schema('Unload every version; requests in flight finish first (until loaded again)'),
    },
    async (request) => {
      const { model } = request.params;
      const changes = await repository.unload(model);
      return logged(request, 'model unloaded', { model, changes });
    },
  );

  app.post<VersionRoute>(
    '/v1/admin/models/:model/versions/:version/load',
    {
      onRequest: admin,
      schema: schema('Load one version and keep it loaded whatever the version policy says', true),
    },
    async (request) => {
      const { model } = request.params;
      const version = parseVersion(request.params.version)!;
      const outcome = await repository.loadVersion(model, version);
      logged(request, 'model version loaded', { model, changes: outcome.changes });
      if (outcome.state === 'failed') {
        throw new SegserveError('REPOSITORY_LOAD_FAILED', {
          model: outcome.model,
          reason: `version ${version}: ${outcome.error.message}`,
        });
      }
      return { model: outcome.model, changes: outcome.changes, status: repository.find(model) };
    },
  );

  app.post<VersionRoute>(
    '/v1/admin/models/:model/versions/:version/unload',
    {
      onRequest: admin,
      schema: schema('Unload one version; requests in flight finish first (until loaded again)', true),
    },
    async (request) => {
      const { model } = request.params;
      const version = parseVersion(request.params.version)!;
      const changes = await repository.unloadVersion(model, version);
      logged(request, 'model version unloaded', { model, changes });
      return { model, changes, status: repository.find(model) };
    },
  );

  app.post(
    '/v1/admin/repository/rescan',
    {
      onRequest: admin,
      schema: {
        tags: ['models'],
        summary:
          'Apply what changed in the repository folder now: new, removed and changed models and versions',
        security: [{ adminKey: [] }],
        response: { 200: operationAnswer, ...errorResponses },
      },
    },
    async (request) => {
      const changes = await repository.rescan();
      return logged(request, 'repository rescanned', { changes });
    },
  );
};
