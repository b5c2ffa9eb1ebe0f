/**
 * The routes of the common segmentation services that take JSON parameters rather than an image:
 * `POST /predict/url` (`{"url"}`, answers the mask PNG) and `POST /predict/batch` (`{"paths"}` inside the batch
 * folder, or `{"urls"}`; one status per item, so one bad item does not fail the rest).
 */
import type { FastifyPluginAsync } from 'fastify';
import { SegserveError } from '../../errors.js';
import { checkMaskAnswer } from '../../serving/encode.js';
import type { Ticket } from '../../serving/service.js';
import type { SegmentationJson } from '../../serving/types.js';
import { readBatchFile } from '../../sources/files.js';
import {
  admitBeforeBody,
  type HttpContext,
  namedTarget,
  requestOrigin,
  segmentForRequest,
  VARIANT_HEADER,
} from '../context.js';
import { toSegserveError } from '../error-handler.js';
import { refuseMaskAnswer, sendSegmentation } from '../respond.js';
import {
  binaryPng,
  errorResponses,
  MASK_FORMAT_QUERY,
  type MaskFormatQuery,
  MODEL_QUERY,
  ref,
  segmentationJsonOptions,
} from '../schemas.js';

const url = { type: 'string', minLength: 1, maxLength: 4096 } as const;

interface BatchItem {
  index: number;
  input: string;
  status: 'ok' | 'error';
  result?: SegmentationJson;
  error?: ReturnType<SegserveError['toJSON']>;
}

/** `task` over `items` with at most `limit` at once, results in item order. */
async function mapLimited<T, R>(items: T[], limit: number, task: (item: T, index: number) => Promise<R>) {
  const results: R[] = new Array(items.length);
  let next = 0;
  const lanes = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await task(items[index], index);
    }
  });
  await Promise.all(lanes);
  return results;
}

export const jsonRoutes: FastifyPluginAsync<HttpContext> = async (app, context) => {
  const { limits } = context;

  app.post<{ Body: { url: string } }>(
    '/predict/url',
    {
      config: { inference: true },
      onRequest: admitBeforeBody(context.service, 'predict/url'),
      schema: {
        tags: ['compatible'],
        summary: 'Segment the image at a URL (fetched by the server); answers the mask PNG',
        querystring: { type: 'object', properties: MODEL_QUERY },
        body: { type: 'object', required: ['url'], properties: { url } },
        response: { 200: binaryPng, ...errorResponses },
      },
    },
    async (request, reply) => {
      refuseMaskAnswer(request, 'mask');
      const bytes = await context.fetcher.fetch(request.body.url);
      return sendSegmentation(
        context.service,
        reply,
        await segmentForRequest(context, request, reply, bytes),
        'mask',
        'none',
      );
    },
  );

  app.post<{
    Body: { paths?: string[]; urls?: string[] };
    Querystring: MaskFormatQuery;
  }>(
    '/predict/batch',
    {
      config: { inference: true },
      schema: {
        tags: ['compatible'],
        summary: `Segment up to ${limits.batchItems} images named by path (inside the batch folder) or URL`,
        querystring: { type: 'object', properties: { ...MODEL_QUERY, ...MASK_FORMAT_QUERY } },
        body: {
          type: 'object',
          properties: {
            paths: {
              type: 'array',
              minItems: 1,
              items: { type: 'string', minLength: 1, maxLength: 1024 },
              description: 'Paths relative to the server batch folder.',
            },
            urls: { type: 'array', minItems: 1, items: url },
          },
          oneOf: [{ required: ['paths'] }, { required: ['urls'] }],
        },
        response: {
          200: {
            type: 'object',
            required: ['model', 'version', 'variant', 'succeeded', 'failed', 'results'],
            properties: {
              model: { type: 'string' },
              version: { type: 'integer' },
              variant: { type: 'string' },
              succeeded: { type: 'integer' },
              failed: { type: 'integer' },
              results: {
                type: 'array',
                items: {
                  type: 'object',
                  required: ['index', 'input', 'status'],
                  properties: {
                    index: { type: 'integer' },
                    input: { type: 'string' },
                    status: { type: 'string', enum: ['ok', 'error'] },
                    result: ref('Segmentation'),
                    error: {
                      type: 'object',
                      properties: {
                        code: { type: 'string' },
                        message: { type: 'string' },
                        details: { type: 'object', additionalProperties: true },
                      },
                    },
                  },
                },
              },
            },
          },
          ...errorResponses,
        },
      },
    },
    async (request, reply) => {
      // One version (and traffic variant) for every item; each item is admitted on its own, as if sent alone.
      const origin = requestOrigin(request, 'predict/batch');
      const route = context.service.route(namedTarget(request), origin);
      const { loaded } = route;
      if (request.query.mask_format === 'png')
        checkMaskAnswer(loaded.name, loaded.config.task, 'mask_format=png');
      reply.header(VARIANT_HEADER, route.variant);
      const { paths, urls } = request.body;
      const inputs = paths ?? urls ?? [];
      if (inputs.length > limits.batchItems) {
        throw new SegserveError('BATCH_TOO_LARGE', { count: inputs.length, limit: limits.batchItems });
      }
      const root = context.batchRoot;
      if (paths && root === undefined) {
        throw new SegserveError('PATH_FORBIDDEN', {
          path: paths[0],
          reason: 'this server has no batch folder (segserve serve --batch-root)',
        });
      }
      const read = (input: string) =>
        paths && root !== undefined
          ? readBatchFile(root, input, limits.imageBodyBytes)
          : context.fetcher.fetch(input);
      // One more than the workers keeps decoding overlapped with inference without flooding the queue.
      const results = await mapLimited(
        inputs,
        loaded.config.instances + 1,
        async (input, index): Promise<BatchItem> => {
          let ticket: Ticket | undefined;
          try {
            ticket = context.service.admitRoute(route, origin);
            const bytes = await read(input);
            const seg = await segmentForRequest(context, request, reply, bytes, false, ticket);
            return {
              index,
              input,
              status: 'ok',
              result: await context.service.encode(seg, {
                kind: 'json',
                options: segmentationJsonOptions(request.query),
              }),
            };
          } catch (error) {
            const mapped = toSegserveError(error, request, limits);
            if (mapped.status >= 500) request.log.error({ err: error, index }, mapped.message);
            return { index, input, status: 'error', error: mapped.toJSON() };
          } finally {
            ticket?.release();
          }
        },
      );
      const failed = results.filter((r) => r.status === 'error').length;
      return {
        model: loaded.name,
        version: loaded.version,
        variant: route.variant,
        succeeded: results.length - failed,
        failed,
        results,
      };
    },
  );
};
