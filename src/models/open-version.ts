/**
 * Opening one version of a model: its runtime (a SessionPool of worker threads unless the caller supplies
 * another factory; warmed up before it is answered), and the checks that its input is the one the config
 * describes. The repository opens every version it serves this way, and an upload opens a candidate the same
 * way before it is let in, so what is validated is exactly what will serve.
 */
import { SegserveError } from '../errors.js';
import { SessionPool } from '../runtime/pool.js';
import type { TensorInfo } from '../runtime/protocol.js';
import type { Runtime, RuntimeFactory } from '../runtime/runtime.js';
import type { ExecutionProvider } from '../runtime/session-options.js';
import { batchMixingOperators } from './batch-safety.js';
import { inputMismatch, pickInput } from './check-input.js';
import type { ModelConfig } from './config.js';

/** One servable version: what the request pipeline needs to feed the model and decode its outputs. */
export interface LoadedVersion {
  name: string;
  version: number;
  config: ModelConfig;
  labels: string[];
  modelPath: string;
  runtime: Runtime;
  /** `config.input.name`, or the model's first input. */
  inputName: string;
}

export interface OpenVersionOptions {
  /** Overrides the config's `execution_provider` (e.g. `--device cuda`). */
  executionProvider?: ExecutionProvider;
  /** What runs the version; default onnxruntime in worker threads (SessionPool). */
  createRuntime?: RuntimeFactory;
  /** Sessions to start; default the config's `instances` (a validation needs one). */
  instances?: number;
}

/**
 * Why requests cannot be stacked into one run of this model: the input's batch dimension (its first) is fixed,
 * or an output's first dimension is not that batch dimension. ONNX Runtime reports a symbolic dimension as its
 * name and an unknown one as -1. An output whose first dimension is another symbol (a detection count, say)
 * could not be split back per request, and by chance could even have the batch's length, so it is refused.
 */
function batchDimensionProblem(input: TensorInfo, outputs: TensorInfo[]): string | undefined {
  const shape = (t: TensorInfo) => `"${t.name}" [${t.dims.join(', ')}]`;
  const batch = input.dims[0];
  if (typeof batch === 'number' && batch >= 0) {
    return (
      `batching.enabled: input ${shape(input)} has a fixed batch dimension, so requests cannot be stacked ` +
      'into one run; export the model with a dynamic batch dimension or remove `batching`'
    );
  }
  for (const output of outputs) {
    const first = output.dims[0];
    if (first === batch || first === -1) continue;
    return (
      `batching.enabled: the first dimension of output ${shape(output)} is not the input's batch dimension ` +
      `${JSON.stringify(batch)}, so a batched run could not be split back per request; remove \`batching\``
    );
  }
  return undefined;
}

/** Why batched runs would change answers: operators that compute over the whole batch (batch-safety.ts). */
async function batchMixing(modelPath: string): Promise<string | undefined> {
  const operators = await batchMixingOperators(modelPath);
  if (operators.size === 0) return undefined;
  const listed = [...operators].map(([op, count]) => `${op} x${count}`).join(', ');
  return (
    `batching.enabled: the model has operators that compute over the whole batch (${listed}: the quantisation ` +
    "range is taken from every item), so a request's answer would depend on the others in its batch; remove " +
    '`batching`, or quantise statically (`segserve models optimize --int8`)'
  );
}

export async function openVersion(
  version: Omit<LoadedVersion, 'runtime' | 'inputName'>,
  options: OpenVersionOptions = {},
): Promise<LoadedVersion> {
  const { name, config } = version;
  const loadFailed = (reason: string) =>
    new SegserveError('MODEL_LOAD_FAILED', { model: name, version: version.version, reason });
  const createRuntime = options.createRuntime ?? SessionPool.create;
  const runtime = await createRuntime({
    modelPath: version.modelPath,
    modelName: name,
    version: version.version,
    instances: options.instances ?? config.instances,
    intraOpThreads: config.threads.intra_op,
    interOpThreads: config.threads.inter_op,
    executionProvider: options.executionProvider ?? config.execution_provider,
    maxQueue: config.max_queue,
    warmupShape: { width: config.input.width, height: config.input.height },
    batching: config.batching.enabled
      ? { maxBatchSize: config.batching.max_batch_size, maxDelayMs: config.batching.max_delay_ms }
      : undefined,
  });
  try {
    const input = pickInput(runtime.inputs, config.input);
    if (typeof input === 'string') throw loadFailed(input);
    const mismatch = inputMismatch(input, config.input);
    if (mismatch) throw loadFailed(mismatch);
    if (config.batching.enabled) {
      const problem = batchDimensionProblem(input, runtime.outputs) ?? (await batchMixing(version.modelPath));
      if (problem) throw loadFailed(problem);
    }
    return { ...version, runtime, inputName: input.name };
  } catch (error) {
    await runtime.close();
    throw error;
  }
}
