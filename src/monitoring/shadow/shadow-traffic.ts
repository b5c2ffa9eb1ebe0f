/**
 * Shadow traffic: copies of live requests run on an endpoint's shadow variants after the answer was sent, and
 * the shadow's masks compared with the served ones (src/eval/agreement.ts).
 *
 * It hangs off `prediction.completed`, which the serving core publishes once the answer is out (on ticket
 * release) and which carries the image bytes, the served result and the endpoint's shadow variants. For each
 * shadow, the request is sampled at the variant's `sampleRate`, then queued for it. Nothing here can slow or
 * fail the request it copies, which is already answered; what remains is not to starve the requests still to
 * come, and not to grow without bound:
 *
 * - One small queue per endpoint and shadow variant (`queueSize`, default 4). A copy that finds it full is
 *   dropped and counted (`queue_full`), never waited for: a shadow slower than its traffic sees a sample of it.
 * - At most `concurrency` shadow runs at once across the server (default 1), taken from the queues in turn, and
 *   for at most `dutyCycle` of the time (default 0.25): after a run of t ms the next waits t (1/dutyCycle - 1)
 *   ms. A shadow is often a slower model than the one serving, and on a machine of a few cores its inference
 *   takes CPU from the served requests: measured here (2 cores, bench/shadow.ts, one request at a time), an
 *   int8 yolov8n-seg shadow of every request running back to back put 1.75x on the served p50, 1.18x at a duty
 *   cycle of 0.5. The duty cycle bounds that share whatever the shadow's speed; what does not fit in it is
 *   dropped like any copy that finds the queue full.
 * - A shadow never waits behind live traffic. It runs only when its model version has a free worker now (and
 *   admission lets it in); otherwise it is dropped (`busy`) rather than queued in the model's own queue, where
 *   it would hold a place that a live request could need (admission counts shadows like any request, and a
 *   full version refuses live requests with 503). Should live requests take the worker between that check and
 *   the run, the shadow gives up after `waitMs` (default 1 s) without a worker, also as `busy`. Waiting longer
 *   would only compare an older request later; dropping keeps the comparisons a fair sample of when the
 *   shadow's model was free.
 * - A shadow that fails (its model throws, is not loaded, answers another task) is counted and logged, at most
 *   one line per variant a minute. The client never sees any of it: its answer was sent before the copy was
 *   made, and the shadow's run is made with the source `shadow`, which the core does not publish (no metrics
 *   of live traffic, no drift, no sampling, and no shadow of a shadow).
 *
 * The comparisons are kept as metrics (shadow-metrics.ts), as running figures per variant (count, agreement
 * histogram and mean, latency means) and as the `keep` least agreeing comparisons per variant, with their
 * image and both results, within `keepBytes` in all (the most agreeing is let go first), for the API and the
 * UI to show side by side.
 */
import { randomUUID } from 'node:crypto';
import type { Registry } from 'prom-client';
import sharp from 'sharp';
import { isSegserveError, SegserveError } from '../../errors.js';
import { compareSegmentations, type SegmentationAgreement } from '../../eval/index.js';
import type { PredictionCompleted } from '../../serving/events.js';
import type { Segmentation } from '../../serving/pipeline.js';
import type { InferenceService, Ticket } from '../../serving/service.js';
import type { StageTimings } from '../../serving/types.js';
import type { MaskResult } from '../../tasks/types.js';
import { LogThrottle } from '../log-throttle.js';
import { comparisonPng } from './comparison-png.js';
import { ShadowMetrics, type ShadowOutcome, type VariantSeries } from './shadow-metrics.js';
import type {
  EndpointShadowsJson,
  ShadowComparisonJson,
  ShadowDetailJson,
  ShadowDropsJson,
  ShadowListJson,
  ShadowRequestsJson,
  ShadowVariantJson,
} from './wire-types.js';

/** One shadow variant of an endpoint, as the event carries it. */
export type ShadowTarget = NonNullable<PredictionCompleted['shadows']>[number];

export type ShadowLog = (level: 'warn' | 'info', fields: Record<string, unknown>, message: string) => void;

export interface ShadowOptions {
  /** The server's metrics registry; none when monitoring is off (shadows run the same, without metrics). */
  registry?: Registry;
  log?: ShadowLog;
  /** Copies waiting per endpoint and shadow variant; more are dropped (default 4). */
  queueSize?: number;
  /** Shadow runs at once, across the server (default 1). */
  concurrency?: number;
  /** Share of the time shadows may run, (0, 1] (default 0.5): see the module comment. */
  dutyCycle?: number;
  /** Longest wait of a shadow for a worker of its model, in ms (default 1000); then it is dropped. */
  waitMs?: number;
  /** Least agreeing comparisons kept per variant, with image and results (default 10). */
  keep?: number;
  /** Bytes of images and masks the kept comparisons may hold in all (default 64 MiB). */
  keepBytes?: number;
  /** Endpoint/variant pairs followed; the least recently active goes first (default 64). */
  maxVariants?: number;
  /** Sampling: a number in [0, 1) per decision (default Math.random). */
  random?: () => number;
}

export const SHADOW_DEFAULTS = {
  queueSize: 4,
  concurrency: 1,
  dutyCycle: 0.25,
  waitMs: 1_000,
  keep: 10,
  keepBytes: 64 * 1024 * 1024,
  maxVariants: 64,
} as const;

/** Agreement histogram: 20 bins of 0.05. */
const BINS = 20;
const EDGES = Array.from({ length: BINS + 1 }, (_, i) => Math.round((i / BINS) * 100) / 100);
/** Refusals and timeouts of a busy model: the shadow is dropped, not failed. */
const BUSY_CODES = new Set(['QUEUE_FULL', 'DECODE_BUDGET_FULL', 'INFERENCE_TIMEOUT']);
/** Formats browsers show as they are; others are sent as PNG. */
const BROWSER_FORMATS = new Set(['jpeg', 'png', 'webp', 'gif', 'avif']);
const FAILURE_LOG_INTERVAL_MS = 60_000;

export type ComparisonPart = 'image' | 'served' | 'shadow';

/** What answered the client. */
interface ServedBy {
  model: string;
  version: number;
  variant: string;
}

interface Job {
  servedBy: ServedBy;
  bytes: Uint8Array;
  format: string;
  served: MaskResult;
  servedMs: number;
  at: number;
  requestId?: string;
}

interface Kept {
  id: string;
  servedBy: ServedBy;
  at: number;
  requestId?: string;
  agreement: number;
  servedMs: number;
  shadowMs: number;
  bytes: Uint8Array;
  format: string;
  served: MaskResult;
  shadow: MaskResult;
  comparison: SegmentationAgreement;
  /** What it holds in memory, roughly: the image and the masks of both results. */
  size: number;
}

interface VariantState {
  key: string;
  endpoint: string;
  target: ShadowTarget;
  series: VariantSeries;
  queue: Job[];
  requests: ShadowRequestsJson;
  drops: ShadowDropsJson;
  task: MaskResult['task'] | null;
  agreementSum: number;
  agreementMin: number | null;
  histogram: number[];
  servedMsSum: number;
  shadowMsSum: number;
  matchedIouSum: number;
  matchedIouCount: number;
  classAgreementSum: number;
  classAgreementCount: number;
  countDifferenceSum: number;
  /** Least agreeing first. */
  kept: Kept[];
}

/** The time a side spent on the request itself: decoding to postprocessing, no queueing, no answer encoding. */
function modelMs(timings: StageTimings): number {
  return timings.decode + timings.preprocess + timings.infer + timings.postprocess;
}

function resultSize(result: MaskResult): number {
  if (result.task !== 'instance') return result.classMap.length;
  return result.instances.reduce((sum, instance) => sum + instance.mask.data.length, 0);
}

function codeOf(error: unknown): string {
  return isSegserveError(error) ? error.code : 'INTERNAL_ERROR';
}

export class ShadowTraffic {
  readonly #service: InferenceService;
  readonly #log: ShadowLog;
  readonly #metrics: ShadowMetrics;
  readonly #throttle = new LogThrottle(FAILURE_LOG_INTERVAL_MS);
  readonly #random: () => number;
  readonly #queueSize: number;
  readonly #concurrency: number;
  readonly #dutyCycle: number;
  readonly #waitMs: number;
  readonly #keep: number;
  readonly #keepBytes: number;
  readonly #maxVariants: number;
  /** By endpoint and variant, least recently active first. */
  readonly #variants = new Map<string, VariantState>();
  readonly #kept = new Map<string, { state: VariantState; kept: Kept }>();
  readonly #unsubscribe: () => void;
  #keptBytes = 0;
  #running = 0;
  /** performance.now() before which no shadow run starts (the duty cycle), and the timer that waits for it. */
  #resumeAt = 0;
  #timer: NodeJS.Timeout | undefined;
  /** The key of the variant whose queue was served last (queues take turns). */
  #lastKey: string | undefined;
  #idle: Array<() => void> = [];
  #closed = false;

  constructor(service: InferenceService, options: ShadowOptions = {}) {
    this.#service = service;
    this.#log = options.log ?? (() => {});
    this.#metrics = new ShadowMetrics(options.registry);
    this.#random = options.random ?? Math.random;
    this.#queueSize = positive('queueSize', options.queueSize ?? SHADOW_DEFAULTS.queueSize, 0);
    this.#concurrency = positive('concurrency', options.concurrency ?? SHADOW_DEFAULTS.concurrency, 1);
    this.#dutyCycle = options.dutyCycle ?? SHADOW_DEFAULTS.dutyCycle;
    if (!(this.#dutyCycle > 0 && this.#dutyCycle <= 1)) {
      throw new SegserveError('INVALID_ARGUMENT', {
        reason: `shadow dutyCycle must be within (0, 1], not ${this.#dutyCycle}`,
      });
    }
    this.#waitMs = positive('waitMs', options.waitMs ?? SHADOW_DEFAULTS.waitMs, 0);
    this.#keep = positive('keep', options.keep ?? SHADOW_DEFAULTS.keep, 0);
    this.#keepBytes = positive('keepBytes', options.keepBytes ?? SHADOW_DEFAULTS.keepBytes, 0);
    this.#maxVariants = positive('maxVariants', options.maxVariants ?? SHADOW_DEFAULTS.maxVariants, 1);
    this.#unsubscribe = service.events.on('prediction.completed', 'shadow', (event) => this.observe(event));
  }

  /** Samples and queues copies of one served request for its endpoint's shadows (the event subscription). */
  observe(event: PredictionCompleted): void {
    if (this.#closed || !event.shadows || event.shadows.length === 0) return;
    const endpoint = event.endpoint ?? event.model;
    const { result, imageBytes, image } = event;
    for (const target of event.shadows) {
      const state = this.#state(endpoint, target);
      if (!(this.#random() < target.sampleRate)) {
        this.#count(state, 'not_sampled');
        continue;
      }
      // Masks are compared: raw tensors (/v2) have none, nor have classifiers' answers.
      if (!result || result.task === 'classification' || !imageBytes || !image) {
        this.#drop(state, 'not_comparable');
        continue;
      }
      if (state.queue.length >= this.#queueSize) {
        this.#drop(state, 'queue_full');
        continue;
      }
      state.queue.push({
        servedBy: { model: event.model, version: event.version, variant: event.variant },
        bytes: imageBytes,
        format: image.format,
        served: result,
        servedMs: modelMs(event.timings),
        at: event.at,
        requestId: event.requestId,
      });
    }
    this.#pump();
  }

  /** Every endpoint with shadow figures, by name. */
  list(): ShadowListJson {
    const names = [...new Set([...this.#variants.values()].map((state) => state.endpoint))].sort();
    return { endpoints: names.map((name) => this.summary(name)) };
  }

  /** The figures of one endpoint's shadow variants (none yet: an empty list). */
  summary(endpoint: string): EndpointShadowsJson {
    const variants = [...this.#variants.values()]
      .filter((state) => state.endpoint === endpoint)
      .sort((a, b) => a.target.variant.localeCompare(b.target.variant))
      .map((state) => this.#variantJson(state));
    return { endpoint, variants };
  }

  /** The image, or one side's masks as PNG, of a kept comparison; SHADOW_COMPARISON_NOT_FOUND when not kept. */
  async part(
    endpoint: string,
    id: string,
    part: ComparisonPart,
  ): Promise<{ contentType: string; body: Buffer }> {
    const found = this.#kept.get(id);
    if (!found || found.state.endpoint !== endpoint) {
      throw new SegserveError('SHADOW_COMPARISON_NOT_FOUND', {
        id: id.slice(0, 64),
        endpoint: endpoint.slice(0, 128),
      });
    }
    const { kept } = found;
    if (part === 'image') {
      const body = Buffer.from(kept.bytes.buffer, kept.bytes.byteOffset, kept.bytes.byteLength);
      if (BROWSER_FORMATS.has(kept.format)) return { contentType: `image/${kept.format}`, body };
      // Oriented as the masks are (the pipeline applies EXIF orientation before the model sees the image).
      return { contentType: 'image/png', body: await sharp(body).rotate().png().toBuffer() };
    }
    return { contentType: 'image/png', body: comparisonPng(part, kept.served, kept.shadow, kept.comparison) };
  }

  /** Resolves once no copy is queued or running (tests, and an orderly close). */
  settled(): Promise<void> {
    if (this.#isIdle()) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  /** Takes no more copies, drops what is queued, and waits for the runs in flight. */
  async close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      this.#unsubscribe();
      clearTimeout(this.#timer);
      this.#timer = undefined;
      for (const state of this.#variants.values()) state.queue.length = 0;
      this.#notifyIdle();
    }
    await this.settled();
  }

  #notifyIdle(): void {
    if (!this.#isIdle()) return;
    const waiting = this.#idle;
    this.#idle = [];
    for (const resolve of waiting) resolve();
  }

  #isIdle(): boolean {
    return this.#running === 0 && [...this.#variants.values()].every((state) => state.queue.length === 0);
  }

  #state(endpoint: string, target: ShadowTarget): VariantState {
    const key = `${endpoint}\u0000${target.variant}`;
    let state = this.#variants.get(key);
    if (state && (state.target.model !== target.model || state.target.version !== target.version)) {
      // The variant names another model or version now: its figures start again.
      this.#forget(state);
      state = undefined;
    }
    if (state) {
      state.target = target;
      // Most recently active last.
      this.#variants.delete(key);
      this.#variants.set(key, state);
      return state;
    }
    state = {
      key,
      endpoint,
      target,
      series: this.#metrics.bind(endpoint, target.variant),
      queue: [],
      requests: { compared: 0, dropped: 0, failed: 0, not_sampled: 0 },
      drops: { queue_full: 0, busy: 0, not_comparable: 0 },
      task: null,
      agreementSum: 0,
      agreementMin: null,
      histogram: new Array<number>(BINS).fill(0),
      servedMsSum: 0,
      shadowMsSum: 0,
      matchedIouSum: 0,
      matchedIouCount: 0,
      classAgreementSum: 0,
      classAgreementCount: 0,
      countDifferenceSum: 0,
      kept: [],
    };
    this.#variants.set(key, state);
    while (this.#variants.size > this.#maxVariants) {
      const oldest = this.#variants.values().next().value;
      if (!oldest) break;
      this.#forget(oldest);
    }
    return state;
  }

  #forget(state: VariantState): void {
    this.#variants.delete(state.key);
    state.queue.length = 0;
    for (const kept of state.kept) this.#unkeep(state, kept);
  }

  #count(state: VariantState, outcome: Exclude<ShadowOutcome, 'compared'>): void {
    state.requests[outcome]++;
    state.series.count(outcome);
  }

  #drop(state: VariantState, reason: keyof ShadowDropsJson): void {
    state.drops[reason]++;
    this.#count(state, 'dropped');
  }

  #fail(state: VariantState, error: unknown): void {
    this.#count(state, 'failed');
    const { endpoint, target } = state;
    const admitted = this.#throttle.admit(state.key);
    if (!admitted) return;
    this.#log(
      'warn',
      {
        endpoint,
        variant: target.variant,
        model: target.model,
        version: target.version,
        code: codeOf(error),
        error: error instanceof Error ? error.message : String(error),
        suppressed: admitted.suppressed,
      },
      'shadow failed',
    );
  }

  /** Starts queued copies while there is room and the duty cycle allows, the queues taking turns. */
  #pump(): void {
    while (this.#running < this.#concurrency && !this.#timer) {
      const wait = this.#resumeAt - performance.now();
      if (wait > 0) {
        if (this.#isIdle()) break;
        this.#timer = setTimeout(() => {
          this.#timer = undefined;
          this.#pump();
        }, wait);
        // Queued copies are not worth keeping a process alive for.
        this.#timer.unref();
        break;
      }
      const state = this.#nextQueue();
      const job = state?.queue.shift();
      if (!state || !job) break;
      this.#running++;
      const started = performance.now();
      void this.#run(state, job).finally(() => {
        const now = performance.now();
        this.#resumeAt = Math.max(this.#resumeAt, now + (now - started) * (1 / this.#dutyCycle - 1));
        this.#running--;
        this.#pump();
        this.#notifyIdle();
      });
    }
  }

  #nextQueue(): VariantState | undefined {
    const states = [...this.#variants.values()];
    const last = this.#lastKey === undefined ? -1 : states.findIndex((s) => s.key === this.#lastKey);
    for (let k = 1; k <= states.length; k++) {
      const state = states[(last + k) % states.length];
      if (state.queue.length > 0) {
        this.#lastKey = state.key;
        return state;
      }
    }
    return undefined;
  }

  async #run(state: VariantState, job: Job): Promise<void> {
    const { model, version } = state.target;
    let ticket: Ticket;
    try {
      const loaded = this.#service.resolve({ model, version });
      const { busy, queued, instances } = loaded.runtime.stats();
      if (busy + queued >= instances) {
        this.#drop(state, 'busy');
        return;
      }
      ticket = this.#service.admit({ model, version }, { source: 'shadow', requestId: job.requestId });
    } catch (error) {
      if (BUSY_CODES.has(codeOf(error))) this.#drop(state, 'busy');
      else this.#fail(state, error);
      return;
    }
    let shadow: Segmentation;
    try {
      shadow = await this.#service.segment(ticket, job.bytes, { timeoutMs: this.#waitMs });
    } catch (error) {
      if (BUSY_CODES.has(codeOf(error))) this.#drop(state, 'busy');
      else this.#fail(state, error);
      return;
    } finally {
      ticket.release();
    }
    let comparison: SegmentationAgreement;
    const result = shadow.result;
    try {
      if (result.task === 'classification') {
        throw new SegserveError('EVAL_INPUT_INVALID', {
          source: 'comparison',
          reason: `the shadow is a classifier: its answer has no masks to compare with the served ${job.served.task} masks`,
        });
      }
      comparison = compareSegmentations(job.served, result);
    } catch (error) {
      this.#fail(state, error);
      return;
    }
    // A variant forgotten meanwhile (evicted, or retargeted) records nothing more.
    if (this.#variants.get(state.key) !== state) return;
    this.#record(state, job, result, modelMs(shadow.timings), comparison);
  }

  #record(
    state: VariantState,
    job: Job,
    shadow: MaskResult,
    shadowMs: number,
    comparison: SegmentationAgreement,
  ): void {
    const { agreement } = comparison;
    state.requests.compared++;
    state.series.compared(agreement, (shadowMs - job.servedMs) / 1000);
    state.task = job.served.task;
    state.agreementSum += agreement;
    state.agreementMin = state.agreementMin === null ? agreement : Math.min(state.agreementMin, agreement);
    state.histogram[Math.min(BINS - 1, Math.floor(agreement * BINS))]++;
    state.servedMsSum += job.servedMs;
    state.shadowMsSum += shadowMs;
    if (comparison.kind === 'instances') {
      state.countDifferenceSum += comparison.countDifference;
      if (comparison.meanMatchedIou !== null) {
        state.matchedIouSum += comparison.meanMatchedIou;
        state.matchedIouCount++;
      }
      if (comparison.classAgreement !== null) {
        state.classAgreementSum += comparison.classAgreement;
        state.classAgreementCount++;
      }
    }
    this.#keepIfWorse(state, {
      id: randomUUID(),
      servedBy: job.servedBy,
      at: job.at,
      requestId: job.requestId,
      agreement,
      servedMs: job.servedMs,
      shadowMs,
      bytes: job.bytes,
      format: job.format,
      served: job.served,
      shadow,
      comparison,
      size: job.bytes.byteLength + resultSize(job.served) + resultSize(shadow),
    });
  }

  /** Keeps the comparison when it is among the variant's least agreeing, within the byte budget. */
  #keepIfWorse(state: VariantState, kept: Kept): void {
    if (this.#keep === 0 || kept.size > this.#keepBytes) return;
    const { kept: list } = state;
    const worst = list.at(-1);
    if (list.length >= this.#keep && worst && worst.agreement <= kept.agreement) return;
    const at = list.findIndex((k) => k.agreement > kept.agreement);
    list.splice(at < 0 ? list.length : at, 0, kept);
    this.#kept.set(kept.id, { state, kept });
    this.#keptBytes += kept.size;
    if (list.length > this.#keep) {
      const last = list.at(-1);
      if (last) this.#unkeep(state, last);
    }
    // Over the byte budget: the most agreeing comparison kept anywhere goes first.
    while (this.#keptBytes > this.#keepBytes) {
      let most: { state: VariantState; kept: Kept } | undefined;
      for (const entry of this.#kept.values()) {
        if (!most || entry.kept.agreement > most.kept.agreement) most = entry;
      }
      if (!most) break;
      this.#unkeep(most.state, most.kept);
    }
  }

  #unkeep(state: VariantState, kept: Kept): void {
    const index = state.kept.indexOf(kept);
    if (index >= 0) state.kept.splice(index, 1);
    if (this.#kept.delete(kept.id)) this.#keptBytes -= kept.size;
  }

  #variantJson(state: VariantState): ShadowVariantJson {
    const { target, requests } = state;
    const compared = requests.compared;
    const mean = (sum: number, count: number) => (count === 0 ? null : sum / count);
    return {
      variant: target.variant,
      model: target.model,
      version: target.version,
      sample_rate: target.sampleRate,
      task: state.task,
      requests: { ...requests },
      dropped_by_reason: { ...state.drops },
      queue: { depth: state.queue.length, capacity: this.#queueSize },
      agreement: {
        mean: mean(state.agreementSum, compared),
        min: state.agreementMin,
        histogram: { edges: [...EDGES], counts: [...state.histogram] },
      },
      instances:
        state.task === 'instance'
          ? {
              mean_matched_iou: mean(state.matchedIouSum, state.matchedIouCount),
              class_agreement: mean(state.classAgreementSum, state.classAgreementCount),
              mean_count_difference: compared === 0 ? 0 : state.countDifferenceSum / compared,
            }
          : null,
      latency_ms: {
        served: mean(state.servedMsSum, compared),
        shadow: mean(state.shadowMsSum, compared),
        difference: mean(state.shadowMsSum - state.servedMsSum, compared),
      },
      disagreements: state.kept.map((kept) => comparisonJson(state.endpoint, kept)),
    };
  }
}

function positive(name: string, value: number, min: number): number {
  if (!Number.isFinite(value) || value < min) {
    throw new SegserveError('INVALID_ARGUMENT', {
      reason: `shadow ${name} must be at least ${min}, not ${value}`,
    });
  }
  return value;
}

function comparisonJson(endpoint: string, kept: Kept): ShadowComparisonJson {
  const base = `/v1/endpoints/${encodeURIComponent(endpoint)}/shadows/comparisons/${kept.id}`;
  return {
    id: kept.id,
    at: kept.at,
    request_id: kept.requestId ?? null,
    agreement: kept.agreement,
    served: { ...kept.servedBy },
    latency_ms: { served: kept.servedMs, shadow: kept.shadowMs },
    image: { width: kept.served.width, height: kept.served.height, format: kept.format },
    detail: detailJson(kept),
    links: { image: `${base}/image`, served: `${base}/served`, shadow: `${base}/shadow` },
  };
}

function detailJson(kept: Kept): ShadowDetailJson {
  const { comparison, served, shadow } = kept;
  if (comparison.kind === 'class-map') {
    return {
      kind: 'class-map',
      pixel_agreement: comparison.pixelAgreement,
      classes: comparison.classes.map((c) => ({
        label: c.label,
        class_id: c.classId,
        served_pixels: c.servedPixels,
        shadow_pixels: c.shadowPixels,
        iou: c.iou,
        background: c.background,
      })),
    };
  }
  const servedInstances = served.task === 'instance' ? served.instances : [];
  const shadowInstances = shadow.task === 'instance' ? shadow.instances : [];
  const matchedServed = new Set(comparison.matches.map((m) => m.served));
  const matchedShadow = new Set(comparison.matches.map((m) => m.shadow));
  return {
    kind: 'instances',
    served_count: comparison.servedCount,
    shadow_count: comparison.shadowCount,
    count_difference: comparison.countDifference,
    matched: comparison.matches.length,
    mean_matched_iou: comparison.meanMatchedIou,
    class_agreement: comparison.classAgreement,
    f1: comparison.f1,
    matches: comparison.matches.map((m) => ({
      served: servedInstances[m.served]?.label ?? '',
      shadow: shadowInstances[m.shadow]?.label ?? '',
      iou: m.iou,
    })),
    unmatched_served: servedInstances.filter((_, i) => !matchedServed.has(i)).map((i) => i.label),
    unmatched_shadow: shadowInstances.filter((_, i) => !matchedShadow.has(i)).map((i) => i.label),
  };
}
