/**
 * The Open Inference Protocol v2 (KServe "predict API v2", Triton's HTTP protocol) over the model repository:
 * health, server and model metadata, and inference on raw tensors in JSON or with the binary tensor data
 * extension, so that Triton and KServe clients work unchanged.
 *
 * Register it without a prefix (its routes are /v2/...); it is encapsulated: its body parser, error handler
 * and 404 handler apply to /v2 only. Inference runs in the model's worker pool, never on the main thread.
 */
import { createRequire } from 'node:module';
import type { FastifyInstance, FastifyPluginAsync, FastifyRequest } from 'fastify';
import { DEFAULT_RETRY_AFTER_S, retryAfterSeconds, SegserveError } from '../../errors.js';
import type { LoadedVersion } from '../../models/index.js';
import type { InferenceStats } from '../../monitoring/inference-stats.js';
import { type InferenceService, parseVersion } from '../../serving/service.js';
import { type AdminKeys, decorateAdminActor, requireAdmin } from '../admin-auth.js';
import { abandonedSignal, admitBeforeBody, decorateTickets, namedTarget, ticketOf } from '../context.js';
import { installErrorHandler, sendJsonBytes } from '../error-handler.js';
import { checkLoaded } from '../repository-ops.js';
import { decodeContent } from './content-encoding.js';
import { buildFeeds, selectOutputs } from './feeds.js';
import { EXTENSIONS, modelMetadata, type ServerMetadata } from './metadata.js';
import {
  CONFIG_EXTENSION,
  parseIndexRequest,
  parseLoadRequest,
  parseUnloadRequest,
  REPOSITORY_EXTENSIONS,
  tritonIndex,
  tritonModelConfig,
} from './repository.js';
import { parseInferRequest } from './request.js';
import { encodeInferResponse } from './response.js';

export interface V2Options {
  service: InferenceService;
  /** The statistics extension (`.../stats`), served when given. */
  statistics?: InferenceStats;
  /** `name` in GET /v2; default "segserve". */
  serverName?: string;
  /** `version` in GET /v2; default the version in segserve's package.json. */
  serverVersion?: string;
  /**
   * Largest request body in bytes, compressed or decompressed (default 32 MiB: a 1024x1024 RGB FP32 tensor as
   * JSON text). JSON bodies are parsed on the main thread, so this also bounds how long one request holds it.
   */
  bodyLimit?: number;
  /** Longest wait for a free worker before answering 504; default: wait as long as the queue holds the job. */
  queueTimeoutMs?: number;
  /**
   * Serves the model repository extension (`/v2/repository/...`), guarded by these admin keys: undefined keys
   * answer ADMIN_API_DISABLED. Absent: no repository routes.
   */
  repository?: { adminKeys: AdminKeys | undefined };
}

export const DEFAULT_BODY_LIMIT = 32 * 1024 * 1024;

interface ModelParams {
  model: string;
  version?: string;
}

function packageVersion(): string {
  // The same relative path from src/http/v2 (tsx, vitest) and from dist/http/v2 (compiled).
  const manifest = createRequire(import.meta.url)('../../../package.json') as { version: string };
  return manifest.version;
}

/**
 * The version whose metadata a name answers: the model's, or for an endpoint with a traffic policy, its variant
 * of most weight (what most of its requests meet; variants of other inputs would need their own name).
 */
function primaryVersion(service: InferenceService, request: FastifyRequest): LoadedVersion {
  return service.resolveVariants(namedTarget(request))[0].loaded;
}

function header(request: FastifyRequest, name: string): string | undefined {
  const value = request.headers[name];
  return Array.isArray(value) ? value.join(', ') : value;
}

async function routes(app: FastifyInstance, options: V2Options): Promise<void> {
  const { service, queueTimeoutMs } = options;
  const { repository } = service;
  const bodyLimit = options.bodyLimit ?? DEFAULT_BODY_LIMIT;
  const server: ServerMetadata = {
    name: options.serverName ?? 'segserve',
    version: options.serverVersion ?? packageVersion(),
    extensions: [
      ...EXTENSIONS,
      ...(options.statistics ? ['statistics'] : []),
      CONFIG_EXTENSION,
      ...(options.repository ? REPOSITORY_EXTENSIONS : []),
    ],
  };

  // Every body is read as bytes whatever its Content-Type: Triton's Python client sends none, KServe's sends
  // application/json or application/octet-stream, and the JSON may be followed by binary tensor data.
  decorateTickets(app);
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit }, (_request, body, done) => done(null, body));
  installErrorHandler(app, { imageBodyBytes: bodyLimit }, 'v2');

  const tags = ['Open Inference Protocol v2'];
  app.get('/', { schema: { tags, summary: 'Server metadata' } }, (_request, reply) =>
    sendJsonBytes(reply, 200, JSON.stringify(server)),
  );
  app.get(
    '/health/live',
    { schema: { tags, summary: 'Liveness: 200 while the process serves' } },
    (_r, reply) => sendJsonBytes(reply, 200, '{"live":true}'),
  );
  app.get(
    '/health/ready',
    { schema: { tags, summary: 'Readiness: 200 when every model version has loaded, else 503' } },
    (_request, reply) => {
      const reason = service.notReady();
      if (reason === undefined) return sendJsonBytes(reply, 200, '{"ready":true}');
      reply.header('retry-after', String(DEFAULT_RETRY_AFTER_S));
      return sendJsonBytes(reply, 503, JSON.stringify({ ready: false, error: `not ready: ${reason}` }));
    },
  );

  const { statistics } = options;
  if (statistics) {
    app.get(
      '/models/stats',
      { schema: { tags, summary: 'Statistics of every model version (statistics extension)' } },
      (_r, reply) => sendJsonBytes(reply, 200, JSON.stringify({ model_stats: statistics.get() })),
    );
    for (const path of ['/models/:model/stats', '/models/:model/versions/:version/stats']) {
      app.get<{ Params: ModelParams }>(
        path,
        { schema: { tags, summary: 'Statistics of a model or one version (statistics extension)' } },
        (request, reply) => {
          const { model } = request.params;
          if (!repository.get(model)) throw new SegserveError('MODEL_NOT_FOUND', { model });
          const version = parseVersion(request.params.version);
          const stats = statistics.get(model, version === undefined ? undefined : String(version));
          return sendJsonBytes(reply, 200, JSON.stringify({ model_stats: stats }));
        },
      );
    }
  }

  if (options.repository) {
    decorateAdminActor(app);
    const admin = requireAdmin(options.repository.adminKeys);
    const security = [{ adminKey: [] }];
    const body = (request: FastifyRequest) =>
      Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
    app.post(
      '/repository/index',
      {
        onRequest: admin,
        schema: {
          tags,
          security,
          summary: 'Every model of the repository with its state, loaded or not (model repository extension)',
        },
      },
      async (request, reply) => {
        const { ready } = parseIndexRequest(body(request));
        return sendJsonBytes(reply, 200, JSON.stringify(tritonIndex(await repository.index(), ready)));
      },
    );
    app.post<{ Params: { model: string } }>(
      '/repository/models/:model/load',
      {
        onRequest: admin,
        schema: {
          tags,
          security,
          summary:
            'Load a model, or apply what changed in its folder when loaded (model repository extension)',
        },
      },
      async (request, reply) => {
        parseLoadRequest(body(request));
        const { model } = request.params;
        const changes = await repository.load(model);
        request.log.info({ model, changes, actor: request.adminActor }, 'model loaded');
        checkLoaded(repository, model);
        return reply.code(200).send();
      },
    );
    app.post<{ Params: { model: string } }>(
      '/repository/models/:model/unload',
      {
        onRequest: admin,
        schema: {
          tags,
          security,
          summary: 'Unload every version of a model once its requests are done (model repository extension)',
        },
      },
      async (request, reply) => {
        parseUnloadRequest(body(request));
        const { model } = request.params;
        const changes = await repository.unload(model);
        request.log.info({ model, changes, actor: request.adminActor }, 'model unloaded');
        return reply.code(200).send();
      },
    );
  }

  for (const base of ['/models/:model', '/models/:model/versions/:version']) {
    app.get<{ Params: ModelParams }>(
      base,
      { schema: { tags, summary: 'Model metadata' } },
      (request, reply) => {
        const loaded = primaryVersion(service, request);
        return sendJsonBytes(reply, 200, JSON.stringify(modelMetadata(repository, loaded)));
      },
    );

    app.get<{ Params: ModelParams }>(
      `${base}/config`,
      { schema: { tags, summary: "Model configuration in Triton's form (model configuration extension)" } },
      (request, reply) => {
        const loaded = primaryVersion(service, request);
        const config = tritonModelConfig(loaded, repository.config(loaded.name));
        return sendJsonBytes(reply, 200, JSON.stringify(config));
      },
    );

    app.get<{ Params: ModelParams }>(
      `${base}/ready`,
      { schema: { tags, summary: 'Model readiness: 200 ready, 503 not ready, 404 unknown' } },
      (request, reply) => {
        const { model } = request.params;
        try {
          // An endpoint is ready when every variant that takes its traffic can serve.
          service.resolveVariants(namedTarget(request));
        } catch (error) {
          if (!(error instanceof SegserveError) || error.code !== 'MODEL_NOT_READY') throw error;
          reply.header('retry-after', String(retryAfterSeconds(error)));
          return sendJsonBytes(
            reply,
            503,
            JSON.stringify({ name: model, ready: false, error: error.message }),
          );
        }
        return sendJsonBytes(reply, 200, JSON.stringify({ name: model, ready: true }));
      },
    );

    app.post<{ Params: ModelParams }>(
      `${base}/infer`,
      {
        bodyLimit,
        config: { inference: true },
        onRequest: admitBeforeBody(service, 'v2'),
        schema: { tags, summary: 'Inference on raw tensors (JSON, or JSON + binary tensor data)' },
      },
      async (request, reply) => {
        const ticket = ticketOf(request);
        const loaded = ticket.loaded;
        const raw = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
        const body = await decodeContent(raw, header(request, 'content-encoding'), bodyLimit);
        const infer = parseInferRequest(body, header(request, 'inference-header-content-length'));
        const feeds = buildFeeds(infer, loaded.runtime.inputs);
        const outputs = selectOutputs(infer, loaded.runtime.outputs);
        const abandoned = abandonedSignal(reply);
        const tensors = await service
          .infer(ticket, feeds, {
            outputNames: outputs.map((o) => o.name),
            timeoutMs: queueTimeoutMs,
            signal: abandoned.signal,
          })
          .finally(abandoned.done);
        const encoded = encodeInferResponse({
          modelName: loaded.name,
          modelVersion: loaded.version,
          id: infer.id,
          outputs,
          tensors,
        });
        if (encoded.headerLength === undefined) return sendJsonBytes(reply, 200, encoded.body);
        return reply
          .code(200)
          .header('content-type', 'application/octet-stream')
          .header('inference-header-content-length', String(encoded.headerLength))
          .send(encoded.body);
      },
    );
  }
}

export const v2Routes: FastifyPluginAsync<V2Options> = async (app, options) => {
  await app.register(routes, { ...options, prefix: '/v2' });
};
