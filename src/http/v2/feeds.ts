/**
 * Checks an inference request against the model it is for and turns its inputs into the tensors onnxruntime
 * gets: every input present and known, the exact datatype (no conversions, as Triton does), the shape (fixed
 * dimensions equal, dynamic ones any size of at least 1, one size per dimension name across inputs) and the
 * element count of the data. A request that passes cannot fail in onnxruntime for any of those reasons.
 */
import { SegserveError } from '../../errors.js';
import type { TensorInfo } from '../../runtime/protocol.js';
import type { NamedTensors, TensorData } from '../../runtime/types.js';
import { type Codec, codecOf, datatypeOf, type V2Datatype } from './datatypes.js';
import type { InferRequest, RequestedInput, RequestedOutput } from './request.js';

function badRequest(reason: string): SegserveError {
  return new SegserveError('V2_BAD_REQUEST', { reason });
}

/** A fixed dimension of a model tensor; symbolic names and onnxruntime's negative "unknown" are dynamic. */
export function isFixedDim(dim: number | string): dim is number {
  return typeof dim === 'number' && dim >= 0;
}

function shapeText(dims: readonly (number | string)[]): string {
  return `[${dims.map((d) => (isFixedDim(d) ? d : -1)).join(', ')}]`;
}

function checkShape(input: RequestedInput, model: TensorInfo, symbols: Map<string, number>): void {
  const wanted = shapeText(model.dims);
  if (input.shape.length !== model.dims.length) {
    throw badRequest(
      `input "${input.name}" has shape [${input.shape.join(', ')}], but the model takes ${wanted} (${model.dims.length} dimensions)`,
    );
  }
  model.dims.forEach((dim, axis) => {
    const size = input.shape[axis];
    if (isFixedDim(dim)) {
      if (size !== dim) {
        throw badRequest(
          `input "${input.name}" has shape [${input.shape.join(', ')}], but the model takes ${wanted}: dimension ${axis} must be ${dim}`,
        );
      }
      return;
    }
    if (size < 1) {
      throw badRequest(
        `input "${input.name}": dimension ${axis} is 0; dynamic dimensions take sizes of 1 or more`,
      );
    }
    if (typeof dim !== 'string' || dim === '') return;
    const seen = symbols.get(dim);
    if (seen !== undefined && seen !== size) {
      throw badRequest(
        `input "${input.name}": dimension ${axis} ("${dim}") is ${size}, but another input gave "${dim}" the size ${seen}`,
      );
    }
    symbols.set(dim, size);
  });
}

/**
 * The flat values of JSON tensor data: either already flat (`count` scalars) or nested exactly as the shape is
 * (the "natural" form the protocol also allows, what numpy's `tolist()` gives).
 */
function flatten(input: RequestedInput, count: number): unknown[] {
  const data = input.data;
  if (!Array.isArray(data)) throw badRequest(`input "${input.name}": "data" must be an array`);
  if (!data.some(Array.isArray)) {
    if (data.length !== count) {
      throw badRequest(
        `input "${input.name}" has ${data.length} values in "data", but shape [${input.shape.join(', ')}] holds ${count}`,
      );
    }
    return data;
  }
  const flat: unknown[] = [];
  const walk = (node: unknown, axis: number, path: string): void => {
    if (axis === input.shape.length) {
      if (Array.isArray(node)) {
        throw badRequest(
          `input "${input.name}": data${path} is nested deeper than shape [${input.shape.join(', ')}]`,
        );
      }
      flat.push(node);
      return;
    }
    if (!Array.isArray(node) || node.length !== input.shape[axis]) {
      const found = Array.isArray(node) ? `${node.length} entries` : 'a single value';
      throw badRequest(
        `input "${input.name}": data${path} has ${found}, but dimension ${axis} of shape [${input.shape.join(', ')}] is ${input.shape[axis]} (send "data" flat or nested exactly as the shape)`,
      );
    }
    for (let i = 0; i < node.length; i++) walk(node[i], axis + 1, `${path}[${i}]`);
  };
  walk(data, 0, '');
  return flat;
}

function toTensor(input: RequestedInput, codec: Codec): TensorData {
  const count = input.shape.reduce((a, b) => a * b, 1);
  if (input.binary) {
    const expected = count * codec.bytes;
    if (input.binary.length !== expected) {
      throw badRequest(
        `input "${input.name}" declares binary_data_size ${input.binary.length}, but shape [${input.shape.join(', ')}] of ${input.datatype} takes ${expected} bytes`,
      );
    }
    // A copy in a buffer of its own: aligned for the typed array, and transferable to the worker as a whole.
    const own = new Uint8Array(expected);
    own.set(input.binary);
    return { type: codec.type, dims: input.shape, data: codec.fromBytes(own.buffer, input.name) };
  }
  return { type: codec.type, dims: input.shape, data: codec.fromJson(flatten(input, count), input.name) };
}

function datatypeMismatch(input: RequestedInput, wanted: string): SegserveError {
  if (input.datatype === 'BYTES') {
    return badRequest(
      `input "${input.name}" is BYTES, but the model takes ${wanted}; segserve models take numeric tensors, send the ${wanted} values themselves`,
    );
  }
  return badRequest(
    `input "${input.name}" has datatype ${input.datatype}, but the model takes ${wanted}; segserve converts no datatypes (as Triton), send ${wanted}`,
  );
}

/** The tensors to feed the model, from a request already checked for form by parseInferRequest. */
export function buildFeeds(request: InferRequest, modelInputs: readonly TensorInfo[]): NamedTensors {
  const byName = new Map(modelInputs.map((i) => [i.name, i]));
  const names = modelInputs.map((i) => `"${i.name}"`).join(', ');
  const feeds: NamedTensors = {};
  const symbols = new Map<string, number>();
  for (const input of request.inputs) {
    const model = byName.get(input.name);
    if (!model) throw badRequest(`the model has no input "${input.name}" (inputs: ${names})`);
    if (Object.hasOwn(feeds, input.name)) throw badRequest(`input "${input.name}" is given twice`);
    const wanted = datatypeOf(model.type);
    const codec = wanted && codecOf(wanted);
    // Models whose inputs segserve cannot feed never finish loading, so this guards against surprises only.
    if (!wanted || !codec)
      throw new SegserveError('INFERENCE_FAILED', {
        reason: `input "${model.name}" has element type ${model.type}`,
      });
    if (input.datatype !== wanted) throw datatypeMismatch(input, wanted);
    checkShape(input, model, symbols);
    feeds[input.name] = toTensor(input, codec);
  }
  const missing = modelInputs.filter((i) => !Object.hasOwn(feeds, i.name)).map((i) => `"${i.name}"`);
  if (missing.length > 0) {
    throw badRequest(`the request lacks input ${missing.join(', ')}; the model takes ${names}`);
  }
  return feeds;
}

/** One output to answer, with its protocol datatype. */
export interface SelectedOutput {
  name: string;
  datatype: V2Datatype;
  binary: boolean;
}

/**
 * The outputs to compute and answer, in the request's order (or the model's when it names none). Outputs that
 * segserve cannot carry (strings, unsigned 16-64-bit integers, sequences) are left out of "all outputs" and
 * refused when named.
 */
export function selectOutputs(request: InferRequest, modelOutputs: readonly TensorInfo[]): SelectedOutput[] {
  const carried = (info: TensorInfo) => {
    const datatype = datatypeOf(info.type);
    return datatype && codecOf(datatype) ? datatype : undefined;
  };
  if (!request.outputs) {
    return modelOutputs.flatMap((info) => {
      const datatype = carried(info);
      return datatype ? [{ name: info.name, datatype, binary: request.binaryOutput }] : [];
    });
  }
  const byName = new Map(modelOutputs.map((o) => [o.name, o]));
  const seen = new Set<string>();
  return request.outputs.map((output: RequestedOutput) => {
    const info = byName.get(output.name);
    if (!info) {
      const names = modelOutputs.map((o) => `"${o.name}"`).join(', ');
      throw badRequest(`the model has no output "${output.name}" (outputs: ${names})`);
    }
    if (seen.has(output.name)) throw badRequest(`output "${output.name}" is asked for twice`);
    seen.add(output.name);
    const datatype = carried(info);
    if (!datatype) {
      throw badRequest(`output "${output.name}" has element type ${info.type}, which segserve cannot return`);
    }
    return { name: output.name, datatype, binary: output.binary };
  });
}
