/**
 * Every client mistake the v2 routes refuse, over a real socket: each answer has the right status, the content
 * type exactly `application/json` and the body `{"error": "<message>"}`, and the server keeps serving.
 */
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  expectError,
  GOLDEN_INPUT,
  GOLDEN_SHAPE,
  golden,
  postBinary,
  postJson,
  send,
  serveModels,
  startServer,
  type TestServer,
  typed,
} from './fixtures.js';

const v2 = serveModels({ golden, typed });
/** The same repository behind a 1 KiB body limit. */
let small: TestServer;

beforeAll(async () => {
  small = await startServer(v2.repo.repository, { bodyLimit: 1024 });
});

afterAll(async () => {
  await small?.app.close();
});

const infer = () => `${v2.server.url}/v2/models/golden/versions/1/infer`;
const image = (changes: Record<string, unknown> = {}) => ({
  name: 'image',
  shape: GOLDEN_SHAPE,
  datatype: 'FP32',
  data: GOLDEN_INPUT,
  ...changes,
});
const inputBytes = (count = 6) => new Float32Array(count);

describe('unknown models, versions and routes: 404', () => {
  const cases: [string, string, string, string][] = [
    ['GET', '/v2/models/nope', 'No model named "nope".'],
    ['GET', '/v2/models/nope/ready', 'No model named "nope".'],
    ['POST', '/v2/models/nope/infer', 'No model named "nope".'],
    ['GET', '/v2/models/golden/versions/9', 'Model "golden" has no loaded version 9.'],
    ['GET', '/v2/models/golden/versions/9/ready', 'Model "golden" has no loaded version 9.'],
    ['POST', '/v2/models/golden/versions/9/infer', 'Model "golden" has no loaded version 9.'],
    ['GET', '/v2/nothing', 'No route GET /v2/nothing.'],
    ['GET', '/v2/models/golden/infer', 'No route GET /v2/models/golden/infer.'],
  ].map(([method, path, message]) => [`${method} ${path}`, method, path, message]);
  for (const [what, method, path, message] of cases) {
    it(what, async () => {
      const answer = await send(`${v2.server.url}${path}`, {
        method,
        ...(method === 'POST' ? { body: JSON.stringify({ inputs: [image()] }) } : {}),
      });
      expectError(answer, 404, message);
    });
  }
});

describe('malformed versions: 400', () => {
  // `abc` would be an alias name (a 404 when the model has no such alias); `Abc` starts with a capital.
  for (const version of ['Abc', '0', '1.5', '-1', '99999999999']) {
    it(`version "${version}"`, async () => {
      const answer = await send(`${v2.server.url}/v2/models/golden/versions/${version}`);
      expectError(
        answer,
        400,
        `model version must be a positive integer or an alias name (a letter, then letters, digits, _ or -), not "${version}"`,
      );
    });
  }
  it('an alias the model does not have: 404', async () => {
    const answer = await send(`${v2.server.url}/v2/models/golden/versions/abc`);
    expectError(answer, 404, 'Model "golden" has no alias "abc".');
  });
});

describe('request bodies the protocol does not allow: 400', () => {
  const cases: [string, unknown, string | RegExp][] = [
    ['an empty body', '', 'the request body is empty; send an inference request object'],
    [
      'a body that is not JSON',
      'inputs: []',
      /^The request body is not valid JSON: .*Inference-Header-Content-Length/,
    ],
    ['a JSON array', [], 'invalid inference request: (body): Invalid input: expected object, received array'],
    ['no inputs', {}, 'invalid inference request: inputs: Invalid input: expected array, received undefined'],
    [
      'an empty inputs list',
      { inputs: [] },
      'invalid inference request: inputs: Too small: expected array to have >=1 items',
    ],
    [
      'an unknown datatype',
      { inputs: [image({ datatype: 'FLOAT32' })] },
      /^invalid inference request: inputs\[0\]\.datatype: Invalid option: expected one of "BOOL"\|"UINT8"/,
    ],
    [
      'a shape with a fraction',
      { inputs: [image({ shape: [1, 3, 1.5, 2] })] },
      'invalid inference request: inputs[0].shape[2]: Invalid input: expected int, received number',
    ],
    [
      'a negative dimension',
      { inputs: [image({ shape: [1, 3, -1, 2] })] },
      'invalid inference request: inputs[0].shape[2]: Too small: expected number to be >=0',
    ],
    [
      'an input without a name',
      { inputs: [image({ name: undefined })] },
      /^invalid inference request: inputs\[0\]\.name: /,
    ],
    [
      'a numeric id',
      { id: 7, inputs: [image()] },
      'invalid inference request: id: Invalid input: expected string, received number',
    ],
    [
      'a non-boolean binary_data_output',
      { inputs: [image()], parameters: { binary_data_output: 'yes' } },
      'invalid inference request: parameters.binary_data_output: Invalid input: expected boolean, received string',
    ],
    [
      'a non-boolean binary_data',
      { inputs: [image()], outputs: [{ name: 'scores', parameters: { binary_data: 1 } }] },
      'invalid inference request: outputs[0].parameters.binary_data: Invalid input: expected boolean, received number',
    ],
    [
      'the classification extension',
      { inputs: [image()], outputs: [{ name: 'scores', parameters: { classification: 2 } }] },
      'invalid inference request: outputs[0].parameters.classification: the classification extension is not supported by segserve',
    ],
    [
      'the shared-memory extension',
      {
        inputs: [
          image({ data: undefined, parameters: { shared_memory_region: 'r', shared_memory_byte_size: 24 } }),
        ],
      },
      'invalid inference request: inputs[0].parameters.shared_memory_region: the shared-memory extension is not supported by segserve',
    ],
    [
      'a negative binary_data_size',
      { inputs: [image({ data: undefined, parameters: { binary_data_size: -4 } })] },
      'invalid inference request: inputs[0].parameters.binary_data_size: Too small: expected number to be >=0',
    ],
    [
      'an input without data',
      { inputs: [image({ data: undefined })] },
      'input "image" has neither "data" nor parameters.binary_data_size',
    ],
    [
      'an input with data and binary_data_size',
      { inputs: [image({ parameters: { binary_data_size: 24 } })] },
      'input "image" has both "data" and parameters.binary_data_size; give the tensor one way',
    ],
    [
      'binary_data_size without the Inference-Header-Content-Length header',
      { inputs: [image({ data: undefined, parameters: { binary_data_size: 24 } })] },
      'input "image" declares binary_data_size 24, but the request has no Inference-Header-Content-Length header, so no binary data',
    ],
  ];
  for (const [what, body, message] of cases) {
    it(what, async () => {
      expectError(await postJson(infer(), body), 400, message);
    });
  }
});

describe('requests the model cannot take: 400', () => {
  const cases: [string, unknown, string][] = [
    [
      'an unknown input',
      { inputs: [image({ name: 'img' })] },
      'the model has no input "img" (inputs: "image")',
    ],
    ['an input given twice', { inputs: [image(), image()] }, 'input "image" is given twice'],
    [
      'another datatype than the model takes',
      { inputs: [image({ datatype: 'INT32', data: [1, 2, 3, 4, 5, 6] })] },
      'input "image" has datatype INT32, but the model takes FP32; segserve converts no datatypes (as Triton), send FP32',
    ],
    [
      'BYTES for a numeric input',
      { inputs: [image({ datatype: 'BYTES', data: ['a', 'b', 'c', 'd', 'e', 'f'] })] },
      'input "image" is BYTES, but the model takes FP32; segserve models take numeric tensors, send the FP32 values themselves',
    ],
    [
      'a shape of another rank',
      { inputs: [image({ shape: [3, 1, 2] })] },
      'input "image" has shape [3, 1, 2], but the model takes [1, 3, -1, -1] (4 dimensions)',
    ],
    [
      'a fixed dimension of another size',
      { inputs: [image({ shape: [1, 4, 1, 2], data: new Array(8).fill(0) })] },
      'input "image" has shape [1, 4, 1, 2], but the model takes [1, 3, -1, -1]: dimension 1 must be 3',
    ],
    [
      'a dynamic dimension of 0',
      { inputs: [image({ shape: [1, 3, 0, 2], data: [] })] },
      'input "image": dimension 2 is 0; dynamic dimensions take sizes of 1 or more',
    ],
    [
      'fewer values than the shape holds',
      { inputs: [image({ data: GOLDEN_INPUT.slice(1) })] },
      'input "image" has 5 values in "data", but shape [1, 3, 1, 2] holds 6',
    ],
    [
      'nested data that does not follow the shape',
      { inputs: [image({ data: [[[[0.5, 2]], [[0.25, 0.5]]]] })] },
      'input "image": data[0] has 2 entries, but dimension 1 of shape [1, 3, 1, 2] is 3 (send "data" flat or nested exactly as the shape)',
    ],
    [
      'nested data deeper than the shape',
      { inputs: [image({ data: [[[[[0.5], 2]], [[0.25, 0.5]], [[1, 0.5]]]] })] },
      'input "image": data[0][0][0][0] is nested deeper than shape [1, 3, 1, 2]',
    ],
    ['data that is not an array', { inputs: [image({ data: 5 })] }, 'input "image": "data" must be an array'],
    [
      'an unknown output',
      { inputs: [image()], outputs: [{ name: 'nope' }] },
      'the model has no output "nope" (outputs: "scores", "classes")',
    ],
    [
      'an output asked for twice',
      { inputs: [image()], outputs: [{ name: 'scores' }, { name: 'scores' }] },
      'output "scores" is asked for twice',
    ],
  ];
  for (const [what, body, message] of cases) {
    it(what, async () => {
      expectError(await postJson(infer(), body), 400, message);
    });
  }

  it('a missing input', async () => {
    const answer = await postJson(`${v2.server.url}/v2/models/typed/infer`, {
      inputs: [{ name: 'image', shape: [1, 3, 1, 1], datatype: 'FP32', data: [0, 0, 0] }],
    });
    expectError(
      answer,
      400,
      'the request lacks input "in_bool", "in_uint8", "in_int8", "in_int16", "in_int32", "in_int64", "in_float16", "in_float64"; the model takes "image", "in_bool", "in_uint8", "in_int8", "in_int16", "in_int32", "in_int64", "in_float16", "in_float64"',
    );
  });

  it('one dimension name with two sizes', async () => {
    const answer = await postJson(`${v2.server.url}/v2/models/typed/infer`, {
      inputs: [
        { name: 'in_int64', shape: [2], datatype: 'INT64', data: [1, 2] },
        { name: 'in_float64', shape: [3], datatype: 'FP64', data: [1, 2, 3] },
      ],
    });
    expectError(
      answer,
      400,
      'input "in_float64": dimension 0 ("n") is 3, but another input gave "n" the size 2',
    );
  });
});

describe('binary tensor data framing: 400', () => {
  const header = (size = 24) => ({
    inputs: [image({ data: undefined, parameters: { binary_data_size: size } })],
  });

  it('a binary_data_size that does not match the shape', async () => {
    const answer = await postBinary(infer(), header(20), inputBytes(5));
    expectError(
      answer,
      400,
      'input "image" declares binary_data_size 20, but shape [1, 3, 1, 2] of FP32 takes 24 bytes',
    );
  });

  it('fewer bytes than declared', async () => {
    const answer = await postBinary(infer(), header(), inputBytes(5));
    expectError(
      answer,
      400,
      'input "image" declares binary_data_size 24, but only 20 bytes of binary data remain',
    );
  });

  it('trailing bytes after the declared binary data', async () => {
    const answer = await postBinary(infer(), header(), inputBytes(7));
    expectError(
      answer,
      400,
      'the body has 4 bytes after the JSON object and the binary data the inputs declare (24 bytes)',
    );
  });

  it('binary data after JSON without Inference-Header-Content-Length', async () => {
    const json = Buffer.from(JSON.stringify(header()));
    const answer = await send(infer(), {
      method: 'POST',
      body: Buffer.concat([json, Buffer.from(inputBytes().buffer)]),
    });
    expectError(
      answer,
      400,
      /^The request body is not valid JSON: .* \(binary tensor data needs the Inference-Header-Content-Length header\)$/,
    );
  });

  for (const [value, message] of [
    ['abc', 'Inference-Header-Content-Length must be a byte count (decimal digits), not "abc"'],
    ['-5', 'Inference-Header-Content-Length must be a byte count (decimal digits), not "-5"'],
    ['0', /^Inference-Header-Content-Length is 0, but the body has \d+ bytes; it must give the length/],
    ['100000', /^Inference-Header-Content-Length is 100000, but the body has \d+ bytes/],
  ] as const) {
    it(`Inference-Header-Content-Length "${value}"`, async () => {
      const json = Buffer.from(JSON.stringify(header()));
      const answer = await send(infer(), {
        method: 'POST',
        headers: { 'inference-header-content-length': value },
        body: Buffer.concat([json, Buffer.from(inputBytes().buffer)]),
      });
      expectError(answer, 400, message);
    });
  }

  it('a header length that cuts the JSON short', async () => {
    const json = Buffer.from(JSON.stringify(header()));
    const answer = await send(infer(), {
      method: 'POST',
      headers: { 'inference-header-content-length': String(json.length - 1) },
      body: Buffer.concat([json, Buffer.from(inputBytes().buffer)]),
    });
    expectError(
      answer,
      400,
      new RegExp(
        `^The request body is not valid JSON: .* \\(in the first ${json.length - 1} bytes, as Inference-Header-Content-Length says\\)$`,
      ),
    );
  });
});

describe('encodings, content types and sizes', () => {
  it('an unsupported Content-Encoding: 415', async () => {
    const answer = await send(infer(), {
      method: 'POST',
      headers: { 'content-encoding': 'br' },
      body: JSON.stringify({ inputs: [image()] }),
    });
    expectError(answer, 415, 'Content-Encoding "br" is not supported; send gzip, deflate or identity.');
  });

  it('a body that is not gzip as it claims: 400', async () => {
    const answer = await send(infer(), {
      method: 'POST',
      headers: { 'content-encoding': 'gzip' },
      body: JSON.stringify({ inputs: [image()] }),
    });
    expectError(answer, 400, /^the gzip body cannot be decompressed: /);
  });

  it('a malformed Content-Type: 415', async () => {
    const answer = await send(infer(), {
      method: 'POST',
      headers: { 'content-type': 'not a media type' },
      body: JSON.stringify({ inputs: [image()] }),
    });
    expect(answer.status).toBe(415);
    expect(answer.contentType).toBe('application/json');
    expect(Object.keys(JSON.parse(answer.text))).toEqual(['error']);
  });

  it('any valid Content-Type is read as an inference request', async () => {
    const answer = await send(infer(), {
      method: 'POST',
      headers: { 'content-type': 'text/plain' },
      body: JSON.stringify({ inputs: [image()], outputs: [{ name: 'classes' }] }),
    });
    expect(answer.status).toBe(200);
  });

  it('a body over the limit: 413', async () => {
    const answer = await postJson(`${small.url}/v2/models/golden/infer`, {
      inputs: [image()],
      padding: 'x'.repeat(2000),
    });
    expectError(answer, 413, 'The request body is larger than the 1024 bytes this route accepts.');
  });

  it('a compressed body that expands over the limit: 413', async () => {
    const body = gzipSync(JSON.stringify({ inputs: [image()], padding: ' '.repeat(100_000) }));
    expect(body.length).toBeLessThan(1024);
    const answer = await send(`${small.url}/v2/models/golden/infer`, {
      method: 'POST',
      headers: { 'content-encoding': 'gzip' },
      body,
    });
    expectError(answer, 413, 'The request body is larger than the 1024 bytes this route accepts.');
  });

  it('keeps serving after all of the above', async () => {
    const live = await send(`${v2.server.url}/v2/health/live`);
    expect(live.status).toBe(200);
    const answer = await postJson(infer(), { inputs: [image()], outputs: [{ name: 'classes' }] });
    expect(answer.text).toBe(
      '{"model_name":"golden","model_version":"1","outputs":[{"name":"classes","datatype":"INT64","shape":[1,1,2],"data":[1,0]}]}',
    );
  });
});
