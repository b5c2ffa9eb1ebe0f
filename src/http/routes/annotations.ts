/**
 * `/v1/annotations`: the annotation queue over HTTP (the logic is src/learning/annotations). Items are listed
 * most uncertain first; an annotator claims one (or the next), then labels, skips or rejects it while the claim
 * holds. Who acts comes from the `annotator` field or the `X-Annotator` header.
 */
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import { SegserveError } from '../../errors.js';
import {
  type AnnotationItemJson,
  type AnnotationListJson,
  type AnnotationQueue,
  type AnnotationSummaryJson,
  type ClaimNextJson,
  DEFAULT_PAGE_SIZE,
  type LabelBodyJson,
  type LabelSubmission,
  MAX_PAGE_SIZE,
  type PolygonSegmentInput,
  type RleSegmentInput,
  type SampleState,
  SKIP_PENALTY,
} from '../../learning/annotations/index.js';
import type { LabelDocument } from '../../learning/label-document.js';
import {
  ANNOTATION_ITEM,
  ANNOTATOR,
  ANNOTATOR_BODY,
  ID_PARAMS,
  LABEL_BODY,
  LABEL_DOCUMENT,
  SAMPLE_ID,
  SUMMARY,
} from '../annotation-schemas.js';
import { errorResponses } from '../schemas.js';

export interface AnnotationRouteOptions {
  queue: AnnotationQueue;
  /** Largest label body (a mask PNG in base64 or the RLE of a large image): the image body limit. */
  labelBodyBytes: number;
}

interface IdParams {
  id: string;
}

interface AnnotatorBody {
  annotator?: string;
}

const MODEL = {
  type: 'string',
  minLength: 1,
  maxLength: 128,
  description: 'The model whose queue it is.',
} as const;
const HEADER = 'x-annotator';
const ANNOTATOR_PATTERN = new RegExp(ANNOTATOR.pattern, 'u');

/** The annotator a request names, by field or header; INVALID_ARGUMENT when neither (or two different ones). */
function annotatorOf(request: FastifyRequest, field: string | undefined): string {
  const header = request.headers[HEADER];
  const fromHeader = typeof header === 'string' ? header.trim() : undefined;
  if (
    fromHeader !== undefined &&
    !(fromHeader.length <= ANNOTATOR.maxLength && ANNOTATOR_PATTERN.test(fromHeader))
  ) {
    throw new SegserveError('INVALID_ARGUMENT', {
      reason: `the X-Annotator header must be 1 to ${ANNOTATOR.maxLength} printable characters`,
    });
  }
  if (field !== undefined && fromHeader !== undefined && field !== fromHeader) {
    throw new SegserveError('INVALID_ARGUMENT', {
      reason: 'the annotator field and the X-Annotator header name different annotators',
    });
  }
  const annotator = field ?? fromHeader;
  if (annotator === undefined) {
    throw new SegserveError('INVALID_ARGUMENT', {
      reason: 'name the annotator: the annotator field of the body, or the X-Annotator header',
    });
  }
  return annotator;
}

function dateParam(name: string, text: string | undefined): Date | undefined {
  if (text === undefined) return undefined;
  const time = Date.parse(text);
  if (!/^\d{4}-\d{2}-\d{2}/.test(text) || Number.isNaN(time)) {
    throw new SegserveError('INVALID_ARGUMENT', {
      reason: `${name}: ${JSON.stringify(text.slice(0, 40))} is not an ISO 8601 time (2025-01-31T12:00:00Z)`,
    });
  }
  return new Date(time);
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** The body as the queue's submission; shapes the schema cannot say (which fields a format needs) are checked. */
function submissionOf(body: LabelBodyJson): LabelSubmission {
  const invalid = (reason: string): never => {
    throw new SegserveError('LABEL_INVALID', { reason });
  };
  switch (body.format) {
    case 'accept':
      return { format: 'accept' };
    case 'png': {
      const text = body.mask_png;
      if (text === undefined) return invalid('mask_png: format png needs the mask PNG, base64');
      if (text.length % 4 !== 0 || !BASE64.test(text)) return invalid('mask_png: not base64');
      return { format: 'png', png: Buffer.from(text, 'base64'), instances: body.instances };
    }
    case 'rle':
    case 'polygons': {
      const { format, segments } = body;
      if (segments === undefined) return invalid(`segments: format ${format} needs segments`);
      const field = format === 'rle' ? 'rle' : 'polygons';
      segments.forEach((segment, i) => {
        if (segment[field] === undefined) invalid(`segments.${i}.${field}: format ${format} needs it`);
      });
      return format === 'rle'
        ? { format, segments: segments as RleSegmentInput[] }
        : { format, segments: segments as PolygonSegmentInput[] };
    }
  }
}

/**
 * The label route validates its body itself (attachValidation): a fault in the label part (segments, instances,
 * mask_png) is LABEL_INVALID like every other fault of a label, a fault elsewhere INVALID_ARGUMENT.
 */
function bodyProblem(error: Error & { validation?: Array<{ instancePath?: string; message?: string }> }) {
  const first = error.validation?.[0];
  const path = first?.instancePath ?? '';
  const field = path.replace(/^\//, '').replaceAll('/', '.');
  const reason = `${field || 'body'}: ${first?.message ?? error.message}`;
  return /^\/(segments|instances|mask_png)(\/|$)/.test(path)
    ? new SegserveError('LABEL_INVALID', { reason })
    : new SegserveError('INVALID_ARGUMENT', { reason });
}

const tags = ['annotations'];
const item = { 200: ANNOTATION_ITEM, ...errorResponses };
const annotatorHeader = {
  type: 'object',
  properties: { [HEADER]: { ...ANNOTATOR, description: 'Who acts, instead of the annotator field.' } },
} as const;

export const annotationRoutes: FastifyPluginAsync<AnnotationRouteOptions> = async (app, options) => {
  const { queue } = options;

  app.get<{
    Querystring: {
      model: string;
      state?: SampleState;
      strategy?: string;
      class?: string;
      since?: string;
      until?: string;
      limit?: number;
      cursor?: string;
    };
  }>(
    '/v1/annotations',
    {
      schema: {
        tags,
        summary: "A model's annotation items, most uncertain first",
        description:
          'Sorted by priority (the uncertainty, less a step per skip), then id. Pages follow next_cursor; ' +
          'items added while paging never shift the pages still to come.',
        querystring: {
          type: 'object',
          required: ['model'],
          properties: {
            model: MODEL,
            state: { type: 'string', enum: ['queued', 'labelled', 'rejected'], default: 'queued' },
            strategy: {
              type: 'string',
              maxLength: 64,
              description: 'Only items this sampling strategy kept.',
            },
            class: {
              type: 'string',
              maxLength: 256,
              description: 'Only items whose prediction holds this class.',
            },
            since: { type: 'string', description: 'Only items predicted at or after this ISO 8601 time.' },
            until: { type: 'string', description: 'Only items predicted before this ISO 8601 time.' },
            limit: { type: 'integer', minimum: 1, maximum: MAX_PAGE_SIZE, default: DEFAULT_PAGE_SIZE },
            cursor: { type: 'string', maxLength: 512, description: 'next_cursor of the previous page.' },
          },
        },
        response: {
          200: {
            type: 'object',
            required: ['items', 'next_cursor'],
            properties: {
              items: { type: 'array', items: ANNOTATION_ITEM },
              next_cursor: { type: 'string', nullable: true },
            },
          },
          ...errorResponses,
        },
      },
    },
    async (request): Promise<AnnotationListJson> => {
      const q = request.query;
      return queue.list({
        model: q.model,
        state: q.state,
        strategy: q.strategy,
        className: q.class,
        since: dateParam('since', q.since),
        until: dateParam('until', q.until),
        limit: q.limit,
        cursor: q.cursor,
      });
    },
  );

  app.get<{ Querystring: { model: string } }>(
    '/v1/annotations/summary',
    {
      schema: {
        tags,
        summary: "How many of a model's items are queued, claimed, labelled and rejected",
        querystring: { type: 'object', required: ['model'], properties: { model: MODEL } },
        response: { 200: SUMMARY, ...errorResponses },
      },
    },
    async (request): Promise<AnnotationSummaryJson> => queue.summary(request.query.model),
  );

  app.post<{
    Body: AnnotatorBody & { model: string; strategy?: string; class?: string; exclude?: string[] };
  }>(
    '/v1/annotations/claim-next',
    {
      schema: {
        tags,
        summary: 'Claim the most uncertain item of a model that nobody holds',
        description:
          "The annotator's own live claims come first (a reloaded page gets back what it held), then the " +
          'queue order. Atomic: two annotators asking at once never get the same item. item is null when ' +
          'nothing is left.',
        headers: annotatorHeader,
        body: {
          type: 'object',
          required: ['model'],
          properties: {
            annotator: ANNOTATOR,
            model: MODEL,
            strategy: { type: 'string', maxLength: 64 },
            class: { type: 'string', maxLength: 256 },
            exclude: {
              type: 'array',
              maxItems: 50,
              items: SAMPLE_ID,
              description: 'Items not to hand out: those the client already holds and shows.',
            },
          },
        },
        response: {
          200: {
            type: 'object',
            required: ['item'],
            properties: { item: { ...ANNOTATION_ITEM, nullable: true } },
          },
          ...errorResponses,
        },
      },
    },
    async (request): Promise<ClaimNextJson> => {
      const body = request.body;
      const annotator = annotatorOf(request, body.annotator);
      const filter = {
        model: body.model,
        strategy: body.strategy,
        className: body.class,
        exclude: body.exclude ?? [],
      };
      return { item: await queue.claimNext(filter, annotator) };
    },
  );

  app.get<{ Params: IdParams }>(
    '/v1/annotations/:id',
    {
      schema: {
        tags,
        summary: 'One annotation item: metadata, claim and label',
        params: ID_PARAMS,
        response: item,
      },
    },
    async (request): Promise<AnnotationItemJson> => queue.get(request.params.id),
  );

  app.get<{ Params: IdParams }>(
    '/v1/annotations/:id/image',
    {
      schema: {
        tags,
        summary: "The item's image, as it was sent to the model",
        params: ID_PARAMS,
        response: {
          200: {
            description: 'The image bytes (JPEG, PNG, WebP...).',
            content: { 'image/*': { schema: { type: 'string', format: 'binary' } } },
          },
          ...errorResponses,
        },
      },
    },
    async (request, reply) => {
      const image = await queue.image(request.params.id);
      // An item's image never changes (its id is derived from the image's hash).
      return reply
        .type(image.contentType)
        .header('cache-control', 'private, max-age=31536000, immutable')
        .send(Buffer.from(image.bytes.buffer, image.bytes.byteOffset, image.bytes.byteLength));
    },
  );

  app.get<{ Params: IdParams }>(
    '/v1/annotations/:id/prediction',
    {
      schema: {
        tags,
        summary: "The model's prediction for the item, as a label document",
        params: ID_PARAMS,
        response: { 200: LABEL_DOCUMENT, ...errorResponses },
      },
    },
    async (request, reply): Promise<LabelDocument> => {
      reply.header('cache-control', 'private, max-age=31536000, immutable');
      return queue.prediction(request.params.id);
    },
  );

  app.get<{ Params: IdParams }>(
    '/v1/annotations/:id/label',
    {
      schema: {
        tags,
        summary: 'The label submitted for the item (404 LABEL_NOT_FOUND while it has none)',
        params: ID_PARAMS,
        response: { 200: LABEL_DOCUMENT, ...errorResponses },
      },
    },
    async (request): Promise<LabelDocument> => queue.label(request.params.id),
  );

  const claimed = (
    summary: string,
    description: string,
    act: (id: string, annotator: string) => Promise<AnnotationItemJson>,
  ) =>
    ({
      schema: {
        tags,
        summary,
        description,
        params: ID_PARAMS,
        headers: annotatorHeader,
        body: ANNOTATOR_BODY,
        response: item,
      },
      // A client naming itself in the header alone may send no body at all: validated as an empty one.
      preValidation: async (request: FastifyRequest) => {
        request.body ??= {};
      },
      handler: async (request: FastifyRequest<{ Params: IdParams; Body: AnnotatorBody | undefined }>) =>
        act(request.params.id, annotatorOf(request, request.body?.annotator)),
    }) as const;

  app.post<{ Params: IdParams; Body: AnnotatorBody | undefined }>(
    '/v1/annotations/:id/claim',
    claimed(
      'Claim an item (or renew your claim on it)',
      `A claim holds the item for the server's --annotation-claim-timeout (default 10 minutes); an item whose ` +
        'claim expires returns to the queue. 409 SAMPLE_CLAIMED while another annotator holds it, with until when.',
      (id, annotator) => queue.claim(id, annotator),
    ),
  );

  app.post<{ Params: IdParams; Body: AnnotatorBody | undefined }>(
    '/v1/annotations/:id/release',
    claimed(
      'Give a claimed item back to the queue, without counting a skip',
      'For a client that claimed ahead (a prefetched item) and leaves.',
      (id, annotator) => queue.release(id, annotator),
    ),
  );

  app.post<{ Params: IdParams; Body: AnnotatorBody | undefined }>(
    '/v1/annotations/:id/skip',
    claimed(
      'Skip a claimed item: release it and move it down the queue',
      `Counts a skip, which lowers the item's priority by ${SKIP_PENALTY}, so it goes behind items about as uncertain.`,
      (id, annotator) => queue.skip(id, annotator),
    ),
  );

  app.post<{ Params: IdParams; Body: AnnotatorBody | undefined }>(
    '/v1/annotations/:id/reject',
    claimed(
      'Reject a claimed item: out of the queue for good, never labelled',
      'For images not worth a label: blurred, off-topic, duplicates.',
      (id, annotator) => queue.reject(id, annotator),
    ),
  );

  app.post<{ Params: IdParams; Body: LabelBodyJson }>(
    '/v1/annotations/:id/label',
    {
      bodyLimit: options.labelBodyBytes,
      attachValidation: true,
      schema: {
        tags,
        summary: 'Submit the label of a claimed item',
        description:
          'Requires your live claim (409 SAMPLE_NOT_CLAIMED or SAMPLE_CLAIMED otherwise). The label is checked ' +
          "against the image size and the model's classes (422 LABEL_INVALID saying what is wrong), stored as a " +
          'label document, and the image with its label joins the working set of the dataset named after the ' +
          'model. Nothing is stored when anything is refused.',
        params: ID_PARAMS,
        headers: annotatorHeader,
        body: LABEL_BODY,
        response: item,
      },
    },
    async (request): Promise<AnnotationItemJson> => {
      if (request.validationError) throw bodyProblem(request.validationError);
      const annotator = annotatorOf(request, request.body.annotator);
      return queue.submit(request.params.id, annotator, submissionOf(request.body));
    },
  );
};
