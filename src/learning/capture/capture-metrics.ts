/**
 * The capture's Prometheus metrics (in the server's registry when monitoring is on; unregistered otherwise, so
 * the capture counts the same way either way). The sampler's refusals and the spool's size are read at scrape
 * time, so a prediction pays nothing for them; the rest is counted per stored or failed sample, with label
 * sets bound once.
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import { REFUSALS, type Sampler } from '../sampler/index.js';
import type { SampleMeta } from './sample-record.js';

/**
 * Why a sample was not stored at once: `unavailable`, the store could not be reached and the sample went to
 * the spool (stored later, not lost); every other reason is a sample dropped.
 */
export const FAILURE_REASONS = [
  'unavailable',
  'refused',
  'queue_full',
  'spool_full',
  'spool_error',
  'encode_error',
] as const;
export type FailureReason = (typeof FAILURE_REASONS)[number];

export interface CaptureSources {
  samplers(): Iterable<Sampler>;
  spool(): { items: number; bytes: number };
}

export interface CaptureTotals {
  stored: number;
  failures: Record<FailureReason, number>;
}

export class CaptureMetrics {
  readonly #stored: Counter<'model' | 'version' | 'strategy'>;
  readonly #storedBound = new Map<string, Counter.Internal>();
  readonly #failures: Counter<'reason'>;
  readonly #failureBound: Record<FailureReason, Counter.Internal>;

  constructor(registry: Registry | undefined, sources: CaptureSources) {
    const registers = registry ? [registry] : [];
    this.#stored = new Counter({
      name: 'segserve_samples_total',
      help: 'Sampled predictions stored for labelling (image, prediction and row), by model, version and the strategy that kept them.',
      labelNames: ['model', 'version', 'strategy'],
      registers,
    });
    new Counter({
      name: 'segserve_sampler_refused_total',
      help: 'Predictions the sampler did not keep, by model, version and reason (not_selected, duplicate, quota_per_hour...).',
      labelNames: ['model', 'version', 'reason'],
      registers,
      collect() {
        this.reset();
        for (const sampler of sources.samplers()) {
          const { refused } = sampler.counters();
          const version = String(sampler.version);
          for (const reason of REFUSALS) {
            if (refused[reason] > 0) this.inc({ model: sampler.model, version, reason }, refused[reason]);
          }
        }
      },
    });
    new Gauge({
      name: 'segserve_sample_spool_items',
      help: 'Samples waiting in the local spool for the store to come back.',
      registers,
      collect() {
        this.set(sources.spool().items);
      },
    });
    new Gauge({
      name: 'segserve_sample_spool_bytes',
      help: 'Bytes of the samples waiting in the local spool (bounded by --max-sample-spool-bytes).',
      registers,
      collect() {
        this.set(sources.spool().bytes);
      },
    });
    this.#failures = new Counter({
      name: 'segserve_sample_store_failures_total',
      help: 'Samples not stored at once, by reason: unavailable (the store was unreachable: spooled, stored later) or why it was dropped.',
      labelNames: ['reason'],
      registers,
    });
    this.#failureBound = Object.fromEntries(
      FAILURE_REASONS.map((reason) => [reason, this.#failures.labels({ reason })]),
    ) as Record<FailureReason, Counter.Internal>;
  }

  stored(meta: SampleMeta): void {
    const key = `${meta.model}\u0000${meta.version}\u0000${meta.strategy}`;
    let child = this.#storedBound.get(key);
    if (!child) {
      child = this.#stored.labels({
        model: meta.model,
        version: String(meta.version),
        strategy: meta.strategy,
      });
      this.#storedBound.set(key, child);
    }
    child.inc();
  }

  failure(reason: FailureReason): void {
    this.#failureBound[reason].inc();
  }

  /** What was counted since start, summed over labels. */
  async totals(): Promise<CaptureTotals> {
    const stored = (await this.#stored.get()).values.reduce((sum, sample) => sum + sample.value, 0);
    const failures = Object.fromEntries(FAILURE_REASONS.map((reason) => [reason, 0])) as Record<
      FailureReason,
      number
    >;
    for (const sample of (await this.#failures.get()).values) {
      failures[sample.labels.reason as FailureReason] = sample.value;
    }
    return { stored, failures };
  }
}
