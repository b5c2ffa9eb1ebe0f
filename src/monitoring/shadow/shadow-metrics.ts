/**
 * The Prometheus metrics of shadow traffic, in the server's registry (unregistered without monitoring, so
 * shadows work the same). Labels are the endpoint and the shadow variant, both names an operator configured in
 * a traffic policy, never anything a client sent.
 */
import { Counter, Histogram, type Registry } from 'prom-client';

/** Agreement 0..1, dense near 1 where two versions of one model land. */
const AGREEMENT_BUCKETS = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 0.98, 0.99, 1];
/** Seconds, shadow minus served: either side may be the faster one. */
const DIFFERENCE_BUCKETS = [
  -1, -0.5, -0.25, -0.1, -0.05, -0.025, -0.01, 0, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5,
];

export const SHADOW_OUTCOMES = ['compared', 'dropped', 'failed', 'not_sampled'] as const;
export type ShadowOutcome = (typeof SHADOW_OUTCOMES)[number];

export class ShadowMetrics {
  readonly #agreement: Histogram<'endpoint' | 'variant'>;
  readonly #requests: Counter<'endpoint' | 'variant' | 'outcome'>;
  readonly #latency: Histogram<'endpoint' | 'variant'>;

  constructor(registry: Registry | undefined) {
    const registers = registry ? [registry] : [];
    this.#agreement = new Histogram({
      name: 'segserve_shadow_agreement',
      help: 'Agreement (0..1) of each shadow answer with the served one: mean IoU over the classes present (semantic, binary), panoptic quality of the matched instances (instance).',
      labelNames: ['endpoint', 'variant'],
      buckets: AGREEMENT_BUCKETS,
      registers,
    });
    this.#requests = new Counter({
      name: 'segserve_shadow_requests_total',
      help: 'Requests of an endpoint for each of its shadow variants, by outcome: compared, dropped (queue full, model busy), failed, not_sampled.',
      labelNames: ['endpoint', 'variant', 'outcome'],
      registers,
    });
    this.#latency = new Histogram({
      name: 'segserve_shadow_latency_difference_seconds',
      help: 'Shadow minus served time for the same request (decode to postprocess; queueing and encoding left out), per compared request.',
      labelNames: ['endpoint', 'variant'],
      buckets: DIFFERENCE_BUCKETS,
      registers,
    });
  }

  /**
   * The series of one endpoint's shadow variant, bound once: prom-client hashes the label set on every labelled
   * call, and `not_sampled` is counted for every request of the endpoint.
   */
  bind(endpoint: string, variant: string): VariantSeries {
    const labels = { endpoint, variant };
    const outcomes = Object.fromEntries(
      SHADOW_OUTCOMES.map((outcome) => [outcome, this.#requests.labels({ ...labels, outcome })]),
    ) as Record<ShadowOutcome, { inc(value?: number): void }>;
    // Every outcome exported from the start (at 0), so that ratios over them are defined before a first drop.
    for (const outcome of SHADOW_OUTCOMES) outcomes[outcome].inc(0);
    const agreement = this.#agreement.labels(labels);
    const latency = this.#latency.labels(labels);
    return {
      count: (outcome) => outcomes[outcome].inc(),
      compared: (value, differenceSeconds) => {
        agreement.observe(value);
        latency.observe(differenceSeconds);
        outcomes.compared.inc();
      },
    };
  }
}

export interface VariantSeries {
  count(outcome: Exclude<ShadowOutcome, 'compared'>): void;
  compared(agreement: number, differenceSeconds: number): void;
}
