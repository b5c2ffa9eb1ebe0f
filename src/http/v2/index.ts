/**
 * The Open Inference Protocol v2 (KServe "predict API v2", Triton's HTTP protocol) over the model repository:
 * health, server and model metadata, and inference on raw tensors in JSON or with the binary tensor data
 * extension, so that Triton and KServe clients work unchanged.
 *
 * Register it without a prefix (its routes are /v2/...); it is encapsulated: its body parser, error handler
 * and 404 handler apply to /v2 only. Inference runs in the model's worker pool, never on the main thread.
 */
import { createRequire } from 'node:module';
import type { FastifyInstance, FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { SegserveError } from '../../errors.js';
import type { LoadedVersion, ModelRepository } from '../../models/repository.js';
import type { NamedTensors } from '../../runtime/types.js';
import { decodeContent } from './content-encoding.js';
import { buildFeeds, selectOutputs } from './feeds.js';
import {
  EXTENSIONS,
  modelMetadata,
  parseVersion,
  type ServerMetadata,
  serverNotReady,
  servingVersion,
} from './metadata.js';
import { sendJson, v2ErrorHandler } from './reply.js';
import { parseInferRequest } from './request.js';
import { encodeInferResponse } from './response.js';

export interface V2Options {
  repository: ModelRepository;
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

function header(request: FastifyRequest, name: string): string | undefined {
  const value = request.headers[name];
  return Array.isArray(value) ? value.join(', ') : value;
}

/**
 * Runs the job in the model's pool; undefined when the client hung up first. A client that hangs up while its
 * job still waits for a worker takes the job out of the queue, so abandoned requests do not hold places that
 * waiting clients need.
 */
async function runForClient(
  loaded: LoadedVersion,
  feeds: NamedTensors,
  outputNames: string[],
  reply: FastifyReply,
  timeoutMs: number | undefined,
): Promise<NamedTensors | undefined> {
  const controller = new AbortController();
  const onClose = () => {
    if (!reply.raw.writableEnded) controller.abort(new Error('the client closed the connection'));
  };
  reply.raw.once('close', onClose);
  try {
    // Without `decode` the pool answers the raw output tensors.
    return (await loaded.pool.run(feeds, { outputNames, timeoutMs, signal: controller.signal })).outputs!;
  } catch (error) {
    if (controller.signal.aborted) return undefined;
    throw error;
  } finally {
    reply.raw.off('close', onClose);
  }
}

async function routes(app: FastifyInstance, options: V2Options): Promise<void> {
  const { repository, queueTimeoutMs } = options;
  const bodyLimit = options.bodyLimit ?? DEFAULT_BODY_LIMIT;
  const server: ServerMetadata = {
    name: options.serverName ?? 'segserve',
    version: options.serverVersion ?? packageVersion(),
    extensions: [...EXTENSIONS],
  };

  // Every body is read as bytes whatever its Content-Type: Triton's Python client sends none, KServe's sends
  // application/json or application/octet-stream, and the JSON may be followed by binary tensor data.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit }, (_request, body, done) => done(null, body));
  app.setErrorHandler(v2ErrorHandler(bodyLimit));
  app.setNotFoundHandler((request, reply) => {
    const error = new SegserveError('ROUTE_NOT_FOUND', { method: request.method, path: request.url });
    return sendJson(reply, error.status, JSON.stringify({ error: error.message }));
  });

  const tags = ['Open Inference Protocol v2'];
  app.get('/', { schema: { tags, summary: 'Server metadata' } }, (_request, reply) =>
    sendJson(reply, 200, JSON.stringify(server)),
  );
  app.get(
    '/health/live',
    { schema: { tags, summary: 'Liveness: 200 while the process serves' } },
    (_r, reply) => sendJson(reply, 200, '{"live":true}'),
  );
  app.get(
    '/health/ready',
    { schema: { tags, summary: 'Readiness: 200 when every model version has loaded, else 503' } },
    (_request, reply) => {
      const reason = serverNotReady(repository);
      if (reason === undefined) return sendJson(reply, 200, '{"ready":true}');
      return sendJson(reply, 503, JSON.stringify({ ready: false, error: `not ready: ${reason}` }));
    },
  );

  for (const base of ['/models/:model', '/models/:model/versions/:version']) {
    app.get<{ Params: ModelParams }>(
      base,
      { schema: { tags, summary: 'Model metadata' } },
      (request, reply) => {
        const loaded = repository.resolve(request.params.model, parseVersion(request.params.version));
        return sendJson(reply, 200, JSON.stringify(modelMetadata(repository, loaded)));
      },
    );

    app.get<{ Params: ModelParams }>(
      `${base}/ready`,
      { schema: { tags, summary: 'Model readiness: 200 ready, 503 not ready, 404 unknown' } },
      (request, reply) => {
        const { model } = request.params;
        const version = parseVersion(request.params.version);
        try {
          servingVersion(repository, model, version);
        } catch (error) {
          if (!(error instanceof SegserveError) || error.code !== 'MODEL_NOT_READY') throw error;
          return sendJson(reply, 503, JSON.stringify({ name: model, ready: false, error: error.message }));
        }
        return sendJson(reply, 200, JSON.stringify({ name: model, ready: true }));
      },
    );

    app.post<{ Params: ModelParams }>(
      `${base}/infer`,
      { schema: { tags, summary: 'Inference on raw tensors (JSON, or JSON + binary tensor data)' } },
      async (request, reply) => {
        const loaded = servingVersion(repository, request.params.model, parseVersion(request.params.version));
        const raw = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
        const body = await decodeContent(raw, header(request, 'content-encoding'), bodyLimit);
        const infer = parseInferRequest(body, header(request, 'inference-header-content-length'));
        const feeds = buildFeeds(infer, loaded.pool.inputs);
        const outputs = selectOutputs(infer, loaded.pool.outputs);
        const tensors = await runForClient(
          loaded,
          feeds,
          outputs.map((o) => o.name),
          reply,
          queueTimeoutMs,
        );
        if (!tensors) {
          request.log.info('v2 client hung up before its inference ran');
          return reply.hijack();
        }
        const encoded = encodeInferResponse({
          modelName: loaded.name,
          modelVersion: loaded.version,
          id: infer.id,
          outputs,
          tensors,
        });
        if (encoded.headerLength === undefined) return sendJson(reply, 200, encoded.body);
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
