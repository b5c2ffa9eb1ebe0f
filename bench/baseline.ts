/**
 * The baseline the end-to-end benchmarks measure segserve against: a raw onnxruntime session of the same model,
 * with the model's own thread settings and execution provider, fed the tensor the pipeline builds from the same
 * image. `session.run` alone, nothing around it.
 */
import * as ort from 'onnxruntime-node';
import { preprocessForModel } from '../src/image/index.js';
import type { LoadedVersion } from '../src/models/index.js';
import { buildSessionOptions } from '../src/runtime/session-options.js';
import { timeIt } from './stats.js';

export interface RawBaseline {
  /** Runs `session.run` `runs` times back to back; the milliseconds of each run. */
  time(runs: number): Promise<number[]>;
  release(): Promise<void>;
}

export async function rawBaseline(loaded: LoadedVersion, image: Uint8Array): Promise<RawBaseline> {
  const { config } = loaded;
  const session = await ort.InferenceSession.create(
    loaded.modelPath,
    buildSessionOptions({
      intraOpThreads: config.threads.intra_op,
      interOpThreads: config.threads.inter_op,
      executionProvider: config.execution_provider,
    }),
  );
  const prepared = await preprocessForModel(image, config.input, {
    maxPixels: config.max_pixels,
    keepImage: false,
  });
  const feeds = { [loaded.inputName]: new ort.Tensor('float32', prepared.data, prepared.dims) };
  return {
    time: (runs) => timeIt(runs, 0, () => session.run(feeds)),
    release: () => session.release(),
  };
}

/**
 * `count` raw sessions of the same model (as many as a config's `instances`): the latency floor is one of them
 * alone, the throughput floor all of them side by side, each running back to back.
 */
export interface RawSessions {
  /** `session.run` of the first session, `runs` times back to back; the milliseconds of each run. */
  time(runs: number): Promise<number[]>;
  /** Every session runs `runs` times back to back, side by side; runs per second together. */
  sideBySide(runs: number): Promise<number>;
  release(): Promise<void>;
}

export async function rawSessions(
  loaded: LoadedVersion,
  image: Uint8Array,
  count = loaded.config.instances,
): Promise<RawSessions> {
  const sessions = await Promise.all(Array.from({ length: count }, () => rawBaseline(loaded, image)));
  return {
    time: (runs) => sessions[0].time(runs),
    async sideBySide(runs) {
      const started = performance.now();
      await Promise.all(sessions.map((s) => s.time(runs)));
      return (runs * sessions.length * 1000) / (performance.now() - started);
    },
    release: async () => {
      await Promise.all(sessions.map((s) => s.release()));
    },
  };
}
