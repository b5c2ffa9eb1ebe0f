/**
 * The decision "keep this prediction for labelling?", one Sampler per model version, made after the answer has
 * gone out. It stores nothing (a sink does, later); it only says which strategy kept a prediction.
 *
 * Each prediction goes through, in this order:
 * 1. Scored (uncertainty.ts); a prediction without uncertainty (raw tensors) is refused as `unscored`.
 * 2. The `classes` filter: it must contain one of the classes (refused as `class`).
 * 3. The strategies, all evaluated so each keeps its own state whatever the others decide. The first that
 *    selects names the decision: `random` first, so that the predictions tagged `random` stay an unbiased
 *    sample of those passing the filter (had entropy been asked first, the random sample would lack the
 *    uncertain ones); then `entropy`, `top_k`, and `drift_capture`, the catch-all, last. None: `not_selected`.
 * 4. `dedupe`: refused as `duplicate` when the input's perceptual hash is near one of the recently kept.
 *    Without a hash (the caller had no pixels) there is nothing to compare and the prediction goes on.
 * 5. The quotas, all strategies together: refused as `quota_per_minute`, `quota_per_hour` or `quota_per_day`
 *    (the first full one, in that order) once a window holds its limit.
 * Only a kept prediction updates the dedupe memory and the quotas. The work per prediction is a few
 * comparisons, one O(log k) heap step and, for would-be keeps, the dedupe scan; nothing is allocated unless a
 * prediction is kept.
 */
import { type ModelConfig, parseDuration, type SamplingConfig } from '../../models/index.js';
import type { DriftDetected, PredictionCompleted, PredictionSummary } from '../../serving/events.js';
import { SlidingQuota } from './quota.js';
import { RecentHashes } from './recent-hashes.js';
import { TopKWindow } from './top-k.js';
import { uncertaintyScore } from './uncertainty.js';

export const STRATEGIES = ['random', 'entropy', 'top_k', 'drift_capture'] as const;
export type Strategy = (typeof STRATEGIES)[number];

export const REFUSALS = [
  'unscored',
  'class',
  'not_selected',
  'duplicate',
  'quota_per_minute',
  'quota_per_hour',
  'quota_per_day',
] as const;
export type Refusal = (typeof REFUSALS)[number];

export interface Decision {
  strategy: Strategy;
  /** The uncertainty score in [0, 1] the decision was made on (uncertainty.ts). */
  uncertainty: number;
}

export interface SamplerCounters {
  /** Predictions decided on. Each is either kept by one strategy or refused for one reason. */
  seen: number;
  kept: Record<Strategy, number>;
  refused: Record<Refusal, number>;
}

export interface SamplerOptions {
  /** Epoch milliseconds; windows, quotas and drift capture read this clock, so tests never sleep. */
  now?: () => number;
  /** Uniform in [0, 1), for the random strategy; seed it in tests. */
  random?: () => number;
}

const QUOTA_WINDOWS = [
  ['per_minute', 60_000],
  ['per_hour', 3_600_000],
  ['per_day', 86_400_000],
] as const;

function durationMs(text: string): number {
  const ms = parseDuration(text);
  // The config schema already refused anything else; a config built around it is a programming error.
  if (ms === undefined) throw new RangeError(`not a sampling duration: "${text}"`);
  return ms;
}

function containsClass(summary: PredictionSummary, classes: ReadonlySet<string>): boolean {
  if (summary.task === 'instance') return summary.instances.some((instance) => classes.has(instance.label));
  if (summary.task === 'tensors') return false;
  // Classification models cannot be sampled (their config refuses `sampling`); their top classes would do.
  return summary.classes.some((area) => classes.has(area.label));
}

export class Sampler {
  readonly model: string;
  readonly version: number;
  readonly #now: () => number;
  readonly #random: () => number;
  readonly #classes?: ReadonlySet<string>;
  readonly #entropyMin?: number;
  readonly #fraction?: number;
  readonly #topK?: TopKWindow;
  readonly #captureMs?: number;
  #captureUntil = Number.NEGATIVE_INFINITY;
  readonly #dedupe?: { recent: RecentHashes; maxHamming: number };
  readonly #quotas: Array<{ reason: Refusal; quota: SlidingQuota }>;
  #seen = 0;
  readonly #kept = Object.fromEntries(STRATEGIES.map((s) => [s, 0])) as Record<Strategy, number>;
  readonly #refused = Object.fromEntries(REFUSALS.map((r) => [r, 0])) as Record<Refusal, number>;

  constructor(model: string, version: number, config: SamplingConfig, options: SamplerOptions = {}) {
    this.model = model;
    this.version = version;
    this.#now = options.now ?? Date.now;
    this.#random = options.random ?? Math.random;
    if (config.classes) this.#classes = new Set(config.classes);
    this.#entropyMin = config.entropy?.min;
    this.#fraction = config.random?.fraction;
    if (config.top_k) this.#topK = new TopKWindow(config.top_k.k, durationMs(config.top_k.per));
    if (config.drift_capture) this.#captureMs = durationMs(config.drift_capture.for);
    if (config.dedupe) {
      this.#dedupe = {
        recent: new RecentHashes(config.dedupe.recent),
        maxHamming: config.dedupe.max_hamming,
      };
    }
    this.#quotas = QUOTA_WINDOWS.flatMap(([key, windowMs]) => {
      const limit = config.quota?.[key];
      return limit === undefined
        ? []
        : [{ reason: `quota_${key}` as const, quota: new SlidingQuota(limit, windowMs) }];
    });
  }

  /**
   * Whether to keep `event` for labelling, and why; undefined when it is refused (counted by reason).
   * `inputHash` is the input's perceptual hash (image/perceptual-hash.ts), for `dedupe`.
   */
  decide(event: PredictionCompleted, inputHash?: bigint): Decision | undefined {
    this.#seen++;
    const score = uncertaintyScore(event.uncertainty);
    if (score === undefined) return this.#refuse('unscored');
    if (this.#classes && !containsClass(event.summary, this.#classes)) return this.#refuse('class');
    const now = this.#now();
    const strategy = this.#select(score, now);
    if (strategy === undefined) return this.#refuse('not_selected');
    const dedupe = this.#dedupe;
    if (dedupe && inputHash !== undefined && dedupe.recent.near(inputHash, dedupe.maxHamming)) {
      return this.#refuse('duplicate');
    }
    for (const { reason, quota } of this.#quotas) {
      if (quota.full(now)) return this.#refuse(reason);
    }
    for (const { quota } of this.#quotas) quota.record(now);
    if (dedupe && inputHash !== undefined) dedupe.recent.add(inputHash);
    this.#kept[strategy]++;
    return { strategy, uncertainty: score };
  }

  /**
   * A `drift.detected` event: one that reports drift on this sampler's model version starts (or extends) the
   * capture for `drift_capture.for`. Others, and drift clearing, change nothing: the capture runs its course.
   */
  onDrift(event: DriftDetected): void {
    if (this.#captureMs === undefined || !event.detected) return;
    if (event.model !== this.model || event.version !== this.version) return;
    this.#captureUntil = Math.max(this.#captureUntil, this.#now() + this.#captureMs);
  }

  counters(): SamplerCounters {
    return { seen: this.#seen, kept: { ...this.#kept }, refused: { ...this.#refused } };
  }

  /** The strategy that keeps a prediction of this score, in the precedence of the module comment. */
  #select(score: number, now: number): Strategy | undefined {
    // Every strategy with state or randomness runs on every candidate, whatever comes first: the random draw
    // stays independent of the score, and top_k ranks every prediction of its window.
    const drawn = this.#fraction !== undefined && this.#random() < this.#fraction;
    const ranked = this.#topK?.observe(score, now) ?? false;
    if (drawn) return 'random';
    if (this.#entropyMin !== undefined && score >= this.#entropyMin) return 'entropy';
    if (ranked) return 'top_k';
    if (now < this.#captureUntil) return 'drift_capture';
    return undefined;
  }

  #refuse(reason: Refusal): undefined {
    this.#refused[reason]++;
    return undefined;
  }
}

/** The sampler of one model version, from its config; undefined for a model without `sampling` (it keeps nothing). */
export function createSampler(
  target: { model: string; version: number; config: Pick<ModelConfig, 'sampling'> },
  options: SamplerOptions = {},
): Sampler | undefined {
  const { sampling } = target.config;
  return sampling ? new Sampler(target.model, target.version, sampling, options) : undefined;
}
