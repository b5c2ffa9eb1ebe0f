/**
 * What the protocol's metadata endpoints report, in its terms (datatypes, -1 for variable dimensions).
 *
 * Readiness comes from the serving core (`InferenceService.notReady`): strict, as Triton's default. A model
 * that failed to load keeps the server unready (the answer names it), so a rollout that lost a model stops
 * instead of quietly serving less; liveness stays true, so an orchestrator does not restart-loop over a broken
 * model file.
 */
import type { LoadedVersion, ModelRepository } from '../../models/repository.js';
import type { TensorInfo } from '../../runtime/protocol.js';
import { datatypeOf, type V2Datatype } from './datatypes.js';
import { isFixedDim } from './feeds.js';

export const PLATFORM = 'onnxruntime_onnx';
export const EXTENSIONS = ['binary_tensor_data'] as const;

export interface ServerMetadata {
  name: string;
  version: string;
  extensions: string[];
}

export interface TensorMetadata {
  name: string;
  datatype: V2Datatype;
  shape: number[];
}

export interface ModelMetadata {
  name: string;
  versions: string[];
  platform: string;
  inputs: TensorMetadata[];
  outputs: TensorMetadata[];
}

function describe(tensors: readonly TensorInfo[]): TensorMetadata[] {
  return tensors.flatMap((t) => {
    const datatype = datatypeOf(t.type);
    // Sequences and maps have no protocol datatype: they are not tensors to the protocol.
    return datatype ? [{ name: t.name, datatype, shape: t.dims.map((d) => (isFixedDim(d) ? d : -1)) }] : [];
  });
}

export function modelMetadata(repository: ModelRepository, loaded: LoadedVersion): ModelMetadata {
  const versions = (repository.get(loaded.name)?.versions ?? [])
    .filter((v) => v.state === 'ready')
    .map((v) => v.version)
    .sort((a, b) => a - b)
    .map(String);
  return {
    name: loaded.name,
    versions,
    platform: PLATFORM,
    inputs: describe(loaded.runtime.inputs),
    outputs: describe(loaded.runtime.outputs),
  };
}
