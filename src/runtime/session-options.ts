/**
 * ONNX Runtime session options, built in one place so that every session (worker pools, benchmarks) runs with
 * the same settings, and so that an execution provider that is not there fails loudly instead of falling back.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { SegserveError } from '../errors.js';

export type ExecutionProvider = 'cpu' | 'cuda';

export interface SessionSettings {
  intraOpThreads: number;
  interOpThreads: number;
  executionProvider: ExecutionProvider;
}

/**
 * onnxruntime-node 1.30 ships the CPU provider in the npm package; the CUDA provider libraries are downloaded
 * from NuGet by its install script (Linux x64 only), which this project skips (`onnxruntime-node-install=skip`).
 * Without them `InferenceSession.create` fails with the bare "OrtSessionOptionsAppendExecutionProvider_Cuda:
 * Failed to load shared library" and logs the missing file to stderr; checking the files first gives a reason
 * a person can act on.
 */
const CUDA_LIBRARIES = ['libonnxruntime_providers_shared.so', 'libonnxruntime_providers_cuda.so'];

/** Where onnxruntime-node keeps its native binding and provider libraries (the path its own binding.js loads). */
function nativeDir(): string {
  const entry = createRequire(import.meta.url).resolve('onnxruntime-node');
  return join(dirname(entry), '..', 'bin', 'napi-v6', process.platform, process.arch);
}

function cudaUnavailableReason(): string | undefined {
  const backend = ort.listSupportedBackends().find((b) => b.name === 'cuda');
  if (!backend) {
    return `onnxruntime-node ${ort.env.versions.node} has no CUDA provider for ${process.platform}/${process.arch} (it ships one for linux/x64 only)`;
  }
  if (backend.bundled) return undefined;
  const dir = nativeDir();
  const missing = CUDA_LIBRARIES.filter((file) => !existsSync(join(dir, file)));
  if (missing.length === 0) return undefined;
  return (
    `${missing.join(', ')} not found in ${dir}; onnxruntime-node downloads its CUDA 12 provider only when installed ` +
    "with ONNXRUNTIME_NODE_INSTALL=cuda12 (or --onnxruntime-node-install=cuda12; this project's .npmrc skips it), " +
    'and it needs an NVIDIA driver, CUDA 12 and cuDNN 9 on the machine'
  );
}

/** Throws EXECUTION_PROVIDER_UNAVAILABLE when the provider asked for cannot be used here. */
function assertProviderAvailable(provider: ExecutionProvider): void {
  if (provider === 'cpu') return;
  const reason = cudaUnavailableReason();
  if (reason) throw new SegserveError('EXECUTION_PROVIDER_UNAVAILABLE', { provider, reason });
}

export function buildSessionOptions(settings: SessionSettings): ort.InferenceSession.SessionOptions {
  assertProviderAvailable(settings.executionProvider);
  return {
    intraOpNumThreads: settings.intraOpThreads,
    interOpNumThreads: settings.interOpThreads,
    // Spinning threads burn a core waiting for work; on a shared 2-core machine a 59 ms model took 139 ms with
    // spinning and 89 ms without, so it is off.
    extra: { session: { intra_op: { allow_spinning: '0' }, inter_op: { allow_spinning: '0' } } },
    graphOptimizationLevel: 'all',
    // Warnings such as "Initializer ... appears in graph inputs" (one per weight in some exports) are noise.
    logSeverityLevel: 3,
    executionProviders: [settings.executionProvider],
  };
}

/** Messages onnxruntime uses when a provider library or the device behind it is missing. */
const PROVIDER_FAILURE = /AppendExecutionProvider|providers_shared|cuda|cudnn|cublas|no CUDA-capable device/i;

/**
 * Maps an `InferenceSession.create` failure to the catalogue: a provider that fails to start (driver, device,
 * library) is EXECUTION_PROVIDER_UNAVAILABLE, never a CPU fallback; anything else is MODEL_LOAD_FAILED.
 */
export function sessionLoadError(
  error: unknown,
  settings: SessionSettings,
  model: { name: string; version: number },
): SegserveError {
  if (error instanceof SegserveError) return error;
  const reason = error instanceof Error ? error.message : String(error);
  if (settings.executionProvider !== 'cpu' && PROVIDER_FAILURE.test(reason)) {
    return new SegserveError('EXECUTION_PROVIDER_UNAVAILABLE', {
      provider: settings.executionProvider,
      reason,
    });
  }
  return new SegserveError('MODEL_LOAD_FAILED', { model: model.name, version: model.version, reason });
}
