/**
 * Test doubles for shadow traffic: a stand-in for the traffic policy (until endpoints with policies exist, it
 * adds `endpoint` and `shadows` to the `prediction.completed` events of the model versions it is told about,
 * as the serving core will for a request served through an endpoint), a runtime that holds its runs until it is
 * let go (a model that sleeps, without holding a CPU), and polling for a condition the event loop reaches.
 */
import type { RunOptions, RunResult, Runtime, RuntimeFactory } from '../../src/runtime/index.js';
import { SessionPool } from '../../src/runtime/index.js';
import type { NamedTensors } from '../../src/runtime/types.js';
import type { PredictionCompleted } from '../../src/serving/events.js';
import type { InferenceService } from '../../src/serving/service.js';

export type ShadowList = NonNullable<PredictionCompleted['shadows']>;

export interface PolicyDouble {
  /** Requests served by `model` version `version` count as served through `endpoint`, with these shadows. */
  set(model: string, version: number, endpoint: string, shadows: ShadowList): void;
  clear(): void;
}

/**
 * Subscribes before the shadow subscriber (subscribers run in the order they subscribed), and fills in what an
 * endpoint's policy would: the endpoint's name and its shadow variants.
 */
export function policyDouble(service: InferenceService): PolicyDouble {
  const policies = new Map<string, { endpoint: string; shadows: ShadowList }>();
  service.events.on('prediction.completed', 'policy-double', (event) => {
    const policy = policies.get(`${event.model}:${event.version}`);
    if (!policy) return;
    event.endpoint = policy.endpoint;
    event.shadows = policy.shadows;
  });
  return {
    set: (model, version, endpoint, shadows) => policies.set(`${model}:${version}`, { endpoint, shadows }),
    clear: () => policies.clear(),
  };
}

/** Runs of the gated runtimes wait while the gate is held; the session counts as busy meanwhile. */
export class Gate {
  #held = false;
  #waiting: Array<() => void> = [];

  hold(): void {
    this.#held = true;
  }

  release(): void {
    this.#held = false;
    const waiting = this.#waiting;
    this.#waiting = [];
    for (const go of waiting) go();
  }

  /** Runs waiting at the gate now. */
  get waiting(): number {
    return this.#waiting.length;
  }

  pass(): Promise<void> {
    if (!this.#held) return Promise.resolve();
    return new Promise((resolve) => this.#waiting.push(resolve));
  }
}

class GatedRuntime implements Runtime {
  readonly #inner: Runtime;
  readonly #gate: Gate;
  #atGate = 0;

  constructor(inner: Runtime, gate: Gate) {
    this.#inner = inner;
    this.#gate = gate;
  }

  get inputs() {
    return this.#inner.inputs;
  }

  get outputs() {
    return this.#inner.outputs;
  }

  async run(feeds: NamedTensors, options?: RunOptions): Promise<RunResult> {
    this.#atGate++;
    try {
      await this.#gate.pass();
    } finally {
      this.#atGate--;
    }
    return this.#inner.run(feeds, options);
  }

  stats() {
    const stats = this.#inner.stats();
    return { ...stats, busy: stats.busy + this.#atGate };
  }

  close(): Promise<void> {
    return this.#inner.close();
  }
}

/** onnxruntime in worker threads, as served, with the runs of the models named in `gated` held by `gate`. */
export function gatedFactory(gate: Gate, gated: readonly string[]): RuntimeFactory {
  return async (options) => {
    const runtime = await SessionPool.create(options);
    return gated.includes(options.modelName) ? new GatedRuntime(runtime, gate) : runtime;
  };
}

/** Polls `condition` until it holds (a deadline only so that a broken test fails instead of hanging). */
export async function until(condition: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 2_000; i++) {
    if (condition()) return;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  throw new Error(`never came: ${what}`);
}
