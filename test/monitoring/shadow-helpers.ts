/**
 * Shadow traffic set-up for tests: an app serving the endpoint routes over an embedded database (so traffic
 * policies are put in force through `PUT /v1/admin/endpoints/{name}/traffic`, as an operator does) with the
 * shadow routes; a runtime that holds its runs until it is let go (a model that sleeps, without holding a CPU);
 * and polling for a condition the event loop reaches.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TrafficPolicyJson } from '../../src/lifecycle/wire-types.js';
import type { ModelRepository } from '../../src/models/index.js';
import type { ServingMetrics } from '../../src/monitoring/metrics.js';
import type { ShadowTraffic } from '../../src/monitoring/shadow/index.js';
import type { RunOptions, RunResult, Runtime, RuntimeFactory } from '../../src/runtime/index.js';
import { SessionPool } from '../../src/runtime/index.js';
import type { NamedTensors } from '../../src/runtime/types.js';
import { FsBlobStore } from '../../src/storage/fs-blob-store.js';
import { openDatabase } from '../../src/storage/index.js';
import { adminHeaders, lifecycleApp } from '../helpers/lifecycle.js';
import { listenOnLoopback } from '../http/helpers.js';

export interface ShadowApp {
  /** http://127.0.0.1:<port> */
  base: string;
  /** Puts `policy` in force for `endpoint` through the admin API (throws with the answer when refused). */
  putPolicy(endpoint: string, policy: TrafficPolicyJson): Promise<void>;
  close(): Promise<void>;
}

/**
 * The app over `repository` (its service: `serviceFor(repository)`, which `shadows` and `metrics` must have been
 * made with), listening on loopback, with an admin key, the endpoint routes and the shadow routes.
 */
export async function shadowApp(options: {
  repository: ModelRepository;
  shadows: ShadowTraffic;
  metrics?: ServingMetrics;
}): Promise<ShadowApp> {
  const work = await mkdtemp(join(tmpdir(), 'segserve-shadow-'));
  const db = await openDatabase({ kind: 'embedded', dir: join(work, 'db') });
  const blobs = await FsBlobStore.open(join(work, 'blobs'));
  const { app } = await lifecycleApp({
    repository: options.repository,
    db,
    blobs,
    evaluate: async () => undefined,
    shadows: options.shadows,
    metrics: options.metrics,
  });
  const base = await listenOnLoopback(app);
  return {
    base,
    async putPolicy(endpoint, policy) {
      const response = await fetch(`${base}/v1/admin/endpoints/${endpoint}/traffic`, {
        method: 'PUT',
        headers: adminHeaders(),
        body: JSON.stringify(policy),
      });
      if (response.status !== 200) {
        throw new Error(`policy of ${endpoint} refused: ${response.status} ${await response.text()}`);
      }
    },
    async close() {
      await app.close();
      await blobs.close();
      await db.close();
      await rm(work, { recursive: true, force: true });
    },
  };
}

/** A policy sending every request of an endpoint to one model version, with these shadows. */
export function oneVariant(
  model: string,
  version: number,
  shadows: NonNullable<TrafficPolicyJson['shadows']> = [],
): TrafficPolicyJson {
  return { variants: [{ name: 'main', model, version, weight: 100 }], shadows };
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
