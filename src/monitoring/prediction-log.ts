/**
 * One structured log line per prediction (model, version, variant and endpoint, prediction and request ids, timings,
 * uncertainty, what was found), from `prediction.completed`, so it costs the request nothing. Operators turn
 * it off, or down to debug, with `--prediction-log` (env SEGSERVE_PREDICTION_LOG).
 */
import type { InferenceService } from '../serving/service.js';

export const PREDICTION_LOG_LEVELS = ['info', 'debug', 'off'] as const;
export type PredictionLogLevel = (typeof PREDICTION_LOG_LEVELS)[number];

export type LogLine = (fields: Record<string, unknown>, message: string) => void;

const round = (ms: number) => Math.round(ms * 100) / 100;

/** Subscribes the per-prediction line; returns the unsubscribe function (a no-op when off). */
export function logPredictions(service: InferenceService, write: LogLine | undefined): () => void {
  if (!write) return () => {};
  return service.events.on('prediction.completed', 'prediction-log', (event) => {
    const { summary } = event;
    const found =
      summary.task === 'instance'
        ? { instances: summary.instances.length }
        : summary.task === 'tensors'
          ? {}
          : { classes: summary.classes.map((c) => c.label) };
    write(
      {
        model: event.model,
        version: event.version,
        variant: event.variant,
        ...(event.endpoint === undefined ? {} : { endpoint: event.endpoint }),
        source: event.source,
        prediction_id: event.predictionId,
        request_id: event.requestId,
        timings_ms: Object.fromEntries(
          Object.entries(event.timings).map(([stage, ms]) => [stage, round(ms)]),
        ),
        uncertainty: event.uncertainty,
        ...found,
      },
      'prediction',
    );
  });
}
