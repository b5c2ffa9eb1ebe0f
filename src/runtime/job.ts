/**
 * What one inference job does once a session is free: fill the image tensor, run the model, decode its
 * outputs. Shared by the worker thread (worker.ts) and in-process runtimes, so that every Runtime adapter
 * computes exactly the same thing and only where it runs differs.
 */
import { SegserveError } from '../errors.js';
import { perceptualHash } from '../image/perceptual-hash.js';
import { tensorFromContent } from '../image/preprocess.js';
import { type PixelStatistics, pixelStatistics } from '../image/statistics.js';
import type { Decoder, SegmentationResult } from '../tasks/types.js';
import type { DecodeRequest, JobTimings } from './protocol.js';
import type { ImageFeed } from './runtime.js';
import type { NamedTensors } from './types.js';

export interface JobSpec {
  feeds: NamedTensors;
  image?: ImageFeed;
  outputNames?: string[];
  decode?: DecodeRequest;
}

export interface JobOutcome {
  outputs?: NamedTensors;
  result?: SegmentationResult;
  timings: JobTimings;
  /** Of the image the tensor was filled from (drift's input signals), read while its pixels are in cache. */
  statistics?: PixelStatistics;
  /** The image's perceptual hash, when the job asked for it (sampling's near-duplicate suppression). */
  hash?: bigint;
}

/** Runs the model on feeds and answers its outputs (the session's `run`, behind whatever holds it). */
export type Infer = (feeds: NamedTensors, outputNames?: string[]) => Promise<NamedTensors>;

/** Decoders load on the first decode job: runtimes that only serve raw tensors never pay for them. */
let decoders: Promise<{ getDecoder: (name: DecodeRequest['decoder']) => Decoder }> | undefined;

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * The image tensor of the last job, filled again by the next one: a session runs one job at a time and keeps
 * nothing of its inputs, so one buffer per runtime serves every request of the same size instead of a fresh
 * megabyte (and its page faults and collection) per request.
 */
export class TensorScratch {
  #buffer?: Float32Array;

  take(length: number): Float32Array {
    if (this.#buffer?.length !== length) this.#buffer = new Float32Array(length);
    return this.#buffer;
  }
}

/** What filling a job's image tensor read of its pixels. */
export interface ImageFill {
  statistics: PixelStatistics;
  hash?: bigint;
  /** The fill's own time, in ms. */
  ms: number;
}

/**
 * Fills `image`'s tensor (into `into` when its length fits) and adds it to `feeds`. Shared by single jobs and
 * batches (batch.ts), so that a batched image gets exactly the values it would get alone.
 */
export function fillImage(image: ImageFeed, feeds: NamedTensors, into?: Float32Array): ImageFill {
  const filling = performance.now();
  const { name, content, transform, input } = image;
  const tensor = tensorFromContent(content, transform, input, into);
  feeds[name] = { type: 'float32', dims: tensor.dims, data: tensor.data };
  const statistics = pixelStatistics(content);
  const hash = image.hash
    ? perceptualHash(content, { width: transform.contentWidth, height: transform.contentHeight })
    : undefined;
  return { statistics, hash, ms: performance.now() - filling };
}

/** The job's answer from its model outputs: the outputs themselves, or its task decoder's result. */
export async function finishJob(
  job: JobSpec,
  outputs: NamedTensors,
  timings: JobTimings,
  fill?: ImageFill,
): Promise<JobOutcome> {
  const { statistics, hash } = fill ?? {};
  if (!job.decode) return { outputs, timings, statistics, hash };
  decoders ??= import('../tasks/index.js');
  const decode = (await decoders).getDecoder(job.decode.decoder);
  const decodeStarted = performance.now();
  let result: SegmentationResult;
  try {
    result = decode(outputs, job.decode.context);
  } catch (error) {
    if (error instanceof SegserveError) throw error;
    throw new SegserveError('INFERENCE_FAILED', {
      reason: `decoder "${job.decode.decoder}": ${errorMessage(error)}`,
    });
  }
  return {
    result,
    statistics,
    hash,
    timings: { ...timings, postprocess: performance.now() - decodeStarted },
  };
}

export async function executeJob(job: JobSpec, infer: Infer, scratch?: TensorScratch): Promise<JobOutcome> {
  const feeds: NamedTensors = { ...job.feeds };
  const fill = job.image
    ? fillImage(job.image, feeds, scratch?.take(job.image.input.width * job.image.input.height * 3))
    : undefined;
  const started = performance.now();
  const outputs = await infer(feeds, job.outputNames);
  const timings = { preprocess: fill?.ms ?? 0, infer: performance.now() - started, postprocess: 0 };
  return finishJob(job, outputs, timings, fill);
}

/**
 * Runs the tensor fill on a blank image of the model's input size until V8 has optimised it. In a fresh worker
 * the fill ran 5-10x slower for its first 20-odd requests (selfie 256x256: 2.8 ms, then 0.5 ms once optimised;
 * yolov8n-seg 320x320: 4-12 ms, then 0.5 ms), which is the first minute of traffic on a fresh server. Both
 * layouts are warmed, with and without letterbox padding, since each is its own loop.
 */
export function warmUpImageFill(width: number, height: number, rounds = 30): void {
  const content = { width, height, channels: 3 as const, data: new Uint8Array(width * height * 3) };
  const placements = [
    { padLeft: 0, padTop: 0, contentWidth: width, contentHeight: height },
    { padLeft: 0, padTop: height >> 2, contentWidth: width, contentHeight: height - (height >> 1) },
  ];
  for (const layout of ['NCHW', 'NHWC'] as const) {
    const input = {
      width,
      height,
      resize: 'letterbox' as const,
      pad_value: 114,
      layout,
      color: 'RGB' as const,
      scale: 1 / 255,
      mean: [0, 0, 0] as const,
      std: [1, 1, 1] as const,
    };
    for (let round = 0; round < rounds; round++) {
      const placement = placements[round % placements.length];
      const transform = {
        ...placement,
        sourceWidth: width,
        sourceHeight: height,
        inputWidth: width,
        inputHeight: height,
        scaleX: 1,
        scaleY: 1,
      };
      tensorFromContent(content, transform, input);
    }
  }
}
