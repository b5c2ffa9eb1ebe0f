/**
 * Two extensions of the Open Inference Protocol as Triton defines and its clients call them:
 *
 * - The model repository extension (`model_repository`): `POST /v2/repository/index`, and
 *   `POST /v2/repository/models/{m}/load` and `/unload`. Admin routes: the admin key is required. A load of a
 *   model already loaded applies what changed in its folder (Triton's "reload"); an unload retires every
 *   version once the requests holding it are done. Triton's `config` and `file:<path>` load parameters (a
 *   config or model files sent in the request) are refused with REPOSITORY_PARAMETER_UNSUPPORTED rather than
 *   ignored: segserve reads models from the repository folder. `unload_dependents` is accepted (segserve has no
 *   ensembles, so a model has no dependents), which is what `model_repository(unload_dependents)` announces.
 * - The model configuration extension: `GET /v2/models/{m}[/versions/{v}]/config`, the model's configuration
 *   in Triton's JSON form (`model_config.proto`): platform, tensors with their data types and dims (-1 for a
 *   variable one), version policy, instance group. segserve's own settings (task, decoder, input layout) are
 *   in `parameters`, as Triton keeps backend settings.
 */
import { SegserveError } from '../../errors.js';
import type { IndexEntry, LoadedVersion, ModelConfig, VersionPolicy } from '../../models/index.js';
import type { TensorInfo } from '../../runtime/protocol.js';
import { datatypeOf } from './datatypes.js';
import { isFixedDim } from './feeds.js';
import { PLATFORM } from './metadata.js';

export const REPOSITORY_EXTENSIONS = ['model_repository', 'model_repository(unload_dependents)'] as const;
export const CONFIG_EXTENSION = 'model_configuration';

/** Triton's model states, as its index names them. */
export type TritonState = 'READY' | 'UNAVAILABLE' | 'LOADING' | 'UNLOADING';

export interface TritonIndexEntry {
  name: string;
  /** Absent for a model listed as a whole (unloaded, or failed before any version was read). */
  version?: string;
  state: TritonState;
  reason: string;
}

const STATES: Record<IndexEntry['state'], TritonState> = {
  ready: 'READY',
  failed: 'UNAVAILABLE',
  loading: 'LOADING',
  unloading: 'UNLOADING',
  unloaded: 'UNAVAILABLE',
};

/** The repository index in Triton's form; `readyOnly` keeps the models ready for inference. */
export function tritonIndex(entries: readonly IndexEntry[], readyOnly: boolean): TritonIndexEntry[] {
  return entries
    .filter((entry) => !readyOnly || entry.state === 'ready')
    .map((entry) => ({
      name: entry.name,
      ...(entry.version === undefined ? {} : { version: String(entry.version) }),
      state: STATES[entry.state],
      reason: entry.reason ?? '',
    }));
}

function badRequest(reason: string): SegserveError {
  return new SegserveError('V2_BAD_REQUEST', { reason });
}

/** An optional JSON object body: empty is `{}`. */
function objectBody(raw: Buffer, what: string): Record<string, unknown> {
  const text = raw.toString('utf8').trim();
  if (text === '') return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw badRequest(`the ${what} request body is not valid JSON: ${(error as Error).message}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw badRequest(`the ${what} request body must be a JSON object`);
  }
  return parsed as Record<string, unknown>;
}

function refuseUnknownFields(body: Record<string, unknown>, allowed: readonly string[], what: string): void {
  const unknown = Object.keys(body).filter((key) => !allowed.includes(key));
  if (unknown.length > 0) {
    throw badRequest(
      `the ${what} request has no field ${unknown.map((k) => `"${k.slice(0, 40)}"`).join(', ')} (fields: ${allowed.join(', ')})`,
    );
  }
}

/** `{"ready": true}` or nothing. */
export function parseIndexRequest(raw: Buffer): { ready: boolean } {
  const body = objectBody(raw, 'index');
  refuseUnknownFields(body, ['ready'], 'index');
  if (body.ready !== undefined && typeof body.ready !== 'boolean') {
    throw badRequest('"ready" must be true or false');
  }
  return { ready: body.ready === true };
}

function parametersOf(body: Record<string, unknown>, what: string): Record<string, unknown> {
  refuseUnknownFields(body, ['parameters'], what);
  const { parameters } = body;
  if (parameters === undefined) return {};
  if (typeof parameters !== 'object' || parameters === null || Array.isArray(parameters)) {
    throw badRequest(`"parameters" of the ${what} request must be a JSON object`);
  }
  return parameters as Record<string, unknown>;
}

function unsupported(operation: string, parameter: string, reason: string): SegserveError {
  return new SegserveError('REPOSITORY_PARAMETER_UNSUPPORTED', {
    operation,
    parameter: parameter.slice(0, 80),
    reason,
  });
}

/** A load request: any parameter is refused (see the module comment). */
export function parseLoadRequest(raw: Buffer): void {
  const parameters = parametersOf(objectBody(raw, 'load'), 'load');
  for (const name of Object.keys(parameters)) {
    if (name === 'config') {
      throw unsupported(
        'load',
        name,
        "segserve reads a model's configuration from its config.yaml; change the file, then load the model",
      );
    }
    if (name.startsWith('file:')) {
      throw unsupported(
        'load',
        name,
        'segserve loads model files from the repository folder; put the version folder there (or upload it), then load the model',
      );
    }
    throw unsupported('load', name, 'the load request takes no parameters here');
  }
}

/** An unload request: `unload_dependents` (true or false) is the only parameter. */
export function parseUnloadRequest(raw: Buffer): { unloadDependents: boolean } {
  const parameters = parametersOf(objectBody(raw, 'unload'), 'unload');
  let unloadDependents = false;
  for (const [name, value] of Object.entries(parameters)) {
    if (name !== 'unload_dependents') {
      throw unsupported('unload', name, 'the only unload parameter is unload_dependents');
    }
    if (typeof value !== 'boolean') {
      throw unsupported('unload', name, 'unload_dependents must be true or false');
    }
    unloadDependents = value;
  }
  return { unloadDependents };
}

// ---- the model configuration extension --------------------------------------------------------------------

interface TritonTensorConfig {
  name: string;
  data_type: string;
  dims: number[];
}

function tensorConfigs(tensors: readonly TensorInfo[]): TritonTensorConfig[] {
  return tensors.flatMap((t) => {
    const datatype = datatypeOf(t.type);
    if (!datatype) return [];
    // Triton's data types are the protocol's with a TYPE_ prefix, except BYTES, which it calls STRING.
    const dataType = `TYPE_${datatype === 'BYTES' ? 'STRING' : datatype}`;
    return [{ name: t.name, data_type: dataType, dims: t.dims.map((d) => (isFixedDim(d) ? d : -1)) }];
  });
}

function versionPolicyJson(policy: VersionPolicy): Record<string, unknown> {
  if ('all' in policy) return { all: {} };
  if ('latest' in policy) return { latest: { num_versions: policy.latest } };
  return { specific: { versions: [...policy.specific].sort((a, b) => a - b) } };
}

const stringParameter = (value: string) => ({ string_value: value });

/**
 * A model's configuration as Triton answers `GET /v2/models/{m}/config`. The tensors are those of `loaded` (the
 * version asked for, or the one requests naming none get); the version policy is the config's as last read.
 * `max_batch_size` is 0, so `dims` are the full shapes: segserve runs each request on its own.
 */
export function tritonModelConfig(loaded: LoadedVersion, config: ModelConfig = loaded.config): object {
  return {
    name: loaded.name,
    platform: PLATFORM,
    backend: 'onnxruntime',
    version_policy: versionPolicyJson(config.version_policy),
    max_batch_size: 0,
    input: tensorConfigs(loaded.runtime.inputs),
    output: tensorConfigs(loaded.runtime.outputs),
    instance_group: [
      {
        name: loaded.name,
        kind: loaded.config.execution_provider === 'cuda' ? 'KIND_GPU' : 'KIND_CPU',
        count: loaded.config.instances,
      },
    ],
    default_model_filename: 'model.onnx',
    parameters: {
      segserve_version: stringParameter(String(loaded.version)),
      segserve_task: stringParameter(loaded.config.task),
      segserve_decoder: stringParameter(loaded.config.decoder),
      segserve_input_name: stringParameter(loaded.inputName),
      segserve_input_layout: stringParameter(loaded.config.input.layout),
      segserve_input_size: stringParameter(`${loaded.config.input.width}x${loaded.config.input.height}`),
      segserve_max_queue: stringParameter(String(loaded.config.max_queue)),
    },
  };
}
