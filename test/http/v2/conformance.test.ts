/**
 * Open Inference Protocol v2 conformance with exact golden bytes, over a real socket: metadata, health,
 * inference in JSON and with the binary tensor data extension, and requests laid out byte for byte as the
 * Triton Python client (tritonclient.http) writes them.
 */
import { deflateSync, gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { GOLDEN_INPUT, GOLDEN_SHAPE, golden, postJson, send, serveModels } from './fixtures.js';

const v2 = serveModels({ golden });

const goldenRequest = {
  id: 'golden-1',
  inputs: [{ name: 'image', shape: GOLDEN_SHAPE, datatype: 'FP32', data: GOLDEN_INPUT }],
};

const GOLDEN_JSON_RESPONSE =
  '{"model_name":"golden","model_version":"1","id":"golden-1","outputs":[' +
  '{"name":"scores","datatype":"FP32","shape":[1,2,1,2],"data":[1,3,2,0.5]},' +
  '{"name":"classes","datatype":"INT64","shape":[1,1,2],"data":[1,0]}]}';

/** The JSON header of the binary golden response; 237 bytes. */
const GOLDEN_BINARY_HEADER =
  '{"model_name":"golden","model_version":"1","outputs":[' +
  '{"name":"scores","datatype":"FP32","shape":[1,2,1,2],"parameters":{"binary_data_size":16}},' +
  '{"name":"classes","datatype":"INT64","shape":[1,1,2],"parameters":{"binary_data_size":16}}]}';

/** scores [1, 3, 2, 0.5] as FP32 little-endian, then classes [1, 0] as INT64 little-endian. */
const GOLDEN_BINARY_PAYLOAD =
  '0000803f' + '00004040' + '00000040' + '0000003f' + '0100000000000000' + '0000000000000000';

/** GOLDEN_INPUT as FP32 little-endian: 0.5, 2, 0.25, 0.5, 1, 0.5. */
const GOLDEN_INPUT_HEX = '0000003f' + '00000040' + '0000803e' + '0000003f' + '0000803f' + '0000003f';

describe('metadata and health', () => {
  it('GET /v2 answers the server metadata, advertising binary_tensor_data and model_configuration', async () => {
    const answer = await send(`${v2.server.url}/v2`);
    expect(answer.status).toBe(200);
    expect(answer.contentType).toBe('application/json');
    expect(answer.text).toBe(
      '{"name":"segserve","version":"1.2.3","extensions":["binary_tensor_data","model_configuration"]}',
    );
  });

  it('GET /v2/health/live and /v2/health/ready answer 200 with JSON bodies', async () => {
    const live = await send(`${v2.server.url}/v2/health/live`);
    expect([live.status, live.contentType, live.text]).toEqual([200, 'application/json', '{"live":true}']);
    const ready = await send(`${v2.server.url}/v2/health/ready`);
    expect([ready.status, ready.contentType, ready.text]).toEqual([
      200,
      'application/json',
      '{"ready":true}',
    ]);
  });

  it('model metadata lists ready versions, the platform, and -1 for dynamic dimensions', async () => {
    const expected =
      '{"name":"golden","versions":["1","2"],"platform":"onnxruntime_onnx",' +
      '"inputs":[{"name":"image","datatype":"FP32","shape":[1,3,-1,-1]}],' +
      '"outputs":[{"name":"scores","datatype":"FP32","shape":[1,2,-1,-1]},' +
      '{"name":"classes","datatype":"INT64","shape":[1,-1,-1]}]}';
    for (const path of ['/v2/models/golden', '/v2/models/golden/versions/1']) {
      const answer = await send(`${v2.server.url}${path}`);
      expect([answer.status, answer.contentType, answer.text]).toEqual([200, 'application/json', expected]);
    }
  });

  it('model configuration gives -1 for dynamic dimensions, with the full shape (max_batch_size 0)', async () => {
    const answer = await send(`${v2.server.url}/v2/models/golden/versions/1/config`);
    expect(answer.status).toBe(200);
    const config = JSON.parse(answer.text) as { max_batch_size: number; input: unknown; output: unknown };
    expect(config.max_batch_size).toBe(0);
    expect(config.input).toEqual([{ name: 'image', data_type: 'TYPE_FP32', dims: [1, 3, -1, -1] }]);
    expect(config.output).toEqual([
      { name: 'scores', data_type: 'TYPE_FP32', dims: [1, 2, -1, -1] },
      { name: 'classes', data_type: 'TYPE_INT64', dims: [1, -1, -1] },
    ]);
  });

  it('model readiness answers 200 with a JSON body, for the model and for each version', async () => {
    for (const path of ['/v2/models/golden/ready', '/v2/models/golden/versions/1/ready']) {
      const answer = await send(`${v2.server.url}${path}`);
      expect([answer.status, answer.contentType, answer.text]).toEqual([
        200,
        'application/json',
        '{"name":"golden","ready":true}',
      ]);
    }
  });
});

describe('inference, exact bytes', () => {
  it('answers a JSON request with the exact JSON body', async () => {
    const answer = await postJson(`${v2.server.url}/v2/models/golden/versions/1/infer`, goldenRequest);
    expect(answer.status).toBe(200);
    expect(answer.contentType).toBe('application/json');
    expect(answer.headers.get('inference-header-content-length')).toBeNull();
    expect(answer.text).toBe(GOLDEN_JSON_RESPONSE);
  });

  it('takes nested data ("natural" form) as well as flat', async () => {
    const nested = [[[[0.5, 2]], [[0.25, 0.5]], [[1, 0.5]]]];
    const answer = await postJson(`${v2.server.url}/v2/models/golden/versions/1/infer`, {
      ...goldenRequest,
      inputs: [{ ...goldenRequest.inputs[0], data: nested }],
    });
    expect(answer.text).toBe(GOLDEN_JSON_RESPONSE);
  });

  it('serves the newest version when none is named, and each version by its path', async () => {
    const latest = await postJson(`${v2.server.url}/v2/models/golden/infer`, goldenRequest);
    expect(latest.text).toBe(
      '{"model_name":"golden","model_version":"2","id":"golden-1","outputs":[' +
        '{"name":"scores","datatype":"FP32","shape":[1,2,1,2],"data":[2,6,4,1]},' +
        '{"name":"classes","datatype":"INT64","shape":[1,1,2],"data":[1,0]}]}',
    );
  });

  it('answers a binary request with the exact header, payload and Inference-Header-Content-Length', async () => {
    const header = Buffer.from(
      '{"inputs":[{"name":"image","shape":[1,3,1,2],"datatype":"FP32","parameters":{"binary_data_size":24}}],' +
        '"parameters":{"binary_data_output":true}}',
    );
    const answer = await send(`${v2.server.url}/v2/models/golden/versions/1/infer`, {
      method: 'POST',
      headers: {
        'content-type': 'application/octet-stream',
        'inference-header-content-length': String(header.length),
      },
      body: Buffer.concat([header, Buffer.from(GOLDEN_INPUT_HEX, 'hex')]),
    });
    expect(answer.status, answer.text).toBe(200);
    expect(answer.contentType).toBe('application/octet-stream');
    expect(GOLDEN_BINARY_HEADER.length).toBe(237);
    expect(answer.headers.get('inference-header-content-length')).toBe('237');
    expect(answer.bytes.subarray(0, 237).toString('utf8')).toBe(GOLDEN_BINARY_HEADER);
    expect(answer.bytes.subarray(237).toString('hex')).toBe(GOLDEN_BINARY_PAYLOAD);
    expect(answer.headers.get('content-length')).toBe(String(237 + 32));
  });

  it('mixes binary and JSON outputs as each output asks', async () => {
    const answer = await postJson(`${v2.server.url}/v2/models/golden/versions/1/infer`, {
      inputs: goldenRequest.inputs,
      outputs: [{ name: 'classes', parameters: { binary_data: true } }, { name: 'scores' }],
    });
    const header =
      '{"model_name":"golden","model_version":"1","outputs":[' +
      '{"name":"classes","datatype":"INT64","shape":[1,1,2],"parameters":{"binary_data_size":16}},' +
      '{"name":"scores","datatype":"FP32","shape":[1,2,1,2],"data":[1,3,2,0.5]}]}';
    expect(answer.contentType).toBe('application/octet-stream');
    expect(answer.headers.get('inference-header-content-length')).toBe(String(header.length));
    expect(answer.bytes.subarray(0, header.length).toString()).toBe(header);
    expect(answer.bytes.subarray(header.length).toString('hex')).toBe(
      '0100000000000000' + '0000000000000000',
    );
  });

  it('binary_data: false on an output overrides binary_data_output', async () => {
    const answer = await postJson(`${v2.server.url}/v2/models/golden/versions/1/infer`, {
      inputs: goldenRequest.inputs,
      parameters: { binary_data_output: true },
      outputs: [{ name: 'classes', parameters: { binary_data: false } }],
    });
    expect(answer.contentType).toBe('application/json');
    expect(answer.text).toBe(
      '{"model_name":"golden","model_version":"1","outputs":[{"name":"classes","datatype":"INT64","shape":[1,1,2],"data":[1,0]}]}',
    );
  });
});

/**
 * Requests as tritonclient.http builds them: no Content-Type, the JSON written by python-rapidjson (compact,
 * keys in insertion order: id, parameters?, inputs with name/shape/datatype/parameters, outputs with
 * name/parameters), `binary_data_output: true` when no outputs are named, and the JSON's length in
 * Inference-Header-Content-Length. The answer is read as its InferResult does: the header, then each binary
 * output's bytes in order.
 */
describe('the Triton Python client layout', () => {
  const tritonJson =
    '{"id":"7","parameters":{"binary_data_output":true},' +
    '"inputs":[{"name":"image","shape":[1,3,1,2],"datatype":"FP32","parameters":{"binary_data_size":24}}]}';

  function readLikeInferResult(answer: { headers: Headers; bytes: Buffer }) {
    const length = Number(answer.headers.get('inference-header-content-length') ?? answer.bytes.length);
    const header = JSON.parse(answer.bytes.subarray(0, length).toString()) as {
      id: string;
      outputs: { name: string; shape: number[]; parameters: { binary_data_size: number } }[];
    };
    let offset = length;
    const tensors: Record<string, Buffer> = {};
    for (const output of header.outputs) {
      const size = output.parameters.binary_data_size;
      tensors[output.name] = answer.bytes.subarray(offset, offset + size);
      offset += size;
    }
    return { header, tensors, rest: answer.bytes.length - offset };
  }

  it('takes an infer() request with numpy binary inputs and answers what InferResult reads', async () => {
    const body = Buffer.concat([Buffer.from(tritonJson), Buffer.from(GOLDEN_INPUT_HEX, 'hex')]);
    const answer = await send(`${v2.server.url}/v2/models/golden/versions/1/infer`, {
      method: 'POST',
      headers: { 'Inference-Header-Content-Length': String(tritonJson.length) },
      body,
    });
    expect(answer.status).toBe(200);
    const { header, tensors, rest } = readLikeInferResult(answer);
    expect(header.id).toBe('7');
    expect(rest).toBe(0);
    expect([...new Float32Array(new Uint8Array(tensors.scores).buffer)]).toEqual([1, 3, 2, 0.5]);
    expect([...new BigInt64Array(new Uint8Array(tensors.classes).buffer)]).toEqual([1n, 0n]);
  });

  it('takes InferRequestedOutput(binary_data=True) outputs', async () => {
    const json =
      '{"inputs":[{"name":"image","shape":[1,3,1,2],"datatype":"FP32","parameters":{"binary_data_size":24}}],' +
      '"outputs":[{"name":"classes","parameters":{"binary_data":true}}]}';
    const answer = await send(`${v2.server.url}/v2/models/golden/versions/2/infer`, {
      method: 'POST',
      headers: { 'Inference-Header-Content-Length': String(json.length) },
      body: Buffer.concat([Buffer.from(json), Buffer.from(GOLDEN_INPUT_HEX, 'hex')]),
    });
    const { header, tensors } = readLikeInferResult(answer);
    expect(header.outputs.map((o) => [o.name, o.shape])).toEqual([['classes', [1, 1, 2]]]);
    expect(tensors.classes.toString('hex')).toBe('0100000000000000' + '0000000000000000');
  });

  it('takes a JSON-only request without Content-Type (set_data_from_numpy(binary_data=False))', async () => {
    const json =
      '{"inputs":[{"name":"image","shape":[1,3,1,2],"datatype":"FP32","data":[0.5,2.0,0.25,0.5,1.0,0.5]}],' +
      '"outputs":[{"name":"scores","parameters":{"binary_data":false}}]}';
    const answer = await send(`${v2.server.url}/v2/models/golden/versions/1/infer`, {
      method: 'POST',
      body: Buffer.from(json),
    });
    expect(answer.text).toBe(
      '{"model_name":"golden","model_version":"1","outputs":[{"name":"scores","datatype":"FP32","shape":[1,2,1,2],"data":[1,3,2,0.5]}]}',
    );
  });

  it('takes gzip and deflate (zlib) request bodies, as request_compression_algorithm sends them', async () => {
    const body = Buffer.concat([Buffer.from(tritonJson), Buffer.from(GOLDEN_INPUT_HEX, 'hex')]);
    for (const [encoding, compressed] of [
      ['gzip', gzipSync(body)],
      ['deflate', deflateSync(body)],
    ] as const) {
      const answer = await send(`${v2.server.url}/v2/models/golden/versions/1/infer`, {
        method: 'POST',
        headers: {
          'Content-Encoding': encoding,
          'Inference-Header-Content-Length': String(tritonJson.length),
        },
        body: compressed,
      });
      expect(answer.status, encoding).toBe(200);
      expect(readLikeInferResult(answer).tensors.scores.toString('hex')).toBe(
        GOLDEN_BINARY_PAYLOAD.slice(0, 32),
      );
    }
  });
});
