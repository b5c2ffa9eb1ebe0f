/**
 * What one inference job does once a session is free: fill the image tensor, run the model, decode its
 * outputs. Shared by the worker thread (worker.ts) and in-process runtimes, so that every Runtime adapter
 * computes exactly the same thing and only where it runs differs.
 */
import { SegserveError } from '../errors.js';
import { tensorFromContent } from '../image/preprocess.js';
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
}

/** Runs the model on feeds and answers its outputs (the session's `run`, behind whatever holds it). */
export type Infer = (feeds: NamedTensors, outputNames?: string[]) => Promise<NamedTensors>;

/** Decoders load on the first decode job: runtimes that only serve raw tensors never pay for them. */
let decoders: Promise<{ getDecoder: (name: DecodeRequest['decoder']) => Decoder }> | undefined;

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

export async function executeJob(job: JobSpec, infer: Infer): Promise<JobOutcome> {
  const feeds: NamedTensors = { ...job.feeds };
  const filling = performance.now();
  if (job.image) {
    const { name, content, transform, input } = job.image;
    const tensor = tensorFromContent(content, transform, input);
    feeds[name] = { type: 'float32', dims: tensor.dims, data: tensor.data };
  }
  const started = performance.now();
  const outputs = await infer(feeds, job.outputNames);
  const inferred = performance.now();
  const timings = {
    preprocess: job.image ? started - filling : 0,
    infer: inferred - started,
    postprocess: 0,
  };
  if (!job.decode) return { outputs, timings };
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
  return { result, timings: { ...timings, postprocess: performance.now() - decodeStarted } };
}
