/**
 * The HTTP app: the segmentation API (/v1), the routes existing clients call (/health, /predict...), the Open
 * Inference Protocol v2 (/v2), the OpenAPI document generated from the route schemas (/openapi.json) and its
 * docs page (/docs, served from the package). `buildApp` does not listen, so tests and the server choose how.
 *
 * Request handling stays light on the main thread: decoding runs on libuv threads (sharp), inference and
 * decoding of model outputs in the worker pools, so health checks answer at once while every model is busy.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import Fastify, { type FastifyInstance, LogController } from 'fastify';
import { AnnotationQueue } from '../learning/annotations/index.js';
import { DatasetFiles } from '../lifecycle/evaluation/index.js';
import type { RequestRecord } from '../monitoring/metrics.js';
import { UrlFetcher } from '../sources/fetch-url.js';
import { realBatchRoot } from '../sources/files.js';
import { installApiKeys } from './api-keys.js';
import { decorateTickets, type HttpContext } from './context.js';
import { registerCors } from './cors.js';
import {
  answeredCode,
  frameworkErrorHandler,
  installErrorHandler,
  MAX_PARAM_LENGTH,
} from './error-handler.js';
import { installGracefulClose } from './graceful-close.js';
import { type AppOptions, DEFAULT_LIMITS, type HttpLimits, type LoggerOptions } from './options.js';
import { wasRefused } from './refusal-log.js';
import { evaluationRoutes } from './routes/admin-eval.js';
import { adminModelRoutes } from './routes/admin-models.js';
import { adminRepositoryRoutes } from './routes/admin-repository.js';
import { adminUploadRoutes } from './routes/admin-upload.js';
import { annotationRoutes } from './routes/annotations.js';
import { datasetRoutes } from './routes/datasets.js';
import { endpointRoutes } from './routes/endpoints.js';
import { eventRoutes } from './routes/events.js';
import { healthRoutes } from './routes/health.js';
import { imageRoutes } from './routes/image.js';
import { jobRoutes } from './routes/jobs.js';
import { jsonRoutes } from './routes/json.js';
import { modelRoutes } from './routes/models.js';
import { monitorRoutes } from './routes/monitor.js';
import { retrainingRoutes } from './routes/retraining.js';
import { shadowRoutes } from './routes/shadows.js';
import { trainingRoutes } from './routes/training.js';
import { addSharedSchemas } from './schemas.js';
import { normalizeCorsOrigins } from './settings.js';
import { uiRoutes } from './ui.js';
import { v2Routes } from './v2/index.js';

/** A client's own request id is kept when it is a plain token; anything else could forge log lines. */
const CLIENT_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

function requestId(request: IncomingMessage): string {
  const given = request.headers['x-request-id'];
  return typeof given === 'string' && CLIENT_REQUEST_ID.test(given) ? given : randomUUID();
}

/** The URL as logged: shortened, and without a `token` query parameter (storage event senders put secrets there). */
function loggedUrl(url: string): string {
  const redacted = url.replace(/([?&]token=)[^&]*/gi, '$1[redacted]');
  return redacted.length > 200 ? `${redacted.slice(0, 200)}...` : redacted;
}

/** Same relative path from src/http (tsx, vitest) and dist/http (compiled). */
function packageVersion(): string {
  const manifest = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8'));
  return (manifest as { version: string }).version;
}

function loggerConfig(logger: false | LoggerOptions | undefined) {
  if (logger === false) return false;
  return { level: logger?.level ?? 'info', ...(logger?.stream ? { stream: logger.stream } : {}) };
}

export async function buildApp(options: AppOptions): Promise<FastifyInstance> {
  const limits: HttpLimits = { ...DEFAULT_LIMITS, ...options.limits };
  const app = Fastify({
    logger: loggerConfig(options.logger),
    genReqId: requestId,
    requestIdHeader: false,
    // One line per request instead of Fastify's two, none per refusal (refusal-log.ts rate-limits those).
    logController: new LogController({ requestIdLogLabel: 'request_id', disableRequestLogging: true }),
    bodyLimit: limits.jsonBodyBytes,
    requestTimeout: limits.requestTimeoutMs,
    routerOptions: { maxParamLength: MAX_PARAM_LENGTH },
    frameworkErrors: frameworkErrorHandler(limits),
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    // Node refuses a headers timeout longer than the request timeout; the request deadline covers headers anyway.
    http: { headersTimeout: Math.min(limits.headersTimeoutMs, limits.requestTimeoutMs) },
    // Fastify's own 503 while closing has another body shape; installGracefulClose answers SERVER_CLOSING instead,
    // and it ends idle connections itself (Fastify's 'idle' mode would reset a request racing the close).
    return503OnClosing: false,
    forceCloseConnections: false,
  });

  app.addHook('onRequest', async (request, reply) => {
    reply.header('x-request-id', request.id);
  });
  const { metrics, monitor } = options;
  if (metrics || monitor) {
    // One record per request, built once, for every consumer: the Prometheus metrics and the monitor history.
    app.addHook('onResponse', async (request, reply) => {
      const ticket = request.ticket;
      const record: RequestRecord = {
        route: request.routeOptions.url ?? 'unmatched',
        model: ticket?.loaded.name ?? '',
        version: ticket ? String(ticket.loaded.version) : '',
        variant: ticket?.variant ?? '',
        code: answeredCode(request),
        seconds: reply.elapsedTime / 1000,
      };
      metrics?.recordRequest(record);
      monitor?.recordRequest(record);
    });
  }
  if (metrics) {
    app.get('/metrics', { logLevel: 'warn', schema: { hide: true } }, async (_request, reply) =>
      reply.type(metrics.contentType).send(await metrics.metrics()),
    );
  }
  app.addHook('onResponse', async (request, reply) => {
    if (wasRefused(request)) return;
    request.log.info(
      {
        method: request.method,
        url: loggedUrl(request.url),
        status: reply.statusCode,
        response_time_ms: Math.round(reply.elapsedTime * 100) / 100,
      },
      'request completed',
    );
  });
  installGracefulClose(app);
  // Before the routes, so preflights are answered ahead of them and error answers carry the headers too.
  await registerCors(app, normalizeCorsOrigins(options.corsOrigins ?? []));
  installErrorHandler(app, limits, 'segserve');
  addSharedSchemas(app);

  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'segserve',
        description:
          'Image segmentation over HTTP. Errors answer {"error": {"code", "message", "details"}} with a stable code ' +
          '(the /v2 routes answer {"error": "..."} as the Open Inference Protocol requires).',
        version: packageVersion(),
      },
      tags: [
        { name: 'segmentation', description: 'The segmentation API' },
        { name: 'models', description: 'The model repository' },
        { name: 'compatible', description: 'Routes of the common Flask/FastAPI segmentation services' },
        { name: 'health', description: 'Liveness' },
        { name: 'monitoring', description: 'Recent history for the built-in monitor page' },
        { name: 'learning', description: 'Active learning: retraining triggers' },
        {
          name: 'annotations',
          description: 'The annotation queue: uncertain predictions kept for labelling',
        },
        { name: 'datasets', description: 'Versioned datasets: snapshots, diffs, exports' },
        {
          name: 'jobs',
          description:
            'Batch jobs: many images segmented by workers off the request path, outputs to a blob store',
        },
        {
          name: 'lifecycle',
          description: 'Model versions: aliases, promotion through the evaluation gate, rollback, history',
        },
        {
          name: 'traffic',
          description:
            'Endpoints: names whose traffic policy splits requests between variants, canaries and shadows',
        },
      ],
      components: {
        securitySchemes: {
          adminKey: {
            type: 'http',
            scheme: 'bearer',
            description:
              'An admin key (SEGSERVE_ADMIN_KEYS or --admin-key-file); without keys the admin API is off.',
          },
        },
      },
    },
    // Shared schemas become named components (Segmentation, Rle, Error...) instead of def-0, def-1...
    refResolver: {
      buildLocalReference: (json, _baseUri, _fragment, i) =>
        typeof json.$id === 'string' ? json.$id : `def-${i}`,
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs', uiConfig: { validatorUrl: null } });
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());

  decorateTickets(app);
  installApiKeys(app, options.apiKeys);
  const context: HttpContext = {
    service: options.service,
    limits,
    fetcher: new UrlFetcher({
      connectTimeoutMs: limits.urlConnectTimeoutMs,
      totalTimeoutMs: limits.urlTimeoutMs,
      maxRedirects: limits.urlMaxRedirects,
      ...options.urlFetch,
      maxBytes: limits.imageBodyBytes,
    }),
    batchRoot: options.batchRoot === undefined ? undefined : await realBatchRoot(options.batchRoot),
    adminKeys: options.adminKeys,
  };
  await app.register(healthRoutes, context);
  await app.register(modelRoutes, context);
  await app.register(imageRoutes, context);
  await app.register(jsonRoutes, context);
  await app.register(v2Routes, {
    service: options.service,
    statistics: options.metrics?.inferenceStats,
    queueTimeoutMs: limits.inferenceTimeoutMs,
    bodyLimit: limits.v2BodyBytes,
    repository: { adminKeys: options.adminKeys },
  });
  await app.register(adminRepositoryRoutes, { service: options.service, adminKeys: options.adminKeys });
  if (monitor) await app.register(monitorRoutes, { service: options.service, monitor });
  if (options.shadows) await app.register(shadowRoutes, { shadows: options.shadows });
  if (options.retraining) await app.register(retrainingRoutes, { retraining: options.retraining });
  if (options.stores) {
    const queue = new AnnotationQueue(options.stores, {
      claimMs: limits.annotationClaimMs,
      now: options.now,
    });
    await app.register(annotationRoutes, { queue, labelBodyBytes: limits.imageBodyBytes });
    await app.register(datasetRoutes, { storage: options.stores });
    await app.register(trainingRoutes, { stores: options.stores, adminKeys: options.adminKeys });
    if (options.jobs) {
      await app.register(jobRoutes, { jobs: options.jobs, stores: options.stores, limits });
      if (options.events) await app.register(eventRoutes, { jobs: options.jobs, ...options.events });
    }
    if (options.lifecycle) {
      await app.register(adminModelRoutes, {
        service: options.service,
        stores: options.stores,
        adminKeys: options.adminKeys,
        ...options.lifecycle,
      });
      const { uploads, traffic } = options.lifecycle;
      if (uploads) await app.register(adminUploadRoutes, { uploads, limits, adminKeys: options.adminKeys });
      if (traffic) await app.register(endpointRoutes, { traffic, adminKeys: options.adminKeys });
    }
  }
  await app.register(evaluationRoutes, {
    service: options.service,
    stores: options.stores,
    files: options.evalRoot === undefined ? undefined : await DatasetFiles.confined(options.evalRoot),
    adminKeys: options.adminKeys,
    inferenceTimeoutMs: limits.inferenceTimeoutMs,
  });
  await app.register(uiRoutes);
  return app;
}
