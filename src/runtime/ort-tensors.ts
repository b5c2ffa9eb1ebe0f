/**
 * Conversions between segserve's plain tensors (what crosses threads and the wire) and onnxruntime's Tensor.
 * Both directions wrap the same typed array; nothing is copied.
 */
import * as ort from 'onnxruntime-node';
import { SegserveError } from '../errors.js';
import type { TensorInfo } from './protocol.js';
import type { NamedTensors, TensorArray, TensorData, TensorType } from './types.js';

/** Typed array constructors per element type, as onnxruntime expects them (float16 as raw Uint16 bits). */
const ARRAYS: Record<TensorType, (length: number) => TensorArray> = {
  float32: (n) => new Float32Array(n),
  float64: (n) => new Float64Array(n),
  float16: (n) => new Uint16Array(n),
  int8: (n) => new Int8Array(n),
  uint8: (n) => new Uint8Array(n),
  int16: (n) => new Int16Array(n),
  int32: (n) => new Int32Array(n),
  int64: (n) => new BigInt64Array(n),
  bool: (n) => new Uint8Array(n),
};

function isTensorType(type: string): type is TensorType {
  return Object.hasOwn(ARRAYS, type);
}

export function toOrtTensor(tensor: TensorData): ort.Tensor {
  return new ort.Tensor(tensor.type, tensor.data, tensor.dims);
}

function fromOrtTensor(name: string, tensor: ort.Tensor): TensorData {
  const data = tensor.data;
  if (!isTensorType(tensor.type) || !ArrayBuffer.isView(data)) {
    throw new SegserveError('INFERENCE_FAILED', {
      reason: `output "${name}" has element type ${tensor.type}, which segserve does not carry`,
    });
  }
  return { type: tensor.type, dims: [...tensor.dims], data: data as TensorArray };
}

export function fromOrtOutputs(outputs: ort.InferenceSession.OnnxValueMapType): NamedTensors {
  const tensors: NamedTensors = {};
  for (const [name, value] of Object.entries(outputs)) {
    if (!(value instanceof ort.Tensor)) {
      throw new SegserveError('INFERENCE_FAILED', { reason: `output "${name}" is not a tensor` });
    }
    tensors[name] = fromOrtTensor(name, value);
  }
  return tensors;
}

export function describeValues(metadata: readonly ort.InferenceSession.ValueMetadata[]): TensorInfo[] {
  return metadata.map((m) =>
    m.isTensor
      ? { name: m.name, type: m.type, dims: [...m.shape] }
      : { name: m.name, type: 'non-tensor', dims: [] },
  );
}

/**
 * The concrete shape used to warm a session up: fixed dimensions as they are; symbolic height and width from
 * the configured input size (NCHW, or NHWC when only the last axis looks like channels); every other symbolic
 * dimension (batch, mostly) 1.
 */
export function warmupDims(dims: (number | string)[], size?: { width: number; height: number }): number[] {
  const looksLikeChannels = (d: number | string | undefined) => typeof d === 'number' && d <= 4;
  let heightAxis = -1;
  let widthAxis = -1;
  if (dims.length === 4) {
    const channelsLast = looksLikeChannels(dims[3]) && !looksLikeChannels(dims[1]);
    [heightAxis, widthAxis] = channelsLast ? [1, 2] : [2, 3];
  }
  return dims.map((d, axis) => {
    if (typeof d === 'number') return d;
    if (axis === heightAxis) return size?.height ?? 1;
    if (axis === widthAxis) return size?.width ?? 1;
    return 1;
  });
}

/** A tensor of zeros for warm-up; throws for element types segserve cannot feed (strings, maps). */
export function zeroTensor(info: TensorInfo, size?: { width: number; height: number }): ort.Tensor {
  if (!isTensorType(info.type)) {
    throw new Error(`input "${info.name}" has element type ${info.type}, which segserve cannot feed`);
  }
  const dims = warmupDims(info.dims, size);
  const length = dims.reduce((a, b) => a * b, 1);
  return toOrtTensor({ type: info.type, dims, data: ARRAYS[info.type](length) });
}
