/**
 * InferenceService: the one path from every adapter (the /v1 API, the compatible routes, /v2, the CLI, job
 * workers) to a model, as MLServer's and KServe's DataPlane are for theirs. It resolves the target (named
 * model or the default one, version or the newest ready), admits the request before any work, segments images
 * or runs raw tensors, and answers metadata, readiness and health. Adapters never touch a runtime themselves.
 *
 * Usage is two steps so that HTTP can refuse before reading a body: `admit` (synchronous, throws at once),
 * then `segment` or `infer` with the ticket, and `ticket.release()` once the answer is out.
 */
import { randomUUID } from 'node:crypto';
import { SegserveError } from '../errors.js';
import {
  ALIAS_NAME,
  type GateConfig,
  type LoadedVersion,
  type ModelRepository,
  type ModelStatus,
  type Task,
} from '../models/index.js';
import type { NamedTensors, RunOptions } from '../runtime/index.js';
import { Admission, type AdmissionCounters, type Ticket as AdmissionTicket } from './admission.js';
import { checkMaskAnswer, type MaskAnswer } from './encode.js';
import { type EncodeJob, type EncodeOutputs, encodePixels, portableJob, runEncodeJob } from './encode-job.js';
import { EncoderPool } from './encoder-pool.js';
import {
  type EventFailure,
  type PredictionCompleted,
  type RequestSource,
  ServingEvents,
  servingEventOf,
  summarizeResult,
  UNPUBLISHED_SOURCES,
} from './events.js';
import { decideGate, gateRefused } from './gate.js';
import { type GateStage, runPipeline, type Segmentation, type SegmentOptions } from './pipeline.js';
import {
  pickVariant,
  type ShadowTarget,
  stickyKeyOf,
  stickyPoint,
  type TrafficPolicies,
  type TrafficPolicy,
} from './traffic.js';
import { DEFAULT_VARIANT } from './types.js';

export type { EncodeJob, EncodeKind, EncodeOutputs } from './encode-job.js';
export type { RequestSource } from './events.js';
export type { ShadowTarget, TrafficPolicies, TrafficPolicy } from './traffic.js';
export { DEFAULT_VARIANT } from './types.js';

export interface TargetRequest {
  /**
   * Model name, or an endpoint's name: when a traffic policy exists for it (and no version is named), the policy
   * picks the model and version. The default model when absent.
   */
  model?: string;
  /** A positive integer, as a number or as the text of a URL segment or query; the newest ready when absent. */
  version?: number | string;
  /** Without a configured default, prefer a model of this task (e.g. /api/detect wants instances). */
  prefer?: Task;
}

export type InferOptions = Pick<RunOptions, 'outputNames' | 'timeoutMs' | 'signal'>;

/** Who is asking: the adapter, and the HTTP request id where there is one. */
export interface RequestOrigin {
  source: RequestSource;
  requestId?: string;
  /**
   * The caller's identity for traffic policies sticky by API key (`sticky: {by: "api_key"}`): the same key always
   * gets the same variant while the weights stand. Set by whatever authenticates callers; absent, such a
   * request gets a random variant.
   */
  stickyKey?: string;
  /** A request header by lower-case name, for policies sticky by a header (HTTP adapters give it). */
  header?: (name: string) => string | undefined;
}

/** Where a request goes: the version that answers, and the traffic variant it is for. */
export interface Route {
  loaded: LoadedVersion;
  /** The endpoint's variant that serves; `default` for a request to a model (no policy). */
  variant: string;
  /** The endpoint whose policy chose the variant; absent for a request to a model. */
  endpoint?: string;
  /** The endpoint's shadow variants, resolved now (empty without a policy). */
  shadows: readonly ShadowTarget[];
}

/**
 * The gate classifier of a gated model's request, admitted with it under its own queue limits and held until the
 * request is released. Absent for models without a gate and for the sources that bypass gates (GATE_BYPASS).
 */
export interface GateTicket {
  readonly loaded: LoadedVersion;
  readonly config: GateConfig;
  observeService(ms: number): void;
}

/**
 * An admitted request. Release it exactly once when its answer is done (later calls do nothing): that frees
 * its place and publishes its prediction, if it made one, as `prediction.completed`.
 */
export interface Ticket extends AdmissionTicket, RequestOrigin, Omit<Route, 'loaded'> {
  readonly gate?: GateTicket;
}

/**
 * Sources that skip a model's gate. `/v2` sends tensors, not an image, so there is nothing for a classifier to
 * see; an evaluation scores the segmentation model itself on a dataset of its own domain.
 */
export const GATE_BYPASS: ReadonlySet<RequestSource> = new Set<RequestSource>(['v2', 'eval']);

export interface DefaultModelChoice {
  model: string;
  reason: string;
}

export interface ServiceHealth {
  /** ok: every model ready; degraded: some ready, some not; unavailable: no model can serve. */
  status: 'ok' | 'degraded' | 'unavailable';
  default_model?: string;
  models: Record<string, ModelStatus['state']>;
  requests: AdmissionCounters;
}

export interface ServiceOptions {
  /** The model that serves requests naming none; default: chosen per request (see `defaultModel`). */
  defaultModel?: string;
  /** Pixels of decoded images in flight across the server. */
  decodedPixelBudget: number;
  /** Hears of every event subscriber that threw (the server logs it). */
  onEventFailure?: (failure: EventFailure) => void;
  /** Answers for images of up to this many pixels are encoded on the calling thread, larger ones in a worker. */
  encodeInlineMaxPixels: number;
  /** Worker threads that encode answers (started on first use). */
  encoderThreads: number;
}

/** What each encoding job other than JSON answers, as ANSWER_FORMAT_UNSUPPORTED names it. */
const MASK_ANSWERS: Record<Exclude<EncodeJob['kind'], 'json'>, MaskAnswer> = {
  mask: 'mask PNG',
  overlay: 'overlay',
  coco: 'COCO results',
};

/** Default pixel budget: a few large photos at once, about 0.3 GB of RGB (plus an overlay's RGBA copy). */
export const DEFAULT_DECODED_PIXEL_BUDGET = 100_000_000;

/**
 * Up to this many pixels (image width x height) an answer is encoded inline; above, in the encoder worker.
 * Measured with bench/encode.ts (median ms, inline vs pool, and in brackets the longest the main thread was held;
 * one run, 2 shared cores, about +-15 % noise): 640x480 semantic JSON 5.5 vs 6.7 (5.6 vs 2.4), mask PNG 3.2 vs
 * 4.8, overlay 44 vs 48 (5.9 vs 3.4); 1280x720 JSON 14.3 vs 13.3 (14.3 vs 4.7); 1920x1080 JSON 33.5 vs 33.1
 * (33.5 vs 4.8), mask 9.9 vs 10.6; 4032x3024 JSON 151 vs 164 (151 vs 5), overlay 1297 vs 1204 (301 vs 22);
 * 6000x6000 overlay 2626 vs 3128 (785 vs 60), JSON 679 vs 548 (679 vs 13). The hop costs a few ms, which only
 * matters below about 1 M pixels, where inline holds the thread 15 ms at most; above, the pool is as fast
 * within noise and holds the thread 5-60 ms instead of up to 0.8 s. (Pooled overlays also decode their image
 * again in the worker: see Segmentation.source.)
 */
export const DEFAULT_ENCODE_INLINE_MAX_PIXELS = 1_000_000;

const VERSION = /^[1-9][0-9]{0,8}$/;

/** A version as clients write it: a positive integer in plain decimal, nothing else (`02`, `0x2`, `1e3`, ` 2`). */
export function parseVersion(version: number | string | undefined): number | undefined {
  if (version === undefined) return undefined;
  const text = String(version);
  if (!VERSION.test(text)) {
    throw new SegserveError('INVALID_ARGUMENT', {
      reason: `model version must be a positive integer, not "${text.slice(0, 40)}"`,
    });
  }
  return Number(text);
}

/** A version or an alias (`stable`, `canary`), as a request names it in place of a version. */
export type VersionRef = { version: number } | { alias: string };

export function parseVersionRef(version: number | string | undefined): VersionRef | undefined {
  if (version === undefined) return undefined;
  const text = String(version);
  if (ALIAS_NAME.test(text)) return { alias: text };
  if (VERSION.test(text)) return { version: Number(text) };
  throw new SegserveError('INVALID_ARGUMENT', {
    reason: `model version must be a positive integer or an alias name (a letter, then letters, digits, _ or -), not "${text.slice(0, 40)}"`,
  });
}

/**
 * Named versions of each model (`stable`, `canary`, any name): kept by the model lifecycle, read here on every
 * request, so the lookup must be synchronous and cheap (an in-memory table the lifecycle keeps current).
 */
export interface VersionAliases {
  lookup(model: string, alias: string): number | undefined;
  /** Why the aliases are not known yet (the database could not be read at start); the server is not ready. */
  notLoaded(): string | undefined;
}

/** Requests that name a model but no version go where this alias points, when the model has it. */
export const DEFAULT_ALIAS = 'stable';

/** The prediction a ticket made, published when the ticket is released (after the answer is sent). */
/**
 * What a prediction's event will carry, gathered when it is made. The result is read from the segmentation at
 * release: an answer encoded in the encoder worker lends it the result's arrays and puts back new ones, which
 * leaves the arrays of the result as it was first made detached (empty).
 */
type Pending = Omit<
  PredictionCompleted,
  'type' | 'predictionId' | 'at' | 'variant' | 'endpoint' | 'shadows' | 'source' | 'requestId' | 'result'
> & {
  segmentation?: Segmentation;
};

export class InferenceService {
  readonly repository: ModelRepository;
  /** `prediction.completed` and, later, drift and model events. */
  readonly events: ServingEvents;
  readonly #pending = new WeakMap<Ticket, Pending>();
  readonly #admission: Admission;
  readonly #defaultModel?: string;
  readonly #encoders: EncoderPool;
  readonly #encodeInlineMaxPixels: number;
  #aliases: VersionAliases | undefined;
  #traffic: TrafficPolicies | undefined;
  /** The models served when the server was first ready (see notReady); undefined until then. */
  #served: Set<string> | undefined;
  readonly #unsubscribe: () => void;

  constructor(repository: ModelRepository, options: Partial<ServiceOptions> = {}) {
    this.repository = repository;
    this.events = new ServingEvents(options.onEventFailure);
    this.#defaultModel = options.defaultModel;
    this.#encoders = new EncoderPool({ size: options.encoderThreads ?? 1 });
    this.#encodeInlineMaxPixels = options.encodeInlineMaxPixels ?? DEFAULT_ENCODE_INLINE_MAX_PIXELS;
    this.#admission = new Admission({
      decodedPixelBudget: options.decodedPixelBudget ?? DEFAULT_DECODED_PIXEL_BUDGET,
    });
    // Model loads and unloads after start reach the subscribers as serving events (model.loaded...).
    this.#unsubscribe = repository.subscribe((event) => {
      const published = servingEventOf(event);
      if (published) this.events.emit(published);
    });
  }

  /**
   * The model for requests that name none: the configured one; else the first ready model (by name) of the
   * preferred task; else the first ready model. Undefined when none is ready.
   */
  defaultModel(prefer?: Task): DefaultModelChoice | undefined {
    if (this.#defaultModel !== undefined) return { model: this.#defaultModel, reason: 'configured' };
    const ready = this.repository.list().filter((m) => m.state === 'ready');
    const preferred = prefer && ready.find((m) => m.task === prefer);
    if (preferred) return { model: preferred.name, reason: `first ready ${prefer} model by name` };
    const first = ready[0];
    return first && { model: first.name, reason: 'first ready model by name' };
  }

  /**
   * Where aliases come from (the lifecycle's table, set once it has read them). Until then, and without it,
   * only version numbers resolve and a request naming no version gets the newest ready one.
   */
  useAliases(aliases: VersionAliases): void {
    this.#aliases = aliases;
  }

  /**
   * Where traffic policies come from (the lifecycle's table). Until then, and without it, every name a request
   * gives is a model's.
   */
  useTraffic(policies: TrafficPolicies): void {
    this.#traffic = policies;
  }

  /** Where `alias` of `model` points now, if it exists. */
  aliasOf(model: string, alias: string): number | undefined {
    return this.#aliases?.lookup(model, alias);
  }

  /**
   * The version a request names: a number, an alias, or none (the model's `stable` alias when it has one, else
   * the newest ready version). Refuses one that cannot take requests now (MODEL_NOT_READY).
   */
  resolve(target: TargetRequest): LoadedVersion {
    const model = target.model ?? this.defaultModel(target.prefer)?.model;
    if (model === undefined) throw new SegserveError('NO_DEFAULT_MODEL');
    const loaded = this.repository.resolve(model, this.#versionOf(model, parseVersionRef(target.version)));
    if (loaded.runtime.stats().instances === 0) {
      throw new SegserveError('MODEL_NOT_READY', {
        model,
        version: loaded.version,
        reason: 'it has no running worker',
      });
    }
    return loaded;
  }

  /**
   * Where a request goes. A name with a traffic policy (and no version named) is an endpoint: its policy picks
   * the variant, by the request's sticky key when the policy has one and it carries it, else at random, and the
   * variant's version or alias is resolved now (an alias that moves moves the variant). Any other request goes
   * to the model it names, as `resolve` says, as variant `default`. Naming a version reaches that version of
   * the model of that name directly, past any policy.
   */
  route(target: TargetRequest, origin: Pick<RequestOrigin, 'stickyKey' | 'header'> = {}): Route {
    const policy = target.version === undefined ? this.#policyOf(target) : undefined;
    if (!policy) return { loaded: this.resolve(target), variant: DEFAULT_VARIANT, shadows: [] };
    const key = stickyKeyOf(policy.sticky, origin);
    const variant = pickVariant(
      policy.variants,
      key === undefined ? Math.random() : stickyPoint(policy.endpoint, key),
    );
    const loaded = this.#resolveVariant(variant);
    return {
      loaded,
      variant: variant.name,
      endpoint: policy.endpoint,
      shadows: this.#shadowsOf(policy, loaded),
    };
  }

  /**
   * The variants of an endpoint that take traffic, most weight first, each resolved now (throws the first that
   * cannot serve); for a model, the one version `resolve` gives. For metadata and readiness of a name.
   */
  resolveVariants(target: TargetRequest): Array<{ variant: string; loaded: LoadedVersion }> {
    const policy = target.version === undefined ? this.#policyOf(target) : undefined;
    if (!policy) return [{ variant: DEFAULT_VARIANT, loaded: this.resolve(target) }];
    return policy.variants
      .filter((v) => v.weight > 0)
      .sort((a, b) => b.weight - a.weight)
      .map((v) => ({ variant: v.name, loaded: this.#resolveVariant(v) }));
  }

  #policyOf(target: TargetRequest): TrafficPolicy | undefined {
    if (!this.#traffic) return undefined;
    const name = target.model ?? this.defaultModel(target.prefer)?.model;
    return name === undefined ? undefined : this.#traffic.lookup(name);
  }

  #resolveVariant(variant: { model: string; version?: number; alias?: string }): LoadedVersion {
    return this.resolve({ model: variant.model, version: variant.version ?? variant.alias });
  }

  /**
   * The policy's shadows as versions now. One that cannot serve now is left out (a shadow never fails a
   * request), and so is one that is the very version serving this request.
   */
  #shadowsOf(policy: TrafficPolicy, served: LoadedVersion): ShadowTarget[] {
    const shadows: ShadowTarget[] = [];
    for (const shadow of policy.shadows) {
      let loaded: LoadedVersion;
      try {
        loaded = this.#resolveVariant(shadow);
      } catch {
        continue;
      }
      if (loaded.name === served.name && loaded.version === served.version) continue;
      shadows.push({
        variant: shadow.name,
        model: loaded.name,
        version: loaded.version,
        sampleRate: shadow.sampleRate,
      });
    }
    return shadows;
  }

  /** The number a reference names now; undefined asks the repository for the newest ready version. */
  #versionOf(model: string, ref: VersionRef | undefined): number | undefined {
    if (ref === undefined) return this.#aliases?.lookup(model, DEFAULT_ALIAS);
    if ('version' in ref) return ref.version;
    const version = this.#aliases?.lookup(model, ref.alias);
    if (version === undefined) {
      // A model that does not exist is the better answer than an alias it does not have.
      if (!this.repository.get(model)) throw new SegserveError('MODEL_NOT_FOUND', { model });
      throw new SegserveError('ALIAS_NOT_FOUND', { model, alias: ref.alias });
    }
    return version;
  }

  /** How many requests a version admits at once (its sessions plus its queue). */
  static capacity(loaded: LoadedVersion): number {
    return Admission.capacity(loaded);
  }

  /**
   * Routes and admits a request (see `route`), or throws at once (QUEUE_FULL with retry_after,
   * MODEL_NOT_FOUND...). A model with a gate has its gate classifier resolved and admitted too, under the
   * classifier's own limits.
   */
  admit(target: TargetRequest, origin: RequestOrigin): Ticket {
    return this.#admit(this.route(target, origin), origin);
  }

  /**
   * Admits a request on a route chosen before (a batch: one variant for all its items), resolving its version
   * again, so a version reloaded meanwhile serves with its new runtime.
   */
  admitRoute(route: Route, origin: RequestOrigin): Ticket {
    const loaded = this.resolve({ model: route.loaded.name, version: route.loaded.version });
    return this.#admit({ ...route, loaded }, origin);
  }

  #admit(route: Route, origin: RequestOrigin): Ticket {
    const gateLoaded = GATE_BYPASS.has(origin.source) ? undefined : this.#resolveGate(route.loaded);
    // The gate first, as a companion of the request: a refusal by either counts the request once.
    const gateAdmitted = gateLoaded && this.#admission.admit(gateLoaded, { companion: true });
    const releases: Array<() => void> = gateAdmitted ? [gateAdmitted.release] : [];
    const releaseAll = () => {
      for (const release of releases) release();
    };
    let admitted: AdmissionTicket;
    let gate: GateTicket | undefined;
    try {
      admitted = this.#admission.admit(route.loaded);
      releases.push(admitted.release);
      // Holds the version until release: one retired meanwhile (unload, reload) closes only after this request.
      releases.push(this.repository.lease(admitted.loaded));
      if (gateLoaded && gateAdmitted) {
        releases.push(this.repository.lease(gateLoaded));
        gate = {
          loaded: gateLoaded,
          config: route.loaded.config.pipeline!.gate,
          observeService: gateAdmitted.observeService,
        };
      }
    } catch (error) {
      releaseAll();
      throw error;
    }
    const ticket: Ticket = {
      ...origin,
      variant: route.variant,
      endpoint: route.endpoint,
      shadows: route.shadows,
      loaded: admitted.loaded,
      gate,
      reservePixels: admitted.reservePixels,
      observeService: admitted.observeService,
      release: () => {
        releaseAll();
        const pending = this.#pending.get(ticket);
        if (!pending) return;
        this.#pending.delete(ticket);
        const { segmentation, ...carried } = pending;
        this.events.emit({
          type: 'prediction.completed',
          predictionId: randomUUID(),
          requestId: origin.requestId,
          source: origin.source,
          variant: route.variant,
          ...(route.endpoint === undefined ? {} : { endpoint: route.endpoint, shadows: [...route.shadows] }),
          at: Date.now(),
          ...carried,
          result: segmentation?.result,
        });
      },
    };
    return ticket;
  }

  /**
   * The gate classifier version of a gated model, or undefined without a gate. A gate that cannot serve now
   * makes the gated model not ready (MODEL_NOT_READY, 503: the classifier may be loading); one that is not a
   * classifier (reloaded as another task since the gated model loaded) is GATE_INVALID.
   */
  #resolveGate(loaded: LoadedVersion): LoadedVersion | undefined {
    const gate = loaded.config.pipeline?.gate;
    if (!gate) return undefined;
    let gateLoaded: LoadedVersion;
    try {
      gateLoaded = this.resolve({ model: gate.model, version: gate.version });
    } catch (error) {
      throw new SegserveError('MODEL_NOT_READY', {
        model: loaded.name,
        version: loaded.version,
        reason: `its gate "${gate.model}" cannot serve: ${error instanceof Error ? error.message : String(error)}`,
      });
    }
    if (gateLoaded.config.task !== 'classification') {
      throw new SegserveError('GATE_INVALID', {
        model: loaded.name,
        gate: gate.model,
        reason: `"${gate.model}" version ${gateLoaded.version} is a ${gateLoaded.config.task} model, not a classification model`,
      });
    }
    return gateLoaded;
  }

  /** The gate stage of a gated request: its decision is published (gate.decided), a refusal thrown. */
  #gateStage(ticket: Ticket, gate: GateTicket): GateStage {
    return {
      loaded: gate.loaded,
      config: gate.config,
      observeService: gate.observeService,
      decide: (result, ms) => {
        const classifier = { model: gate.loaded.name, version: gate.loaded.version };
        const decision = decideGate(gate.config, classifier, result, ms);
        if (!UNPUBLISHED_SOURCES.has(ticket.source)) {
          this.events.emit({
            type: 'gate.decided',
            model: ticket.loaded.name,
            version: ticket.loaded.version,
            gate: decision.model,
            gateVersion: decision.version,
            accepted: decision.accepted,
            label: decision.label,
            score: decision.score,
            source: ticket.source,
            requestId: ticket.requestId,
            at: Date.now(),
          });
        }
        if (!decision.accepted) throw gateRefused(ticket.loaded, gate.config, decision);
        return decision;
      },
    };
  }

  /**
   * Segments an image with the ticket's version; the ticket's pixel budget covers its decoding. A gated model's
   * image is seen by its gate classifier first, and one the gate refuses is GATE_REFUSED (422).
   */
  async segment(ticket: Ticket, bytes: Uint8Array, options: SegmentOptions = {}): Promise<Segmentation> {
    const gate = ticket.gate && this.#gateStage(ticket, ticket.gate);
    const hooks = {
      beforeDecode: (info: { width: number; height: number }) =>
        ticket.reservePixels(info.width * info.height),
      afterRun: (ms: number) => ticket.observeService(ms),
    };
    const seg = await runPipeline(ticket.loaded, bytes, options, hooks, gate);
    seg.variant = ticket.variant;
    if (UNPUBLISHED_SOURCES.has(ticket.source)) return seg;
    // Published on release, so `timings.encode` includes the answer's encoding by then.
    this.#pending.set(ticket, {
      model: seg.model,
      version: seg.version,
      timings: seg.timings,
      image: { width: seg.image.orientedWidth, height: seg.image.orientedHeight, format: seg.image.format },
      uncertainty: seg.result.uncertainty,
      summary: summarizeResult(seg.result),
      imageStatistics: seg.statistics,
      imageHash: seg.hash,
      batchSize: seg.batchSize,
      imageBytes: bytes,
      segmentation: seg,
    });
    return seg;
  }

  /** Runs raw tensors (Open Inference Protocol) on the ticket's version and answers the output tensors. */
  async infer(ticket: Ticket, feeds: NamedTensors, options: InferOptions = {}): Promise<NamedTensors> {
    const started = performance.now();
    const { outputs, timings, batchSize } = await ticket.loaded.runtime.run(feeds, options);
    ticket.observeService(timings.infer);
    if (!outputs) throw new Error('the runtime answered a tensor request without outputs');
    if (UNPUBLISHED_SOURCES.has(ticket.source)) return outputs;
    this.#pending.set(ticket, {
      model: ticket.loaded.name,
      version: ticket.loaded.version,
      timings: { decode: 0, encode: 0, ...timings, total: performance.now() - started },
      batchSize,
      summary: { task: 'tensors' },
    });
    return outputs;
  }

  /**
   * Encodes a segmentation as an adapter's answer: the JSON answer, the mask PNG, the overlay or COCO results.
   * Large images are encoded in a worker thread, so no per-pixel loop holds the event loop; the encoder's time
   * is added to `seg.timings.encode`. Encode one job at a time per segmentation: while a worker has it, its
   * mask arrays (and image) are lent to that worker.
   */
  async encode<J extends EncodeJob>(seg: Segmentation, job: J): Promise<EncodeOutputs[J['kind']]> {
    // Refused here, before any thread hop: a classifier's answer has no mask to draw or list.
    if (job.kind !== 'json') checkMaskAnswer(seg.model, seg.result.task, MASK_ANSWERS[job.kind]);
    const portable = portableJob(seg, job);
    const { output } =
      encodePixels(seg) <= this.#encodeInlineMaxPixels
        ? await runEncodeJob(seg, portable)
        : await this.#encoders.encode(seg, portable);
    return output as EncodeOutputs[J['kind']];
  }

  /**
   * Why the server is not ready; undefined when ready. Until it has been ready once, strict as Triton's
   * `--strict-readiness`: every version the repository was asked to serve must have loaded and have a live
   * session (a repository with no models is ready, as there is nothing it was asked to load). From then on, what
   * the watch, a sync or an admin loads later cannot take it out of rotation while the models it served still
   * serve: a broken file dropped into a synced bucket would otherwise make every replica unready at once. Only a
   * model that served and has no ready version left, or aliases that cannot be read, make it unready again;
   * a version that failed is reported in the model's status (GET /v1/models/{m}, /v2/repository/index).
   */
  notReady(): string | undefined {
    const problems: string[] = [];
    const aliases = this.#aliases?.notLoaded();
    if (aliases) problems.push(`model aliases: ${aliases}`);
    const traffic = this.#traffic?.notLoaded();
    if (traffic) problems.push(`traffic policies: ${traffic}`);
    const models = this.repository.list();
    for (const model of models) {
      if (this.#served !== undefined) {
        if (this.#served.has(model.name) && !this.#hasLiveVersion(model)) {
          problems.push(`model "${model.name}" has no ready version left`);
        }
        continue;
      }
      if (model.versions.length === 0) {
        problems.push(`model "${model.name}" ${model.state}: ${model.error?.message ?? 'no version'}`);
        continue;
      }
      for (const version of model.versions) {
        if (version.state !== 'ready') {
          const why = version.error ? `: ${version.error.message}` : '';
          problems.push(`model "${model.name}" version ${version.version} ${version.state}${why}`);
        } else if (!this.#isLive(model.name, version.version)) {
          problems.push(`model "${model.name}" version ${version.version}: it has no running worker`);
        }
      }
    }
    if (problems.length > 0) return problems.join('; ');
    this.#served ??= new Set(models.map((m) => m.name));
    return undefined;
  }

  #isLive(model: string, version: number): boolean {
    return this.repository.resolve(model, version).runtime.stats().instances > 0;
  }

  #hasLiveVersion(model: ModelStatus): boolean {
    return model.versions.some((v) => v.state === 'ready' && this.#isLive(model.name, v.version));
  }

  health(): ServiceHealth {
    const models = this.repository.list();
    const ready = models.filter((m) => m.state === 'ready').length;
    return {
      status: ready === 0 ? 'unavailable' : ready === models.length ? 'ok' : 'degraded',
      default_model: this.defaultModel()?.model,
      models: Object.fromEntries(models.map((m) => [m.name, m.state])),
      requests: this.#admission.counters(),
    };
  }

  /** Closes every runtime and the encoder workers: requests in flight finish, new ones are refused. */
  async close(): Promise<void> {
    this.#unsubscribe();
    await Promise.all([this.repository.close(), this.#encoders.close()]);
  }
}
