/**
 * Reading an inference request body: the JSON object, and with the binary tensor data extension the raw tensor
 * bytes after it (`Inference-Header-Content-Length` gives the JSON's length). Everything about the body's form
 * is checked here; what depends on the model (names, datatypes, shapes) is checked in feeds.ts.
 */
import { z } from 'zod';
import { SegserveError } from '../../errors.js';
import { V2_DATATYPES, type V2Datatype } from './datatypes.js';

const notSupported = (extension: string) =>
  z.undefined({ error: `the ${extension} extension is not supported by segserve` }).optional();

const InputParameters = z.object({
  binary_data_size: z.int().min(0).optional(),
  shared_memory_region: notSupported('shared-memory'),
});

const OutputParameters = z.object({
  binary_data: z.boolean().optional(),
  classification: notSupported('classification'),
  shared_memory_region: notSupported('shared-memory'),
});

/** The protocol's $inference_request; unknown keys and parameters are ignored, as the protocol allows. */
const InferenceRequestSchema = z.object({
  id: z.string().optional(),
  parameters: z.object({ binary_data_output: z.boolean().optional() }).optional(),
  inputs: z
    .array(
      z.object({
        name: z.string().min(1),
        shape: z.array(z.int().min(0)),
        datatype: z.enum(V2_DATATYPES),
        parameters: InputParameters.optional(),
        // Walked by feeds.ts, which knows the shape: zod would only be slower at it.
        data: z.unknown().optional(),
      }),
    )
    .min(1),
  outputs: z.array(z.object({ name: z.string().min(1), parameters: OutputParameters.optional() })).optional(),
});

export interface RequestedInput {
  name: string;
  datatype: V2Datatype;
  shape: number[];
  /** Exactly one of `data` (JSON values, flat or nested) and `binary` (the tensor's raw bytes) is set. */
  data?: unknown;
  binary?: Buffer;
}

export interface RequestedOutput {
  name: string;
  /** Per-output `binary_data`, else the request's `binary_data_output`. */
  binary: boolean;
}

export interface InferRequest {
  id?: string;
  inputs: RequestedInput[];
  /** Undefined when the request names no outputs: every output is answered. */
  outputs?: RequestedOutput[];
  /** The request's `binary_data_output`: the form of outputs it does not name. */
  binaryOutput: boolean;
}

function badRequest(reason: string): SegserveError {
  return new SegserveError('V2_BAD_REQUEST', { reason });
}

function formatPath(path: readonly PropertyKey[]): string {
  return path
    .map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? String(p) : `.${String(p)}`))
    .join('');
}

const SHOWN_ISSUES = 5;

function envelopeError(error: z.ZodError): SegserveError {
  const issues = error.issues.map((i) => `${formatPath(i.path) || '(body)'}: ${i.message}`);
  const more = issues.length > SHOWN_ISSUES ? ` (and ${issues.length - SHOWN_ISSUES} more)` : '';
  return badRequest(`invalid inference request: ${issues.slice(0, SHOWN_ISSUES).join('; ')}${more}`);
}

/** Splits the body into its JSON part and the binary tensor data after it. */
function splitBody(body: Buffer, headerLength: string | undefined): { json: Buffer; binary: Buffer } {
  if (headerLength === undefined) return { json: body, binary: body.subarray(body.length) };
  if (!/^[0-9]+$/.test(headerLength)) {
    throw badRequest(
      `Inference-Header-Content-Length must be a byte count (decimal digits), not "${headerLength}"`,
    );
  }
  const length = Number(headerLength);
  if (length === 0 || length > body.length) {
    throw badRequest(
      `Inference-Header-Content-Length is ${headerLength}, but the body has ${body.length} bytes; it must give the length of the JSON object at the start of the body`,
    );
  }
  return { json: body.subarray(0, length), binary: body.subarray(length) };
}

function parseJson(json: Buffer, framed: boolean): unknown {
  try {
    return JSON.parse(json.toString('utf8'));
  } catch (error) {
    const reason = (error as Error).message;
    throw new SegserveError('INVALID_JSON', {
      reason: framed
        ? `${reason} (in the first ${json.length} bytes, as Inference-Header-Content-Length says)`
        : `${reason} (binary tensor data needs the Inference-Header-Content-Length header)`,
    });
  }
}

/**
 * Parses and checks a whole request body. Binary inputs take consecutive slices of the bytes after the JSON, in
 * the order of `inputs`; the slices must use up those bytes exactly.
 */
export function parseInferRequest(body: Buffer, headerLength: string | undefined): InferRequest {
  if (body.length === 0) {
    throw badRequest('the request body is empty; send an inference request object');
  }
  const { json, binary } = splitBody(body, headerLength);
  const parsed = InferenceRequestSchema.safeParse(parseJson(json, headerLength !== undefined));
  if (!parsed.success) throw envelopeError(parsed.error);
  const request = parsed.data;

  let offset = 0;
  const inputs = request.inputs.map((input): RequestedInput => {
    const size = input.parameters?.binary_data_size;
    const common = { name: input.name, datatype: input.datatype, shape: input.shape };
    if (size === undefined) {
      if (input.data === undefined) {
        throw badRequest(`input "${input.name}" has neither "data" nor parameters.binary_data_size`);
      }
      return { ...common, data: input.data };
    }
    if (input.data !== undefined) {
      throw badRequest(
        `input "${input.name}" has both "data" and parameters.binary_data_size; give the tensor one way`,
      );
    }
    if (offset + size > binary.length) {
      const where =
        headerLength === undefined
          ? 'the request has no Inference-Header-Content-Length header, so no binary data'
          : `only ${binary.length - offset} bytes of binary data remain`;
      throw badRequest(`input "${input.name}" declares binary_data_size ${size}, but ${where}`);
    }
    const slice = binary.subarray(offset, offset + size);
    offset += size;
    return { ...common, binary: slice };
  });
  if (offset !== binary.length) {
    throw badRequest(
      `the body has ${binary.length - offset} bytes after the JSON object and the binary data the inputs declare (${offset} bytes)`,
    );
  }

  const defaultBinary = request.parameters?.binary_data_output ?? false;
  // An empty `outputs` list asks for nothing in particular, so it reads like a missing one.
  const outputs =
    request.outputs && request.outputs.length > 0
      ? request.outputs.map((o) => ({ name: o.name, binary: o.parameters?.binary_data ?? defaultBinary }))
      : undefined;
  return { id: request.id, inputs, outputs, binaryOutput: defaultBinary };
}
