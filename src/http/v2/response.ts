/**
 * Writing an inference response: the $inference_response JSON object, followed by the raw bytes of the outputs
 * asked for as binary (binary tensor data extension), in the order the JSON lists them. The JSON is written as
 * text directly so that large outputs never become arrays of boxed numbers twice, and int64 values stay exact.
 */
import { SegserveError } from '../../errors.js';
import type { NamedTensors } from '../../runtime/types.js';
import { codecOf } from './datatypes.js';
import type { SelectedOutput } from './feeds.js';

export interface InferResponseParts {
  modelName: string;
  modelVersion: number;
  id?: string;
  outputs: readonly SelectedOutput[];
  tensors: NamedTensors;
}

export interface EncodedResponse {
  body: Buffer;
  /** Length of the JSON object when binary data follows it (the Inference-Header-Content-Length value). */
  headerLength?: number;
}

export function encodeInferResponse(parts: InferResponseParts): EncodedResponse {
  const binaries: Buffer[] = [];
  const outputs = parts.outputs.map((output) => {
    const tensor = parts.tensors[output.name];
    const codec = codecOf(output.datatype);
    if (!tensor || !codec || tensor.type !== codec.type) {
      throw new SegserveError('INFERENCE_FAILED', {
        reason: `output "${output.name}" came back ${tensor ? `as ${tensor.type}` : 'missing'}, not as ${output.datatype}`,
      });
    }
    const head = `{"name":${JSON.stringify(output.name)},"datatype":"${output.datatype}","shape":${JSON.stringify(tensor.dims)}`;
    if (!output.binary) return `${head},"data":${codec.toJson(tensor.data)}}`;
    const { buffer, byteOffset, byteLength } = tensor.data;
    binaries.push(Buffer.from(buffer, byteOffset, byteLength));
    return `${head},"parameters":{"binary_data_size":${byteLength}}}`;
  });
  const id = parts.id === undefined ? '' : `,"id":${JSON.stringify(parts.id)}`;
  const json = `{"model_name":${JSON.stringify(parts.modelName)},"model_version":"${parts.modelVersion}"${id},"outputs":[${outputs.join(',')}]}`;
  const header = Buffer.from(json, 'utf8');
  if (binaries.length === 0) return { body: header };
  return { body: Buffer.concat([header, ...binaries]), headerLength: header.length };
}
