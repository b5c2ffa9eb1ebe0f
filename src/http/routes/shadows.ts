/**
 * Shadow traffic (src/monitoring/shadow), public like /v1/monitor: what each endpoint's shadow variants made of
 * the requests copied to them, the comparisons that agree least, and each kept comparison's image and both
 * answers' masks as PNG (for side by side views). Read from memory: nothing here runs a model.
 */
import type { FastifyPluginAsync } from 'fastify';
import type { ComparisonPart, ShadowTraffic } from '../../monitoring/shadow/index.js';
import type { EndpointShadowsJson, ShadowListJson } from '../../monitoring/shadow/wire-types.js';
import { errorResponses } from '../schemas.js';

export interface ShadowRouteOptions {
  shadows: ShadowTraffic;
}

const tags = ['monitoring'];
const number = { type: 'number' } as const;
const integer = { type: 'integer' } as const;
const string = { type: 'string' } as const;
const nullableNumber = { type: 'number', nullable: true } as const;
const count = { ...integer, minimum: 0 } as const;

const requests = {
  type: 'object',
  description: 'Requests of the endpoint for this shadow, by outcome.',
  required: ['compared', 'dropped', 'failed', 'not_sampled'],
  properties: { compared: count, dropped: count, failed: count, not_sampled: count },
} as const;

const drops = {
  type: 'object',
  description:
    'Why sampled copies were dropped: queue_full (the shadow is slower than its traffic), busy (its model had no ' +
    'free worker: live traffic comes first), not_comparable (raw tensors, no image).',
  required: ['queue_full', 'busy', 'not_comparable'],
  properties: { queue_full: count, busy: count, not_comparable: count },
} as const;

const classMapDetail = {
  type: 'object',
  required: ['kind', 'pixel_agreement', 'classes'],
  properties: {
    kind: { type: 'string', enum: ['class-map'] },
    pixel_agreement: number,
    classes: {
      type: 'array',
      items: {
        type: 'object',
        required: ['label', 'class_id', 'served_pixels', 'shadow_pixels', 'iou', 'background'],
        properties: {
          label: string,
          class_id: integer,
          served_pixels: integer,
          shadow_pixels: integer,
          iou: number,
          background: { type: 'boolean' },
        },
      },
    },
  },
} as const;

const instanceDetail = {
  type: 'object',
  required: [
    'kind',
    'served_count',
    'shadow_count',
    'count_difference',
    'matched',
    'mean_matched_iou',
    'class_agreement',
    'f1',
    'matches',
    'unmatched_served',
    'unmatched_shadow',
  ],
  properties: {
    kind: { type: 'string', enum: ['instances'] },
    served_count: integer,
    shadow_count: integer,
    count_difference: integer,
    matched: integer,
    mean_matched_iou: nullableNumber,
    class_agreement: nullableNumber,
    f1: number,
    matches: {
      type: 'array',
      items: {
        type: 'object',
        required: ['served', 'shadow', 'iou'],
        properties: { served: string, shadow: string, iou: number },
      },
    },
    unmatched_served: { type: 'array', items: string },
    unmatched_shadow: { type: 'array', items: string },
  },
} as const;

const comparison = {
  type: 'object',
  required: ['id', 'at', 'request_id', 'agreement', 'served', 'latency_ms', 'image', 'detail', 'links'],
  properties: {
    id: string,
    at: { ...integer, description: 'Epoch milliseconds when the served answer was done.' },
    request_id: { type: 'string', nullable: true },
    agreement: number,
    served: {
      type: 'object',
      description: 'What answered the client.',
      required: ['model', 'version', 'variant'],
      properties: { model: string, version: integer, variant: string },
    },
    latency_ms: {
      type: 'object',
      required: ['served', 'shadow'],
      properties: { served: number, shadow: number },
    },
    image: {
      type: 'object',
      required: ['width', 'height', 'format'],
      properties: { width: integer, height: integer, format: string },
    },
    detail: { oneOf: [classMapDetail, instanceDetail] },
    links: {
      type: 'object',
      description:
        'The image, and each answer as a mask PNG of the image size (transparent where nothing was found).',
      required: ['image', 'served', 'shadow'],
      properties: { image: string, served: string, shadow: string },
    },
  },
} as const;

const variant = {
  type: 'object',
  required: [
    'variant',
    'model',
    'version',
    'sample_rate',
    'task',
    'requests',
    'dropped_by_reason',
    'queue',
    'agreement',
    'instances',
    'latency_ms',
    'disagreements',
  ],
  properties: {
    variant: string,
    model: string,
    version: integer,
    sample_rate: number,
    task: { type: 'string', nullable: true, enum: ['instance', 'semantic', 'binary', null] },
    requests,
    dropped_by_reason: drops,
    queue: {
      type: 'object',
      description: 'Copies waiting for the shadow now, and how many may wait before more are dropped.',
      required: ['depth', 'capacity'],
      properties: { depth: integer, capacity: integer },
    },
    agreement: {
      type: 'object',
      description:
        'Agreement of the compared requests (0..1): mean IoU over the classes present (semantic, binary), ' +
        'panoptic quality of the instances matched by mask IoU (instance).',
      required: ['mean', 'min', 'histogram'],
      properties: {
        mean: nullableNumber,
        min: nullableNumber,
        histogram: {
          type: 'object',
          description: 'counts[i]: agreements in [edges[i], edges[i + 1]), the last bin including 1.',
          required: ['edges', 'counts'],
          properties: {
            edges: { type: 'array', items: number },
            counts: { type: 'array', items: integer },
          },
        },
      },
    },
    instances: {
      type: 'object',
      nullable: true,
      description: 'Instance models: means over the compared requests.',
      required: ['mean_matched_iou', 'class_agreement', 'mean_count_difference'],
      properties: {
        mean_matched_iou: nullableNumber,
        class_agreement: nullableNumber,
        mean_count_difference: number,
      },
    },
    latency_ms: {
      type: 'object',
      description:
        'Mean ms per compared request of each side (decode to postprocess; queueing and encoding left out), and of shadow - served.',
      required: ['served', 'shadow', 'difference'],
      properties: { served: nullableNumber, shadow: nullableNumber, difference: nullableNumber },
    },
    disagreements: {
      type: 'array',
      description: 'The comparisons that agree least (kept in memory, bounded), least first.',
      items: comparison,
    },
  },
} as const;

const endpointShadows = {
  type: 'object',
  required: ['endpoint', 'variants'],
  properties: { endpoint: string, variants: { type: 'array', items: variant } },
} as const;

const NAME = { type: 'string', minLength: 1, maxLength: 128 } as const;

export const shadowRoutes: FastifyPluginAsync<ShadowRouteOptions> = async (app, { shadows }) => {
  app.get(
    '/v1/shadows',
    {
      logLevel: 'warn',
      schema: {
        tags,
        summary: 'Shadow traffic of every endpoint',
        description:
          'The figures of `GET /v1/endpoints/{name}/shadows` for every endpoint that has shadow variants.',
        response: {
          200: {
            type: 'object',
            required: ['endpoints'],
            properties: { endpoints: { type: 'array', items: endpointShadows } },
          },
          ...errorResponses,
        },
      },
    },
    async (): Promise<ShadowListJson> => shadows.list(),
  );

  app.get<{ Params: { endpoint: string } }>(
    '/v1/endpoints/:endpoint/shadows',
    {
      logLevel: 'warn',
      schema: {
        tags,
        summary: "How an endpoint's shadow variants agree with its served answers",
        description:
          'Per shadow variant: requests compared, dropped, failed and not sampled; the distribution and mean of ' +
          'the agreement; the latency difference; and the requests that disagree most, each with links to its ' +
          'image and both masks. Figures are kept in memory since the start of the server (an endpoint without ' +
          'shadows answers an empty list).',
        params: { type: 'object', required: ['endpoint'], properties: { endpoint: NAME } },
        response: { 200: endpointShadows, ...errorResponses },
      },
    },
    async (request): Promise<EndpointShadowsJson> => shadows.summary(request.params.endpoint),
  );

  app.get<{ Params: { endpoint: string; id: string; part: ComparisonPart } }>(
    '/v1/endpoints/:endpoint/shadows/comparisons/:id/:part',
    {
      schema: {
        tags,
        summary: "A kept comparison's image, or one side's masks as PNG",
        description:
          '`image`: the image as it was sent; `served`, `shadow`: that answer as a PNG of the image size, ' +
          'transparent where nothing was found. Instances: a matched pair has the same colour on both sides, an ' +
          'instance without a match is red; class maps: one colour per class. 404 SHADOW_COMPARISON_NOT_FOUND ' +
          'once the comparison is no longer kept.',
        params: {
          type: 'object',
          required: ['endpoint', 'id', 'part'],
          properties: {
            endpoint: NAME,
            id: { type: 'string', minLength: 1, maxLength: 64 },
            part: { type: 'string', enum: ['image', 'served', 'shadow'] },
          },
        },
        response: {
          200: {
            description: 'The image (JPEG, PNG, WebP...) or a mask PNG.',
            content: { 'image/*': { schema: { type: 'string', format: 'binary' } } },
          },
          ...errorResponses,
        },
      },
    },
    async (request, reply) => {
      const { endpoint, id, part } = request.params;
      const { contentType, body } = await shadows.part(endpoint, id, part);
      // A kept comparison never changes; it only goes away.
      return reply.type(contentType).header('cache-control', 'private, max-age=3600').send(body);
    },
  );
};
