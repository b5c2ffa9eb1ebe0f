/**
 * The routes that receive an image: the segmentation API (`POST /v1/models/{model}[/versions/{v}]/segment`) and
 * the routes existing clients of the common Flask/FastAPI services call (`/predict`, `/predict/upload`,
 * `/api/detect`). In this scope every body arrives as bytes (or as a multipart stream): what the bytes are is
 * decided by sniffing them in `readImage`, never by the declared content type.
 */
import multipart from '@fastify/multipart';
import type { SwaggerTransform } from '@fastify/swagger';
import type { FastifyPluginAsync } from 'fastify';
import { admitBeforeBody, type HttpContext, segmentForRequest } from '../context.js';
import { IMAGE_FIELDS, IMAGE_REQUEST_BODY, readImage } from '../image-input.js';
import {
  ANSWER_FORMATS,
  type AnswerFormat,
  answerFormat,
  describeSegmentation,
  refuseMaskAnswer,
  sendSegmentation,
} from '../respond.js';
import {
  binaryPng,
  errorResponses,
  MASK_FORMAT_QUERY,
  type MaskFormatQuery,
  MODEL_QUERY,
  ref,
  segmentationJsonOptions,
  VERSION_PARAM,
} from '../schemas.js';

/** The body forms are parsed by hand (see readImage), so they are documented here rather than validated. */
const documentImageBody: SwaggerTransform = ({ schema, url }) => ({
  schema: { ...schema, body: IMAGE_REQUEST_BODY },
  url,
});

const FORMAT_QUERY = {
  format: {
    type: 'string',
    enum: ANSWER_FORMATS,
    description:
      'json, the mask PNG or the overlay PNG. Default: by Accept (image/png gives the mask), else json.',
  },
} as const;

const segmentationAnswer = {
  200: {
    description: 'The segmentation as JSON, or the mask / overlay PNG (see format).',
    content: {
      'application/json': { schema: ref('Segmentation') },
      'image/png': { schema: { type: 'string', format: 'binary' } },
    },
  },
  ...errorResponses,
} as const;

type SegmentQuery = MaskFormatQuery & { format?: AnswerFormat };

const round2 = (value: number) => Math.round(value * 100) / 100;

export const imageRoutes: FastifyPluginAsync<HttpContext> = async (app, context) => {
  const { limits } = context;
  app.removeAllContentTypeParsers();
  app.addContentTypeParser(
    '*',
    { parseAs: 'buffer', bodyLimit: limits.imageBodyBytes },
    (_request, body, done) => done(null, body),
  );
  await app.register(multipart, {
    limits: {
      fileSize: limits.imageBodyBytes,
      files: limits.multipartFiles,
      fields: limits.multipartFields,
      fieldSize: limits.multipartFieldBytes,
      parts: limits.multipartParts,
    },
  });
  const imageRoute = {
    bodyLimit: limits.imageBodyBytes,
    config: { swaggerTransform: documentImageBody, inference: true },
  };

  const segmentRoute = (url: string, summary: string, params: Record<string, unknown>) =>
    app.post<{ Params: { model: string; version?: string }; Querystring: SegmentQuery }>(
      url,
      {
        ...imageRoute,
        onRequest: admitBeforeBody(context.service, 'v1'),
        schema: {
          tags: ['segmentation'],
          summary,
          params: { type: 'object', required: Object.keys(params), properties: params },
          querystring: { type: 'object', properties: { ...FORMAT_QUERY, ...MASK_FORMAT_QUERY } },
          response: segmentationAnswer,
        },
      },
      async (request, reply) => {
        const format = answerFormat(request.query.format, request.headers.accept);
        refuseMaskAnswer(request, format, request.query.mask_format);
        const bytes = await readImage(request, context);
        const seg = await segmentForRequest(context, request, reply, bytes, format === 'overlay');
        return sendSegmentation(context.service, reply, seg, format, segmentationJsonOptions(request.query));
      },
    );
  segmentRoute('/v1/models/:model/segment', 'Segment an image with the newest ready version of a model', {
    model: { type: 'string' },
  });
  segmentRoute(
    '/v1/models/:model/versions/:version/segment',
    'Segment an image with one version of a model',
    {
      model: { type: 'string' },
      version: VERSION_PARAM,
    },
  );

  app.post<{ Querystring: MaskFormatQuery }>(
    '/predict',
    {
      ...imageRoute,
      onRequest: admitBeforeBody(context.service, 'predict'),
      schema: {
        tags: ['compatible'],
        summary: 'Segment an image (multipart or raw body) with the default or named model; JSON answer',
        querystring: { type: 'object', properties: { ...MODEL_QUERY, ...MASK_FORMAT_QUERY } },
        response: { 200: ref('Segmentation'), ...errorResponses },
      },
    },
    async (request, reply) => {
      refuseMaskAnswer(request, 'json', request.query.mask_format);
      const seg = await segmentForRequest(context, request, reply, await readImage(request, context));
      return sendSegmentation(context.service, reply, seg, 'json', segmentationJsonOptions(request.query));
    },
  );

  app.post(
    '/predict/upload',
    {
      ...imageRoute,
      onRequest: admitBeforeBody(context.service, 'predict/upload'),
      schema: {
        tags: ['compatible'],
        summary: `Segment an uploaded image (multipart field ${IMAGE_FIELDS[0]}); answers the mask PNG`,
        querystring: { type: 'object', properties: MODEL_QUERY },
        response: { 200: binaryPng, ...errorResponses },
      },
    },
    async (request, reply) => {
      refuseMaskAnswer(request, 'mask');
      const seg = await segmentForRequest(context, request, reply, await readImage(request, context));
      return sendSegmentation(context.service, reply, seg, 'mask', 'none');
    },
  );

  app.post(
    '/api/detect',
    {
      ...imageRoute,
      // These clients expect boxes and instance masks: without a configured default, an instance model serves.
      onRequest: admitBeforeBody(context.service, 'api/detect', 'instance'),
      schema: {
        tags: ['compatible'],
        summary:
          'Detect objects (multipart field image): boxes [x1, y1, x2, y2], RLE masks, class ids, scores',
        querystring: { type: 'object', properties: MODEL_QUERY },
        response: {
          200: {
            type: 'object',
            required: ['boxes', 'masks', 'class_ids', 'scores', 'labels'],
            properties: {
              boxes: {
                type: 'array',
                description:
                  'One box per object as [x1, y1, x2, y2]: corners in pixels of the EXIF-oriented image ' +
                  '(unlike /v1, whose boxes are [x, y, width, height]).',
                items: { type: 'array', items: { type: 'number' }, minItems: 4, maxItems: 4 },
              },
              masks: { type: 'array', items: ref('Rle') },
              class_ids: { type: 'array', items: { type: 'integer' } },
              scores: { type: 'array', items: { type: 'number' } },
              labels: { type: 'array', items: { type: 'string' } },
            },
          },
          ...errorResponses,
        },
      },
    },
    async (request, reply) => {
      refuseMaskAnswer(request, 'coco');
      const seg = await segmentForRequest(context, request, reply, await readImage(request, context));
      describeSegmentation(reply, seg);
      // Class ids as the model numbers them (0-based), as these clients index their own label lists.
      const found = await context.service.encode(seg, {
        kind: 'coco',
        imageId: 0,
        fileName: '',
        categoryId: (_label, classId) => classId,
      });
      return {
        boxes: found.map(({ bbox: [x, y, w, h] }) => [x, y, round2(x + w), round2(y + h)]),
        masks: found.map((f) => f.segmentation),
        class_ids: found.map((f) => f.category_id),
        scores: found.map((f) => f.score),
        labels: found.map((f) => f.category_name),
      };
    },
  );
};
