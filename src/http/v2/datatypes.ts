/**
 * The tensor datatypes of the Open Inference Protocol and how segserve carries each one: the onnxruntime element
 * type behind it, its width in the binary tensor data extension, and its JSON form.
 *
 * Binary tensor data is little-endian by the protocol. Typed arrays are copied byte for byte, which is exactly
 * that on every platform onnxruntime-node ships binaries for (x64 and arm64, all little-endian).
 */
import { SegserveError } from '../../errors.js';
import type { TensorArray, TensorType } from '../../runtime/types.js';
import { halfToNumber, numberToHalf } from './float16.js';

export const V2_DATATYPES = [
  'BOOL',
  'UINT8',
  'UINT16',
  'UINT32',
  'UINT64',
  'INT8',
  'INT16',
  'INT32',
  'INT64',
  'FP16',
  'FP32',
  'FP64',
  'BYTES',
] as const;

export type V2Datatype = (typeof V2_DATATYPES)[number];

/** onnxruntime element types (as `TensorInfo.type` names them) and the protocol datatype of each. */
const FROM_ORT: Readonly<Record<string, V2Datatype>> = {
  bool: 'BOOL',
  uint8: 'UINT8',
  uint16: 'UINT16',
  uint32: 'UINT32',
  uint64: 'UINT64',
  int8: 'INT8',
  int16: 'INT16',
  int32: 'INT32',
  int64: 'INT64',
  float16: 'FP16',
  float32: 'FP32',
  float64: 'FP64',
  string: 'BYTES',
};

/** The protocol datatype of an onnxruntime element type; undefined for sequences and maps. */
export function datatypeOf(ortType: string): V2Datatype | undefined {
  return Object.hasOwn(FROM_ORT, ortType) ? FROM_ORT[ortType] : undefined;
}

/** How tensors of one datatype are read from a request and written into a response. */
export interface Codec {
  type: TensorType;
  /** Bytes per element in the binary tensor data extension. */
  bytes: number;
  /** Wraps a buffer that holds exactly the tensor's raw bytes; throws for values the type cannot hold. */
  fromBytes(buffer: ArrayBuffer, input: string): TensorArray;
  /** Converts flat JSON values, refusing the first one the type cannot hold exactly. */
  fromJson(values: readonly unknown[], input: string): TensorArray;
  /** The JSON array text of the data (row-major, flat). */
  toJson(data: TensorArray): string;
}

function badValue(input: string, index: number, value: unknown, wanted: string): SegserveError {
  if (typeof value === 'number' && !Number.isFinite(value)) {
    // JSON.parse reads a literal beyond the double range (1e400) as an infinity, which JSON.stringify would
    // show as `null`: say what happened to the number the client wrote instead.
    return new SegserveError('V2_BAD_REQUEST', {
      reason: `input "${input}": data[${index}] is out of range: a JSON number beyond ±1.7976931348623157e308 is not finite (it reads as ${value > 0 ? '+' : '-'}infinity); send ${wanted}`,
    });
  }
  const shown = JSON.stringify(value) ?? String(value);
  return new SegserveError('V2_BAD_REQUEST', {
    reason: `input "${input}": data[${index}] is ${shown.length > 40 ? `${shown.slice(0, 40)}...` : shown}, not ${wanted}`,
  });
}

type NumberArray = Exclude<TensorArray, BigInt64Array>;

/** Datatypes whose JSON form is plain numbers; `fits` says which numbers the type holds. */
function numberCodec(
  type: TensorType,
  bytes: number,
  make: { new (length: number): NumberArray; new (buffer: ArrayBuffer): NumberArray },
  fits: (value: number) => boolean,
  wanted: string,
): Codec {
  return {
    type,
    bytes,
    fromBytes: (buffer) => new make(buffer),
    fromJson(values, input) {
      const out = new make(values.length);
      for (let i = 0; i < values.length; i++) {
        const v = values[i];
        // JSON has no infinities or NaN: a non-finite value here was an out-of-range literal such as 1e400.
        if (typeof v !== 'number' || !Number.isFinite(v) || !fits(v)) throw badValue(input, i, v, wanted);
        out[i] = v;
      }
      return out;
    },
    // JSON has no NaN or infinities: JSON.stringify writes them as null (binary outputs keep them exactly).
    toJson: (data) => JSON.stringify(Array.from(data as NumberArray)),
  };
}

function integerCodec(
  type: TensorType,
  bytes: number,
  make: { new (length: number): NumberArray; new (buffer: ArrayBuffer): NumberArray },
  min: number,
  max: number,
): Codec {
  const fits = (v: number) => Number.isInteger(v) && v >= min && v <= max;
  return numberCodec(type, bytes, make, fits, `an integer in [${min}, ${max}]`);
}

const BOOL: Codec = {
  type: 'bool',
  bytes: 1,
  fromBytes(buffer, input) {
    const out = new Uint8Array(buffer);
    const bad = out.findIndex((v) => v > 1);
    if (bad >= 0) {
      throw new SegserveError('V2_BAD_REQUEST', {
        reason: `input "${input}": BOOL byte ${bad} is ${out[bad]}; the binary form of BOOL is 0 or 1`,
      });
    }
    return out;
  },
  fromJson(values, input) {
    const out = new Uint8Array(values.length);
    for (let i = 0; i < values.length; i++) {
      const v = values[i];
      if (typeof v !== 'boolean') throw badValue(input, i, v, 'true or false');
      out[i] = v ? 1 : 0;
    }
    return out;
  },
  toJson: (data) => JSON.stringify(Array.from(data as Uint8Array, (v) => v !== 0)),
};

const INT64: Codec = {
  type: 'int64',
  bytes: 8,
  fromBytes: (buffer) => new BigInt64Array(buffer),
  fromJson(values, input) {
    const out = new BigInt64Array(values.length);
    for (let i = 0; i < values.length; i++) {
      const v = values[i];
      // JSON.parse has already rounded anything beyond 2^53, so only safe integers are known exactly.
      if (typeof v !== 'number' || !Number.isSafeInteger(v)) {
        throw badValue(
          input,
          i,
          v,
          'an integer within ±(2^53 - 1) (send larger INT64 values as binary data)',
        );
      }
      out[i] = BigInt(v);
    }
    return out;
  },
  // Decimal digits of each int64, exact over the whole range (a JSON number has no precision limit).
  toJson: (data) => `[${Array.from(data as BigInt64Array, String).join(',')}]`,
};

const FP16: Codec = {
  type: 'float16',
  bytes: 2,
  fromBytes: (buffer) => new Uint16Array(buffer),
  fromJson(values, input) {
    const out = new Uint16Array(values.length);
    for (let i = 0; i < values.length; i++) {
      const v = values[i];
      const bits = typeof v === 'number' ? numberToHalf(v) : undefined;
      if (bits === undefined) throw badValue(input, i, v, 'a number within the FP16 range (±65504)');
      out[i] = bits;
    }
    return out;
  },
  toJson: (data) => JSON.stringify(Array.from(data as Uint16Array, halfToNumber)),
};

/** The codec of every datatype segserve can feed to and read from onnxruntime. */
const CODECS: Partial<Record<V2Datatype, Codec>> = {
  BOOL,
  UINT8: integerCodec('uint8', 1, Uint8Array, 0, 0xff),
  INT8: integerCodec('int8', 1, Int8Array, -0x80, 0x7f),
  INT16: integerCodec('int16', 2, Int16Array, -0x8000, 0x7fff),
  INT32: integerCodec('int32', 4, Int32Array, -0x80000000, 0x7fffffff),
  INT64,
  FP16,
  FP32: numberCodec(
    'float32',
    4,
    Float32Array,
    (v) => Number.isFinite(Math.fround(v)),
    'a number within the FP32 range',
  ),
  FP64: numberCodec('float64', 8, Float64Array, () => true, 'a finite number'),
};

/** The codec of a datatype, or undefined for those segserve cannot carry (BYTES, UINT16, UINT32, UINT64). */
export function codecOf(datatype: V2Datatype): Codec | undefined {
  return CODECS[datatype];
}
