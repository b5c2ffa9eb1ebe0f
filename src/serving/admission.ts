/**
 * Admission control: whether a request may start at all, decided before its body is read or its image
 * decoded, so that a refusal costs nothing but the answer.
 *
 * Two budgets. Per model version, requests in flight (from admission to the end of the answer: reading,
 * decoding, waiting, inference, encoding) are capped at the runtime's sessions plus its queue, so the runtime
 * never holds more than it can serve and every refusal happens here, at once. Server-wide, the pixels of
 * decoded images in flight are capped, since a small compressed file can declare a huge image (30 overlays of
 * a 6000x6000 PNG of 105 KB each once took the process to 5.5 GB); an image larger than the whole budget is
 * still served when nothing else is decoding, or it could never be served.
 *
 * Refusals carry `retry_after`: the queue ahead times the measured service time per session.
 */
import { SegserveError } from '../errors.js';
import type { LoadedVersion } from '../models/index.js';

/** Weight of the newest sample in the moving average of service times. */
const SMOOTHING = 0.2;
/** Retry-After is kept within these bounds (seconds): clients poll no faster than 1 s and never give up. */
const RETRY_AFTER_MIN_S = 1;
const RETRY_AFTER_MAX_S = 60;

export interface AdmissionCounters {
  /** Requests let in. */
  admitted: number;
  /** Requests refused by either budget. */
  refused: number;
  /** Images whose decoding started (each after its pixels were admitted). */
  decoded: number;
  /** Admitted requests not yet released. */
  in_flight: number;
  /** Pixels of admitted images not yet released. */
  pixels_in_flight: number;
}

interface VersionLoad {
  inFlight: number;
  /** Moving average of one job's time inside the runtime (tensor fill, inference, decoding), in ms. */
  serviceMs: number;
}

/** One admitted request: release it exactly once when its answer is done (later calls do nothing). */
export interface Ticket {
  readonly loaded: LoadedVersion;
  /** Admits the decoding of an image of `pixels` pixels, or throws DECODE_BUDGET_FULL. */
  reservePixels(pixels: number): void;
  /** Feeds the measured runtime time of this request into the Retry-After estimate. */
  observeService(ms: number): void;
  release(): void;
}

export class Admission {
  readonly #pixelBudget: number;
  readonly #loads = new WeakMap<LoadedVersion, VersionLoad>();
  readonly #counters: AdmissionCounters = {
    admitted: 0,
    refused: 0,
    decoded: 0,
    in_flight: 0,
    pixels_in_flight: 0,
  };

  constructor(options: { decodedPixelBudget: number }) {
    if (!Number.isSafeInteger(options.decodedPixelBudget) || options.decodedPixelBudget < 1) {
      throw new SegserveError('INVALID_ARGUMENT', {
        reason: `the decoded pixel budget must be a positive integer, not ${options.decodedPixelBudget}`,
      });
    }
    this.#pixelBudget = options.decodedPixelBudget;
  }

  counters(): AdmissionCounters {
    return { ...this.#counters };
  }

  /** Most requests a version holds at once: one running per session, plus its queue. */
  static capacity(loaded: LoadedVersion): number {
    return loaded.config.instances + loaded.config.max_queue;
  }

  /**
   * Lets a request in or throws QUEUE_FULL; synchronous, so nothing has been read or decoded yet. `companion`:
   * a second version the same request also needs (a gate classifier), held against that version's capacity but
   * not counted as another request (a refusal is still counted, as it refuses the request).
   */
  admit(loaded: LoadedVersion, options: { companion?: boolean } = {}): Ticket {
    const load = this.#load(loaded);
    const capacity = Admission.capacity(loaded);
    if (load.inFlight >= capacity) {
      this.#counters.refused++;
      throw new SegserveError('QUEUE_FULL', {
        model: loaded.name,
        version: loaded.version,
        in_flight: load.inFlight,
        retry_after: this.#retryAfter(loaded, load),
      });
    }
    const counted = options.companion !== true;
    load.inFlight++;
    if (counted) {
      this.#counters.admitted++;
      this.#counters.in_flight++;
    }
    let pixels = 0;
    let released = false;
    return {
      loaded,
      reservePixels: (wanted) => {
        const inFlight = this.#counters.pixels_in_flight;
        if (inFlight > 0 && inFlight + wanted > this.#pixelBudget) {
          this.#counters.refused++;
          throw new SegserveError('DECODE_BUDGET_FULL', {
            in_flight_pixels: inFlight,
            pixels: wanted,
            budget: this.#pixelBudget,
            retry_after: this.#retryAfter(loaded, load),
          });
        }
        pixels += wanted;
        this.#counters.pixels_in_flight += wanted;
        this.#counters.decoded++;
      },
      observeService: (ms) => {
        load.serviceMs = load.serviceMs === 0 ? ms : load.serviceMs + SMOOTHING * (ms - load.serviceMs);
      },
      release: () => {
        if (released) return;
        released = true;
        load.inFlight--;
        if (counted) this.#counters.in_flight--;
        this.#counters.pixels_in_flight -= pixels;
      },
    };
  }

  #load(loaded: LoadedVersion): VersionLoad {
    let load = this.#loads.get(loaded);
    if (!load) {
      load = { inFlight: 0, serviceMs: 0 };
      this.#loads.set(loaded, load);
    }
    return load;
  }

  /** Time until the requests ahead are served by the version's sessions, in whole seconds. */
  #retryAfter(loaded: LoadedVersion, load: VersionLoad): number {
    const sessions = Math.max(1, loaded.runtime.stats().instances);
    const seconds = Math.ceil((load.inFlight * load.serviceMs) / sessions / 1000);
    return Math.min(RETRY_AFTER_MAX_S, Math.max(RETRY_AFTER_MIN_S, seconds));
  }
}
