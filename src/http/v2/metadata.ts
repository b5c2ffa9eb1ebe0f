/**
 * What the protocol's health and metadata endpoints report, read from the model repository.
 *
 * Readiness is strict, as Triton's default (`--strict-readiness`): the server is ready when every model version
 * the repository was asked to serve has loaded and has at least one live worker. A model that failed to load
 * keeps the server unready (the answer names it), so a rollout that lost a model stops instead of quietly
 * serving less; liveness stays true, so an orchestrator does not restart-loop over a broken model file. A
 * version whose workers all crashed is unready until a replacement loads. A repository with no models is
 * ready: there is nothing it was asked to load.
 */
import { SegserveError } from '../../errors.js';
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

/** Why a loaded version cannot take requests now, or undefined when it can. */
export function notServing(loaded: LoadedVersion): string | undefined {
  return loaded.pool.stats().instances > 0 ? undefined : 'it has no running worker';
}

/** Undefined when the server is ready, else why not. */
export function serverNotReady(repository: ModelRepository): string | undefined {
  const problems: string[] = [];
  for (const model of repository.list()) {
    if (model.versions.length === 0) {
      problems.push(`model "${model.name}" ${model.state}: ${model.error?.message ?? 'no version'}`);
      continue;
    }
    for (const version of model.versions) {
      if (version.state !== 'ready') {
        const why = version.error ? `: ${version.error.message}` : '';
        problems.push(`model "${model.name}" version ${version.version} ${version.state}${why}`);
        continue;
      }
      const reason = notServing(repository.resolve(model.name, version.version));
      if (reason) problems.push(`model "${model.name}" version ${version.version}: ${reason}`);
    }
  }
  return problems.length > 0 ? problems.join('; ') : undefined;
}

/** Parses the `{version}` path segment: a positive integer. */
export function parseVersion(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  if (!/^[1-9][0-9]{0,8}$/.test(text)) {
    throw new SegserveError('V2_BAD_REQUEST', {
      reason: `model version must be a positive integer, not "${text}"`,
    });
  }
  return Number(text);
}

/** The version to serve, refusing one that cannot take requests now (MODEL_NOT_READY, 503). */
export function servingVersion(repository: ModelRepository, model: string, version?: number): LoadedVersion {
  const loaded = repository.resolve(model, version);
  const reason = notServing(loaded);
  if (reason) throw new SegserveError('MODEL_NOT_READY', { model, version: loaded.version, reason });
  return loaded;
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
    inputs: describe(loaded.pool.inputs),
    outputs: describe(loaded.pool.outputs),
  };
}
