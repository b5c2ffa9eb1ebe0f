/** Element types segserve moves between threads and over the wire. */
export type TensorType =
  | 'float32'
  | 'float16'
  | 'int8'
  | 'uint8'
  | 'int16'
  | 'int32'
  | 'int64'
  | 'bool'
  | 'float64';

export type TensorArray =
  | Float32Array
  | Float64Array
  | Int8Array
  | Uint8Array
  | Int16Array
  | Uint16Array
  | Int32Array
  | BigInt64Array;

/** A plain tensor that survives structured clone; `data` is transferred, not copied, across threads. */
export interface TensorData {
  type: TensorType;
  dims: number[];
  data: TensorArray;
}

export type NamedTensors = Record<string, TensorData>;
