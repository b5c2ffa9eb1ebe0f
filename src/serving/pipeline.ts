/**
 * The request pipeline shared by every adapter (CLI, HTTP, workers): bytes in, a decoded segmentation out,
 * with the time spent in each stage. Heavy work never runs on the calling thread: sharp decodes on libuv
 * threads, inference and decoding run in the model's worker pool.
 */

import type { ImageInfo } from '../image/index.js';
import { preprocessForModel } from '../image/index.js';
import type { RawImage } from '../image/types.js';
import type { LoadedVersion, ModelRepository } from '../models/index.js';
import type { SegmentationResult } from '../tasks/types.js';
import type { StageTimings } from './types.js';

export interface Segmentation {
  model: string;
  version: number;
  result: SegmentationResult;
  image: ImageInfo;
  timings: StageTimings;
  /** The EXIF-oriented RGB image, present when `keepImage` was asked for (overlays). */
  rgb?: RawImage;
}

export interface SegmentOptions {
  version?: number;
  /** Keep the decoded RGB image for overlay rendering (decoded once together with the tensor). */
  keepImage?: boolean;
  timeoutMs?: number;
  signal?: AbortSignal;
}

export async function segmentWith(
  loaded: LoadedVersion,
  bytes: Uint8Array,
  options: SegmentOptions = {},
): Promise<Segmentation> {
  const started = performance.now();
  const { config, labels, inputName, pool } = loaded;
  const prepared = await preprocessForModel(bytes, config.input, {
    maxPixels: config.max_pixels,
    keepImage: options.keepImage ?? false,
  });
  const run = await pool.run(
    { [inputName]: { type: 'float32', dims: prepared.dims, data: prepared.data } },
    {
      decode: { decoder: config.decoder, context: { config, labels, transform: prepared.transform } },
      timeoutMs: options.timeoutMs,
      signal: options.signal,
    },
  );
  if (!run.result) throw new Error('the worker pool answered a decode request without a result');
  return {
    model: loaded.name,
    version: loaded.version,
    result: run.result,
    image: prepared.info,
    rgb: prepared.rgb,
    timings: {
      decode: prepared.timings.decode,
      preprocess: prepared.timings.preprocess,
      queue: run.timings.queue,
      infer: run.timings.infer,
      postprocess: run.timings.postprocess,
      encode: 0,
      total: performance.now() - started,
    },
  };
}

/** Async even where resolving fails at once, so every failure reaches the caller as a rejection. */
export async function segment(
  repository: ModelRepository,
  model: string,
  bytes: Uint8Array,
  options: SegmentOptions = {},
): Promise<Segmentation> {
  return segmentWith(repository.resolve(model, options.version), bytes, options);
}
