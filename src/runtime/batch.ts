/**
 * Dynamic batching, the part that runs where the session is: several jobs' tensors stacked along the batch
 * dimension, one `session.run`, its outputs split back into one slice per job, and each job decoded on its own.
 * Which jobs may share a run is decided on the pool's side by `batchKey`: only jobs whose tensors have exactly
 * the same shapes, so stacking never pads or resizes anything and every job sees the values it would see alone.
 */
import { SegserveError } from '../errors.js';
import { tensorDims } from '../image/tensor.js';
import { fillImage, finishJob, type ImageFill, type Infer, type JobOutcome, type JobSpec } from './job.js';
import type { RunOptions } from './runtime.js';
import type { NamedTensors, TensorArray, TensorData } from './types.js';

/**
 * What jobs must share to run as one batch: the name, type and shape of every input (the image tensor's shape
 * follows from the model's input size and layout) and the outputs asked for. Undefined for a job that cannot
 * be batched: one whose tensors already hold more than one item.
 */
export function batchKey(feeds: NamedTensors, options: RunOptions): string | undefined {
  const parts: string[] = [];
  for (const name of Object.keys(feeds).sort()) {
    const { type, dims } = feeds[name];
    if (dims[0] !== 1) return undefined;
    parts.push(`${name}:${type}[${dims.join(',')}]`);
  }
  const image = options.image;
  if (image) parts.push(`${image.name}:float32[${tensorDims(image.input).join(',')}]`);
  parts.push(`=>${options.outputNames?.join(',') ?? '*'}`);
  return parts.join(' ');
}

/** `tensors` (each with batch dimension 1 and the same shape) as one tensor of batch `tensors.length`. */
function stack(tensors: TensorData[]): TensorData {
  const [first] = tensors;
  const per = first.data.length;
  const Type = first.data.constructor as new (length: number) => TensorArray;
  const data = new Type(per * tensors.length);
  // TypeScript cannot relate the element types of two members of the TensorArray union; the key made them equal.
  const set = data.set.bind(data) as (array: ArrayLike<number | bigint>, offset: number) => void;
  for (const [i, tensor] of tensors.entries()) set(tensor.data, i * per);
  return { type: first.type, dims: [tensors.length, ...first.dims.slice(1)], data };
}

/** Item `index` of a batched output, as a batch-1 tensor that owns its buffer (transferable on its own). */
function unstack(output: TensorData, index: number, size: number): TensorData {
  const per = output.data.length / size;
  return {
    type: output.type,
    dims: [1, ...output.dims.slice(1)],
    data: output.data.slice(index * per, (index + 1) * per),
  };
}

/**
 * Runs `jobs` (all of one `batchKey`) as one inference. Answers one outcome per job, in order: its own result,
 * or the error that ended it (a decoder error ends only its own job; a failed run ends them all).
 * `scratch` holds the stacked image tensor: the session keeps nothing of its inputs after the run.
 */
export async function executeBatch(
  jobs: JobSpec[],
  infer: Infer,
  scratch?: { take(length: number): Float32Array },
): Promise<(JobOutcome | Error)[]> {
  const size = jobs.length;
  const feeds: NamedTensors[] = jobs.map((job) => ({ ...job.feeds }));
  const fills: (ImageFill | undefined)[] = [];
  const image = jobs[0].image;
  const perImage = image ? image.input.width * image.input.height * 3 : 0;
  const stackedImage = image
    ? (scratch?.take(perImage * size) ?? new Float32Array(perImage * size))
    : undefined;
  jobs.forEach((job, i) => {
    fills.push(
      job.image && stackedImage
        ? fillImage(job.image, feeds[i], stackedImage.subarray(i * perImage, (i + 1) * perImage))
        : undefined,
    );
  });
  const batched: NamedTensors = {};
  for (const name of Object.keys(feeds[0])) {
    batched[name] =
      image && name === image.name && stackedImage
        ? { type: 'float32', dims: [size, ...feeds[0][name].dims.slice(1)], data: stackedImage }
        : stack(feeds.map((f) => f[name]));
  }
  const started = performance.now();
  const outputs = await infer(batched, jobs[0].outputNames);
  const inferMs = performance.now() - started;
  for (const [name, output] of Object.entries(outputs)) {
    if (output.dims[0] !== size) {
      throw new SegserveError('INFERENCE_FAILED', {
        reason: `output "${name}" of a batch of ${size} has shape [${output.dims.join(', ')}], not batch ${size} first`,
      });
    }
  }
  return Promise.all(
    jobs.map(async (job, i) => {
      const own: NamedTensors = {};
      for (const [name, output] of Object.entries(outputs)) own[name] = unstack(output, i, size);
      const timings = { preprocess: fills[i]?.ms ?? 0, infer: inferMs, postprocess: 0 };
      try {
        return await finishJob(job, own, timings, fills[i]);
      } catch (error) {
        return error instanceof Error ? error : new Error(String(error));
      }
    }),
  );
}
