/**
 * `GET /v1/monitor`: the recent history of every model version (request rate, latency per stage, queue,
 * uncertainty, class mix, drift) and the gauges of now, as the built-in monitor page charts them. Small JSON
 * read from memory (monitoring/monitor-history.ts), so polling it every few seconds costs next to nothing.
 */
import type { FastifyPluginAsync } from 'fastify';
import { SegserveError } from '../../errors.js';
import { TASKS } from '../../models/config.js';
import { SIGNAL_NAMES } from '../../monitoring/drift/signal-names.js';
import type { MonitorHistory } from '../../monitoring/monitor-history.js';
import type { MonitorJson } from '../../monitoring/monitor-types.js';
import { OUTCOMES } from '../../monitoring/request-outcome.js';
import type { InferenceService } from '../../serving/service.js';
import { STAGES } from '../../serving/types.js';
import { errorResponses } from '../schemas.js';

export interface MonitorRouteOptions {
  service: InferenceService;
  monitor: MonitorHistory;
}

const number = { type: 'number' } as const;
const integer = { type: 'integer' } as const;
const string = { type: 'string' } as const;
const numbers = { type: 'array', items: number } as const;
/** One value per bucket, null where nothing was measured. */
const series = { type: 'array', items: { type: 'number', nullable: true } } as const;
const nullableNumber = { type: 'number', nullable: true } as const;

const byName = <T>(names: readonly string[], schema: T) => ({
  type: 'object',
  required: [...names],
  properties: Object.fromEntries(names.map((name) => [name, schema])),
});

const rates = {
  ...byName(OUTCOMES, numbers),
  description:
    'Requests per second in each bucket by outcome: ok, client_error (the request was at fault), refused ' +
    '(503 back-pressure: QUEUE_FULL, MODEL_NOT_READY...) and server_error (the codes the error-ratio alert counts).',
};

const headline = {
  type: 'object',
  description: 'The last minute (less when the server is younger).',
  required: [
    'seconds',
    'requests_per_second',
    'predictions_per_second',
    'p95_ms',
    'error_ratio',
    'refused_ratio',
  ],
  properties: {
    seconds: number,
    requests_per_second: number,
    predictions_per_second: number,
    p95_ms: { ...nullableNumber, description: 'End-to-end request latency, 95th percentile, ms.' },
    error_ratio: { ...nullableNumber, description: 'Share of requests that failed with a server error.' },
    refused_ratio: { ...nullableNumber, description: 'Share of requests refused by back-pressure.' },
  },
} as const;

const drift = {
  type: 'object',
  nullable: true,
  description: 'Drift monitoring of the version (null without a monitoring.drift block).',
  required: ['phase', 'reference', 'window', 'threshold', 'detected', 'score', 'signal', 'signals'],
  properties: {
    phase: { type: 'string', enum: ['reference', 'filling', 'monitoring'] },
    reference: { type: 'object', required: ['count', 'size'], properties: { count: integer, size: integer } },
    window: { type: 'object', required: ['count', 'size'], properties: { count: integer, size: integer } },
    threshold: number,
    detected: { type: 'boolean' },
    score: { ...nullableNumber, description: 'The largest PSI now.' },
    signal: { type: 'string', nullable: true, enum: [...SIGNAL_NAMES, null] },
    signals: {
      type: 'object',
      description: 'PSI per signal, the last value in each bucket.',
      properties: Object.fromEntries(SIGNAL_NAMES.map((name) => [name, series])),
    },
  },
} as const;

const version = {
  type: 'object',
  required: [
    'model',
    'version',
    'state',
    'ready',
    'queue',
    'headline',
    'predictions',
    'requests',
    'latency_ms',
    'queue_depth',
    'uncertainty',
    'classes',
    'drift',
  ],
  properties: {
    model: string,
    version: integer,
    task: { type: 'string', enum: TASKS },
    state: { type: 'string', enum: ['ready', 'loading', 'failed', 'unloaded'] },
    ready: { type: 'boolean' },
    queue: {
      type: 'object',
      description: 'Requests waiting for a session now, and how many the version admits at once.',
      required: ['depth', 'capacity'],
      properties: { depth: nullableNumber, capacity: nullableNumber },
    },
    headline,
    predictions: { ...numbers, description: 'Predictions per second.' },
    requests: rates,
    latency_ms: {
      type: 'object',
      description: 'Milliseconds per pipeline stage, mean and 95th percentile per bucket.',
      required: ['mean', 'p95'],
      properties: { mean: byName(STAGES, series), p95: byName(STAGES, series) },
    },
    queue_depth: { ...series, description: 'Longest queue seen in each bucket.' },
    uncertainty: {
      type: 'object',
      nullable: true,
      description:
        'Percentiles per bucket of the mean normalised entropy of each prediction (semantic, binary) or of ' +
        'the score of each instance (instance models).',
      required: ['kind', 'p10', 'p50', 'p90'],
      properties: {
        kind: { type: 'string', enum: ['entropy', 'instance_score'] },
        p10: series,
        p50: series,
        p90: series,
      },
    },
    classes: {
      type: 'object',
      description:
        'Share of each class per bucket (instances, or image area): the most frequent classes by name, the rest as "other".',
      required: ['labels', 'shares'],
      properties: { labels: { type: 'array', items: string }, shares: { type: 'array', items: series } },
    },
    drift,
  },
} as const;

const monitorJson = {
  type: 'object',
  required: ['now', 'bucket_seconds', 'window_seconds', 'times', 'server', 'models'],
  properties: {
    now: { ...integer, description: 'Epoch milliseconds of this reading.' },
    bucket_seconds: integer,
    window_seconds: integer,
    times: {
      ...numbers,
      description: 'Start of each bucket in epoch seconds; the last is the current one, still filling.',
    },
    server: {
      type: 'object',
      required: ['status', 'in_flight', 'headline', 'requests'],
      properties: {
        status: { type: 'string', enum: ['ok', 'degraded', 'unavailable'] },
        in_flight: integer,
        headline,
        requests: rates,
      },
    },
    models: { type: 'array', items: version },
  },
} as const;

const WINDOW = /^([1-9][0-9]{0,5})(s|m)?$/;

/** `300`, `300s` or `5m`: seconds of history, between one bucket and the whole history. */
export function parseWindow(text: string, monitor: Pick<MonitorHistory, 'bucketSeconds' | 'historySeconds'>) {
  const match = WINDOW.exec(text);
  const seconds = match ? Number(match[1]) * (match[2] === 'm' ? 60 : 1) : Number.NaN;
  if (!(seconds >= monitor.bucketSeconds && seconds <= monitor.historySeconds)) {
    throw new SegserveError('INVALID_ARGUMENT', {
      reason:
        `window must be a duration from ${monitor.bucketSeconds}s to ${monitor.historySeconds / 60}m, ` +
        `in seconds (300, 300s) or minutes (5m), not "${text.slice(0, 40)}"`,
    });
  }
  return seconds;
}

export const monitorRoutes: FastifyPluginAsync<MonitorRouteOptions> = async (app, { service, monitor }) => {
  app.get<{ Querystring: { model?: string; window?: string } }>(
    '/v1/monitor',
    {
      // The monitor page polls it every few seconds; its lines would drown the request log.
      logLevel: 'warn',
      schema: {
        tags: ['monitoring'],
        summary: 'Recent history and current gauges of every model version, for the monitor page',
        description:
          'Request rate, latency per stage, queue depth, uncertainty, class mix and drift per model version in ' +
          `${monitor.bucketSeconds} s buckets over the last ${monitor.historySeconds / 60} minutes (kept in memory), ` +
          'with the figures of the last minute and the gauges of now.',
        querystring: {
          type: 'object',
          properties: {
            model: { type: 'string', description: 'Only this model (404 MODEL_NOT_FOUND if unknown).' },
            window: {
              type: 'string',
              description: `Seconds of history (300, 300s or 5m), ${monitor.bucketSeconds}s to ${monitor.historySeconds / 60}m; default all of it.`,
            },
          },
        },
        response: { 200: monitorJson, ...errorResponses },
      },
    },
    async (request): Promise<MonitorJson> => {
      const { model, window } = request.query;
      const windowSeconds = window === undefined ? undefined : parseWindow(window, monitor);
      if (model !== undefined && !service.repository.get(model)) {
        throw new SegserveError('MODEL_NOT_FOUND', { model: model.slice(0, 128) });
      }
      return monitor.read({ model, windowSeconds });
    },
  );
};
