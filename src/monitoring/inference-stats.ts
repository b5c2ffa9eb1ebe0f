/**
 * Per model version statistics in the shape of the Open Inference Protocol's statistics extension (Triton's
 * `GET /v2/models/{m}[/versions/{v}]/stats`), fed by the same events and request records as the Prometheus
 * metrics. Durations are cumulative nanoseconds, as the extension defines them.
 */
import type { PredictionCompleted } from '../serving/events.js';

export interface DurationStat {
  count: number;
  ns: number;
}

export interface ModelStatistics {
  name: string;
  version: string;
  /** Epoch milliseconds of the last inference, 0 if none. */
  last_inference: number;
  inference_count: number;
  /**
   * Runs of the model: inference_count without `batching`; with it, a batch of N requests is one run (each of
   * them adds 1/N, rounded when read).
   */
  execution_count: number;
  inference_stats: {
    success: DurationStat;
    fail: DurationStat;
    queue: DurationStat;
    /** Decoding and the tensor fill. */
    compute_input: DurationStat;
    compute_infer: DurationStat;
    /** Output decoding and answer encoding. */
    compute_output: DurationStat;
  };
}

const NS_PER_MS = 1e6;

function empty(name: string, version: string): ModelStatistics {
  const zero = () => ({ count: 0, ns: 0 });
  return {
    name,
    version,
    last_inference: 0,
    inference_count: 0,
    execution_count: 0,
    inference_stats: {
      success: zero(),
      fail: zero(),
      queue: zero(),
      compute_input: zero(),
      compute_infer: zero(),
      compute_output: zero(),
    },
  };
}

function add(stat: DurationStat, ms: number): void {
  stat.count++;
  stat.ns += Math.round(ms * NS_PER_MS);
}

/** A copy to hand out, its run count whole (the 1/N shares of a batch's requests add up to its run). */
function answer(stats: ModelStatistics): ModelStatistics {
  return { ...structuredClone(stats), execution_count: Math.round(stats.execution_count) };
}

export class InferenceStats {
  readonly #byVersion = new Map<string, ModelStatistics>();

  observe(event: PredictionCompleted): void {
    const stats = this.#entry(event.model, String(event.version));
    const { timings } = event;
    stats.last_inference = event.at;
    stats.inference_count++;
    stats.execution_count += 1 / (event.batchSize ?? 1);
    add(stats.inference_stats.success, timings.total + timings.encode);
    add(stats.inference_stats.queue, timings.queue);
    add(stats.inference_stats.compute_input, timings.decode + timings.preprocess);
    add(stats.inference_stats.compute_infer, timings.infer);
    add(stats.inference_stats.compute_output, timings.postprocess + timings.encode);
  }

  /** A request to a known model version that ended in an error. */
  fail(model: string, version: string, seconds: number): void {
    add(this.#entry(model, version).inference_stats.fail, seconds * 1000);
  }

  /** Forgets a version that went away (unloaded): its statistics are no longer reported. */
  forget(model: string, version: string): void {
    this.#byVersion.delete(`${model}\u0000${version}`);
  }

  /** The statistics of `model` (every version seen, or one), or of every model; zeros for one never used. */
  get(model?: string, version?: string): ModelStatistics[] {
    if (model !== undefined && version !== undefined) {
      return [answer(this.#byVersion.get(`${model}\u0000${version}`) ?? empty(model, version))];
    }
    return [...this.#byVersion.values()].filter((s) => model === undefined || s.name === model).map(answer);
  }

  #entry(model: string, version: string): ModelStatistics {
    const key = `${model}\u0000${version}`;
    let stats = this.#byVersion.get(key);
    if (!stats) {
      stats = empty(model, version);
      this.#byVersion.set(key, stats);
    }
    return stats;
  }
}
