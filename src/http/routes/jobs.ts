/**
 * The jobs API (src/jobs): `POST /v1/jobs` submits a batch (JSON naming keys, a prefix or URLs; or multipart
 * with the images themselves), `GET /v1/jobs/{id}` says where it stands with the errors per input,
 * `GET /v1/jobs` lists, `POST /v1/jobs/{id}/cancel` cancels. Guarded like the inference routes (API keys, when
 * configured): a key that may segment may run jobs. An `Idempotency-Key` header makes a retried submit safe.
 */
import { randomUUID } from 'node:crypto';
import multipart from '@fastify/multipart';
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { SegserveError } from '../../errors.js';
import type { JobRequest, Jobs } from '../../jobs/jobs.js';
import { JOB_FORMATS, type JobInputState, type JobState, type JobTarget } from '../../jobs/wire-types.js';
import type { StorageAccess } from '../../storage/index.js';
import type { HttpLimits } from '../options.js';
import { errorResponses } from '../schemas.js';

export interface JobRouteOptions {
  jobs: Jobs;
  stores: StorageAccess;
  limits: Pick<HttpLimits, 'imageBodyBytes' | 'maxJobInputs'>;
}

const tags = ['jobs'];
/** Enough JSON for the largest job the limit allows to be refused by count (JOB_TOO_LARGE), not by bytes. */
const JOB_BODY_BYTES = 16 * 1024 * 1024;
/** Where uploaded images go before their job reads them. */
const UPLOAD_PREFIX = 'jobs/uploads/';
const IDEMPOTENCY_KEY = /^[A-Za-z0-9._:-]{1,128}$/;

const string = { type: 'string' } as const;
const jobBody = {
  type: 'object',
  required: ['output'],
  additionalProperties: false,
  properties: {
    model: { ...string, maxLength: 128, description: 'The model; or give `endpoint`.' },
    version: {
      anyOf: [
        { type: 'integer', minimum: 1 },
        { ...string, maxLength: 64 },
      ],
      description: 'A version number or an alias of the model (default: the newest ready, or `stable`).',
    },
    endpoint: {
      ...string,
      maxLength: 128,
      description: 'An endpoint, whose traffic policy picks the variant.',
    },
    inputs: {
      type: 'array',
      items: {
        oneOf: [
          {
            type: 'object',
            required: ['key'],
            additionalProperties: false,
            properties: { key: { ...string, maxLength: 1024 } },
          },
          {
            type: 'object',
            required: ['url'],
            additionalProperties: false,
            properties: { url: { ...string, maxLength: 4096 } },
          },
        ],
      },
      description: 'Object keys of the blob store, s3://bucket/key objects, or http(s) URLs.',
    },
    prefix: {
      ...string,
      maxLength: 1024,
      description: 'Every image object under this prefix (or s3://bucket/prefix/).',
    },
    output: {
      ...string,
      maxLength: 1024,
      description: 'Prefix of the blob store, or s3://bucket/prefix/, for the outputs.',
    },
    formats: { type: 'array', items: { type: 'string', enum: [...JOB_FORMATS] }, minItems: 1 },
    webhook: {
      type: 'object',
      required: ['url'],
      additionalProperties: false,
      properties: {
        url: { ...string, maxLength: 4096 },
        secret: { ...string, minLength: 16, maxLength: 256 },
      },
    },
  },
} as const;

const JobBodySchema = z.strictObject({
  model: z.string().min(1).max(128).optional(),
  version: z.union([z.number().int().min(1), z.string().min(1).max(64)]).optional(),
  endpoint: z.string().min(1).max(128).optional(),
  inputs: z
    .array(
      z.union([z.strictObject({ key: z.string().max(1024) }), z.strictObject({ url: z.string().max(4096) })]),
    )
    .optional(),
  prefix: z.string().max(1024).optional(),
  output: z.string().max(1024),
  formats: z.array(z.enum(JOB_FORMATS)).min(1).optional(),
  webhook: z
    .strictObject({ url: z.string().max(4096), secret: z.string().min(16).max(256).optional() })
    .optional(),
});
type JobBody = z.infer<typeof JobBodySchema>;

/** The job as sent, checked field by field; every problem is named with its path. */
function parseJobBody(value: unknown): JobBody {
  if (value === undefined || value === null) {
    throw new SegserveError('JOB_INVALID', {
      reason: 'send the job as a JSON object (or multipart with a "job" field)',
    });
  }
  const parsed = JobBodySchema.safeParse(value);
  if (parsed.success) return parsed.data;
  const issues = parsed.error.issues
    .slice(0, 5)
    .map((issue) => `${issue.path.length > 0 ? issue.path.join('.') : 'the job'}: ${issue.message}`);
  throw new SegserveError('JOB_INVALID', { reason: issues.join('; ') });
}

function targetOf(body: JobBody): JobTarget {
  if (body.endpoint !== undefined && body.model !== undefined) {
    throw new SegserveError('JOB_INVALID', { reason: 'give "model" or "endpoint", not both' });
  }
  if (body.endpoint !== undefined) {
    if (body.version !== undefined)
      throw new SegserveError('JOB_INVALID', { reason: 'an endpoint takes no version' });
    return { endpoint: body.endpoint };
  }
  if (body.model === undefined)
    throw new SegserveError('JOB_INVALID', { reason: 'name a "model" or an "endpoint"' });
  return body.version === undefined
    ? { model: body.model }
    : { model: body.model, version: String(body.version) };
}

function idempotencyKeyOf(request: FastifyRequest): string | undefined {
  const key = request.headers['idempotency-key'];
  if (key === undefined) return undefined;
  if (typeof key !== 'string' || !IDEMPOTENCY_KEY.test(key)) {
    throw new SegserveError('JOB_INVALID', {
      reason: 'the Idempotency-Key header must be 1-128 letters, digits, ".", "_", ":" or "-"',
    });
  }
  return `api:${key}`;
}

/** A file name as a key segment: path parts dropped, anything a key refuses replaced. */
function uploadName(filename: string, index: number): string {
  const base = filename.split(/[\\/]/).at(-1) ?? '';
  const cleaned = base.replace(/[^A-Za-z0-9._ -]/g, '_').replace(/^\.+/, '');
  return cleaned === '' ? `upload-${index}` : cleaned;
}

export const jobRoutes: FastifyPluginAsync<JobRouteOptions> = async (app, options) => {
  const { jobs, stores, limits } = options;
  await app.register(multipart, {
    limits: {
      fileSize: limits.imageBodyBytes,
      files: limits.maxJobInputs,
      fields: 1,
      fieldSize: JOB_BODY_BYTES,
    },
  });

  const submit = async (request: FastifyRequest, body: JobBody, uploads: string[] = [], folder?: string) => {
    const job: JobRequest = {
      target: targetOf(body),
      inputs: [...(body.inputs ?? []), ...uploads.map((key) => ({ key }))],
      ...(body.prefix === undefined ? {} : { prefix: body.prefix }),
      output: body.output,
      ...(body.formats ? { formats: body.formats } : {}),
      ...(body.webhook ? { webhook: body.webhook } : {}),
      idempotencyKey: idempotencyKeyOf(request),
      // Uploaded files keep their own names as output names.
      ...(folder ? { relativeTo: { prefix: folder } } : {}),
      source: 'api',
      createdBy: request.apiKeyName ?? 'anonymous',
    };
    return jobs.submit(job);
  };

  /** Multipart: the job as JSON in the field `job`, the images as file parts, stored before the job is made. */
  const submitMultipart = async (request: FastifyRequest) => {
    let body: JobBody | undefined;
    const blobs = await stores.blobs();
    const folder = `${UPLOAD_PREFIX}${randomUUID()}/`;
    const uploaded: string[] = [];
    const names = new Set<string>();
    try {
      for await (const part of request.parts()) {
        if (part.type === 'field') {
          if (part.fieldname !== 'job') {
            throw new SegserveError('JOB_INVALID', {
              reason: `unknown field "${part.fieldname.slice(0, 40)}"; send the job as JSON in "job"`,
            });
          }
          try {
            body = parseJobBody(JSON.parse(String(part.value)));
          } catch (error) {
            throw new SegserveError('INVALID_JSON', {
              reason: `the field "job": ${(error as Error).message}`,
            });
          }
          continue;
        }
        const bytes = await part.toBuffer();
        if (part.file.truncated) {
          throw new SegserveError('INPUT_TOO_LARGE', {
            source: `file ${part.filename}`,
            limit: limits.imageBodyBytes,
          });
        }
        // The file's own name, unless an earlier part had it: then the part's number goes first.
        const name = uploadName(part.filename, uploaded.length);
        const key = names.has(name.toLowerCase())
          ? `${folder}${uploaded.length}-${name}`
          : `${folder}${name}`;
        names.add(name.toLowerCase());
        await blobs.put(key, bytes);
        uploaded.push(key);
      }
      if (!body)
        throw new SegserveError('JOB_INVALID', { reason: 'send the job as JSON in the field "job"' });
      return await submit(request, body, uploaded, folder);
    } catch (error) {
      for (const key of uploaded) await blobs.delete(key).catch(() => undefined);
      throw error;
    }
  };

  app.post(
    '/v1/jobs',
    {
      bodyLimit: JOB_BODY_BYTES,
      config: { inference: true },
      schema: {
        tags,
        summary: 'Submit a batch job: images by key, prefix, URL or upload, outputs to a blob store prefix',
        // Multipart bodies are not validated here: the `job` field is parsed and checked by the route.
        body: jobBody,
        headers: { type: 'object', properties: { 'idempotency-key': string } },
        response: errorResponses,
      },
      // The schema documents the JSON body; parseJobBody checks it, for JSON bodies and for the `job` field of
      // multipart ones alike (Fastify's validation would refuse every multipart request, which has no body).
      validatorCompiler: () => (data) => ({ value: data }),
    },
    async (request, reply) => {
      const { job, created } = request.isMultipart()
        ? await submitMultipart(request)
        : await submit(request, parseJobBody(request.body));
      return reply
        .code(created ? 201 : 200)
        .header('location', `/v1/jobs/${job.id}`)
        .send(job);
    },
  );

  app.get<{ Querystring: { state?: JobState; limit?: number } }>(
    '/v1/jobs',
    {
      config: { inference: true },
      schema: {
        tags,
        summary: 'Jobs, newest first',
        querystring: {
          type: 'object',
          properties: {
            state: { type: 'string', enum: ['running', 'cancelling', 'completed', 'failed', 'cancelled'] },
            limit: { type: 'integer', minimum: 1, maximum: 500, default: 50 },
          },
        },
        response: errorResponses,
      },
    },
    async (request) => ({
      jobs: await jobs.list({ state: request.query.state, limit: request.query.limit ?? 50 }),
    }),
  );

  const idParams = {
    type: 'object',
    required: ['id'],
    properties: { id: { type: 'string', maxLength: 64 } },
  } as const;

  app.get<{ Params: { id: string } }>(
    '/v1/jobs/:id',
    {
      config: { inference: true },
      schema: {
        tags,
        summary: 'A job: state, progress and the errors per input (first 100)',
        params: idParams,
        response: errorResponses,
      },
    },
    async (request) => {
      const { view } = await jobs.get(request.params.id);
      const errors = await jobs.inputs(view.id, { state: 'failed', offset: 0, limit: 100 });
      return { ...view, errors };
    },
  );

  app.get<{
    Params: { id: string };
    Querystring: { state?: JobInputState; offset?: number; limit?: number };
  }>(
    '/v1/jobs/:id/inputs',
    {
      config: { inference: true },
      schema: {
        tags,
        summary: "A job's inputs with their state, outputs and errors",
        params: idParams,
        querystring: {
          type: 'object',
          properties: {
            state: { type: 'string', enum: ['pending', 'done', 'failed', 'cancelled'] },
            offset: { type: 'integer', minimum: 0, default: 0 },
            limit: { type: 'integer', minimum: 1, maximum: 1000, default: 100 },
          },
        },
        response: errorResponses,
      },
    },
    async (request) => ({
      inputs: await jobs.inputs(request.params.id, {
        state: request.query.state,
        offset: request.query.offset ?? 0,
        limit: request.query.limit ?? 100,
      }),
    }),
  );

  app.post<{ Params: { id: string } }>(
    '/v1/jobs/:id/cancel',
    {
      config: { inference: true },
      schema: {
        tags,
        summary: 'Cancel a job: pending inputs are not run',
        params: idParams,
        response: errorResponses,
      },
    },
    async (request) => jobs.cancel(request.params.id),
  );
};
