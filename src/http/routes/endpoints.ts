/**
 * Endpoints and their traffic policies over HTTP. Admin routes (the admin key required, admin-auth.ts): put a
 * policy in force for a name, remove it. And, open to read like /v1/models: `GET /v1/endpoints` (every policy,
 * expanded, with the version each variant serves now) and `GET /v1/endpoints/{e}` (its policy and who changed
 * what, when).
 */
import type { SwaggerTransform } from '@fastify/swagger';
import type { FastifyPluginAsync } from 'fastify';
import type { TrafficControl } from '../../lifecycle/traffic.js';
import { POLICY_DOCUMENT_SCHEMA } from '../../lifecycle/traffic-policy.js';
import type { EndpointHistoryJson, EndpointJson, EndpointListJson } from '../../lifecycle/wire-types.js';
import type { AdminKeys } from '../admin-auth.js';
import { adminActorOf, decorateAdminActor, requireAdmin } from '../admin-auth.js';
import { errorResponses } from '../schemas.js';

export interface EndpointRouteOptions {
  traffic: TrafficControl;
  adminKeys?: AdminKeys;
}

const endpointParam = { type: 'string', maxLength: 128 } as const;
const params = { type: 'object', required: ['endpoint'], properties: { endpoint: endpointParam } } as const;

/** The policy is validated in code (every problem with its path, TRAFFIC_POLICY_INVALID); its schema is documented. */
const documentPolicyBody: SwaggerTransform = ({ schema, url }) => ({
  schema: { ...schema, body: POLICY_DOCUMENT_SCHEMA },
  url,
});

export const endpointRoutes: FastifyPluginAsync<EndpointRouteOptions> = async (app, options) => {
  const { traffic } = options;
  decorateAdminActor(app);
  const admin = requireAdmin(options.adminKeys);

  app.put<{ Params: { endpoint: string }; Body: unknown }>(
    '/v1/admin/endpoints/:endpoint/traffic',
    {
      onRequest: admin,
      config: { swaggerTransform: documentPolicyBody },
      schema: {
        tags: ['traffic'],
        summary:
          "Put a traffic policy in force for a name: weighted variants or a canary, sticky assignment, shadows; applies to this replica's next request",
        security: [{ adminKey: [] }],
        params,
        response: errorResponses,
      },
    },
    async (request): Promise<EndpointJson> => {
      const { endpoint } = request.params;
      const record = await traffic.setPolicy(endpoint, request.body, adminActorOf(request));
      request.log.info({ endpoint, actor: record.updatedBy, policy: record.policy }, 'traffic policy set');
      return { endpoint, ...traffic.describe(record) };
    },
  );

  app.delete<{ Params: { endpoint: string } }>(
    '/v1/admin/endpoints/:endpoint/traffic',
    {
      onRequest: admin,
      schema: {
        tags: ['traffic'],
        summary: 'Remove the traffic policy of a name (requests naming it then go to the model of that name)',
        security: [{ adminKey: [] }],
        params,
        response: errorResponses,
      },
    },
    async (request, reply) => {
      const { endpoint } = request.params;
      await traffic.removePolicy(endpoint, adminActorOf(request));
      request.log.info({ endpoint, actor: request.adminActor }, 'traffic policy removed');
      return reply.code(204).send();
    },
  );

  app.get(
    '/v1/endpoints',
    {
      schema: {
        tags: ['traffic'],
        summary: 'Every traffic policy, expanded, with the version each variant serves now',
        response: errorResponses,
      },
    },
    async (): Promise<EndpointListJson> => ({ endpoints: await traffic.list() }),
  );

  app.get<{ Params: { endpoint: string } }>(
    '/v1/endpoints/:endpoint',
    {
      schema: {
        tags: ['traffic'],
        summary: "An endpoint's traffic policy (null once removed) and its history: who changed what, when",
        params,
        response: errorResponses,
      },
    },
    async (request): Promise<EndpointHistoryJson> => {
      const { endpoint } = request.params;
      const { traffic: current, history } = await traffic.history(endpoint);
      return {
        endpoint,
        traffic: current,
        history: history.map(({ endpoint: _e, ...entry }) => entry),
      };
    },
  );
};
