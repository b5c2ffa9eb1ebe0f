/**
 * Every datatype segserve carries, through a pass-through model, in JSON and as binary tensor data: exact
 * values at the edges of each range, FP16 rounding, int64 beyond 2^53, and the values each datatype refuses.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { halfToNumber, numberToHalf } from '../../../src/http/v2/float16.js';
import { bytesOf, postBinary, postJson, send, serveModels, typed } from './fixtures.js';

const v2 = serveModels({ typed });
let inferUrl: string;

beforeAll(() => {
  inferUrl = `${v2.server.url}/v2/models/typed/infer`;
});

interface Input {
  name: string;
  datatype: string;
  shape: number[];
  data?: unknown;
  parameters?: Record<string, unknown>;
}

function defaultInputs(): Input[] {
  return [
    { name: 'image', datatype: 'FP32', shape: [1, 3, 1, 1], data: [0.1, -2.5, 3e38] },
    { name: 'in_bool', datatype: 'BOOL', shape: [2], data: [true, false] },
    { name: 'in_uint8', datatype: 'UINT8', shape: [2], data: [0, 255] },
    { name: 'in_int8', datatype: 'INT8', shape: [2], data: [-128, 127] },
    { name: 'in_int16', datatype: 'INT16', shape: [2], data: [-32768, 32767] },
    { name: 'in_int32', datatype: 'INT32', shape: [2], data: [-2147483648, 2147483647] },
    { name: 'in_int64', datatype: 'INT64', shape: [2], data: [-9007199254740991, 9007199254740991] },
    { name: 'in_float16', datatype: 'FP16', shape: [2], data: [0.1, -65504] },
    { name: 'in_float64', datatype: 'FP64', shape: [2], data: [0.1, 1e300] },
  ];
}

/** The default inputs with some replaced by name. */
function inputsWith(...replacements: Input[]): Input[] {
  return defaultInputs().map((input) => replacements.find((r) => r.name === input.name) ?? input);
}

it('model metadata names each datatype as the protocol does', async () => {
  const tensors = (prefix: string, image: string) =>
    [
      `{"name":"${image}","datatype":"FP32","shape":[1,3,1,1]}`,
      ...[
        ['bool', 'BOOL', '2'],
        ['uint8', 'UINT8', '2'],
        ['int8', 'INT8', '2'],
        ['int16', 'INT16', '2'],
        ['int32', 'INT32', '2'],
        ['int64', 'INT64', '-1'],
        ['float16', 'FP16', '2'],
        ['float64', 'FP64', '-1'],
      ].map(
        ([type, datatype, dim]) => `{"name":"${prefix}${type}","datatype":"${datatype}","shape":[${dim}]}`,
      ),
    ].join(',');
  const answer = await send(`${v2.server.url}/v2/models/typed`);
  expect(answer.text).toBe(
    `{"name":"typed","versions":["1"],"platform":"onnxruntime_onnx","inputs":[${tensors('in_', 'image')}],"outputs":[${tensors('out_', 'image_out')}]}`,
  );
});

describe('JSON tensors', () => {
  it('pass every datatype through exactly, at the edges of its range', async () => {
    const answer = await postJson(inferUrl, { inputs: defaultInputs() });
    expect(answer.status, answer.text).toBe(200);
    expect(answer.text).toBe(
      '{"model_name":"typed","model_version":"1","outputs":[' +
        // FP32 values come back as the float32 nearest to what was sent, written as the shortest exact double.
        '{"name":"image_out","datatype":"FP32","shape":[1,3,1,1],"data":[0.10000000149011612,-2.5,3.0000000054977558e+38]},' +
        '{"name":"out_bool","datatype":"BOOL","shape":[2],"data":[true,false]},' +
        '{"name":"out_uint8","datatype":"UINT8","shape":[2],"data":[0,255]},' +
        '{"name":"out_int8","datatype":"INT8","shape":[2],"data":[-128,127]},' +
        '{"name":"out_int16","datatype":"INT16","shape":[2],"data":[-32768,32767]},' +
        '{"name":"out_int32","datatype":"INT32","shape":[2],"data":[-2147483648,2147483647]},' +
        '{"name":"out_int64","datatype":"INT64","shape":[2],"data":[-9007199254740991,9007199254740991]},' +
        // 0.1 is not a half: the nearest one is 0.0999755859375 (0x2E66).
        '{"name":"out_float16","datatype":"FP16","shape":[2],"data":[0.0999755859375,-65504]},' +
        '{"name":"out_float64","datatype":"FP64","shape":[2],"data":[0.1,1e+300]}]}',
    );
  });

  it('accepts any size for a dynamic dimension', async () => {
    const answer = await postJson(inferUrl, {
      inputs: inputsWith(
        { name: 'in_int64', datatype: 'INT64', shape: [3], data: [1, 2, 3] },
        { name: 'in_float64', datatype: 'FP64', shape: [3], data: [4, 5, 6] },
      ),
      outputs: [{ name: 'out_int64' }, { name: 'out_float64' }],
    });
    expect(answer.text).toBe(
      '{"model_name":"typed","model_version":"1","outputs":[' +
        '{"name":"out_int64","datatype":"INT64","shape":[3],"data":[1,2,3]},' +
        '{"name":"out_float64","datatype":"FP64","shape":[3],"data":[4,5,6]}]}',
    );
  });

  const refusals: [string, Input, string][] = [
    [
      'an INT8 out of range',
      { name: 'in_int8', datatype: 'INT8', shape: [2], data: [1, 300] },
      'input "in_int8": data[1] is 300, not an integer in [-128, 127]',
    ],
    [
      'a fraction for INT32',
      { name: 'in_int32', datatype: 'INT32', shape: [2], data: [1.5, 2] },
      'input "in_int32": data[0] is 1.5, not an integer in [-2147483648, 2147483647]',
    ],
    [
      'a negative UINT8',
      { name: 'in_uint8', datatype: 'UINT8', shape: [2], data: [-1, 0] },
      'input "in_uint8": data[0] is -1, not an integer in [0, 255]',
    ],
    [
      'an INT64 beyond 2^53 in JSON',
      { name: 'in_int64', datatype: 'INT64', shape: [2], data: [9007199254740992, 0] },
      'input "in_int64": data[0] is 9007199254740992, not an integer within ±(2^53 - 1) (send larger INT64 values as binary data)',
    ],
    [
      'an FP16 beyond 65504',
      { name: 'in_float16', datatype: 'FP16', shape: [2], data: [0, 70000] },
      'input "in_float16": data[1] is 70000, not a number within the FP16 range (±65504)',
    ],
    [
      'an FP32 beyond its range',
      { name: 'image', datatype: 'FP32', shape: [1, 3, 1, 1], data: [0, 0, 1e39] },
      'input "image": data[2] is 1e+39, not a number within the FP32 range',
    ],
    [
      'a number for BOOL',
      { name: 'in_bool', datatype: 'BOOL', shape: [2], data: [1, 0] },
      'input "in_bool": data[0] is 1, not true or false',
    ],
    [
      'a string for FP64',
      { name: 'in_float64', datatype: 'FP64', shape: [2], data: [1, '2'] },
      'input "in_float64": data[1] is "2", not a finite number',
    ],
    [
      'null for FP32',
      { name: 'image', datatype: 'FP32', shape: [1, 3, 1, 1], data: [null, 0, 0] },
      'input "image": data[0] is null, not a number within the FP32 range',
    ],
  ];
  for (const [what, input, message] of refusals) {
    it(`refuses ${what} with 400`, async () => {
      const answer = await postJson(inferUrl, { inputs: inputsWith(input) });
      expect([answer.status, answer.contentType]).toEqual([400, 'application/json']);
      expect(JSON.parse(answer.text)).toEqual({ error: message });
    });
  }
});

describe('JSON numbers beyond the double range (1e400 reads as infinity)', () => {
  const cases: [string, Input, string][] = [
    [
      'FP32',
      { name: 'image', datatype: 'FP32', shape: [1, 3, 1, 1], data: [0, 0, 'HUGE'] },
      'input "image": data[2] is out of range: a JSON number beyond ±1.7976931348623157e308 is not finite (it reads as +infinity); send a number within the FP32 range',
    ],
    [
      'FP64',
      { name: 'in_float64', datatype: 'FP64', shape: [2], data: ['-HUGE', 0] },
      'input "in_float64": data[0] is out of range: a JSON number beyond ±1.7976931348623157e308 is not finite (it reads as -infinity); send a finite number',
    ],
    [
      'INT32',
      { name: 'in_int32', datatype: 'INT32', shape: [2], data: [1, 'HUGE'] },
      'input "in_int32": data[1] is out of range: a JSON number beyond ±1.7976931348623157e308 is not finite (it reads as +infinity); send an integer in [-2147483648, 2147483647]',
    ],
    [
      'FP16',
      { name: 'in_float16', datatype: 'FP16', shape: [2], data: ['HUGE', 0] },
      'input "in_float16": data[0] is out of range: a JSON number beyond ±1.7976931348623157e308 is not finite (it reads as +infinity); send a number within the FP16 range (±65504)',
    ],
  ];
  for (const [datatype, input, message] of cases) {
    it(`refuses 1e400 for ${datatype} with 400, naming the tensor, never as null`, async () => {
      // JSON.stringify cannot write 1e400: the placeholders are replaced in the request text.
      const text = JSON.stringify({ inputs: inputsWith(input) })
        .replace('"-HUGE"', '-1e400')
        .replace('"HUGE"', '1e400');
      const answer = await postJson(inferUrl, text);
      expect([answer.status, answer.contentType]).toEqual([400, 'application/json']);
      expect(JSON.parse(answer.text)).toEqual({ error: message });
      expect(answer.text).not.toContain('null');
    });
  }
});

describe('binary tensors', () => {
  const binaryInputs = (): { inputs: Input[]; tensors: ArrayBufferView[] } => {
    const tensors: ArrayBufferView[] = [
      new Float32Array([0.1, Number.NaN, Number.NEGATIVE_INFINITY]),
      new Uint8Array([1, 0]),
      new Uint8Array([0, 255]),
      new Int8Array([-128, 127]),
      new Int16Array([-32768, 32767]),
      new Int32Array([-2147483648, 2147483647]),
      new BigInt64Array([-(2n ** 63n), 2n ** 63n - 1n]),
      new Uint16Array([0x2e66, 0x7c00]),
      new Float64Array([0.1, -0]),
    ];
    const inputs = defaultInputs().map((input, i) => ({
      name: input.name,
      datatype: input.datatype,
      shape: input.shape,
      parameters: { binary_data_size: tensors[i].byteLength },
    }));
    return { inputs, tensors };
  };

  it('pass every datatype through byte for byte', async () => {
    const { inputs, tensors } = binaryInputs();
    const answer = await postBinary(
      inferUrl,
      { inputs, parameters: { binary_data_output: true } },
      ...tensors,
    );
    expect(answer.status, answer.text).toBe(200);
    const headerLength = Number(answer.headers.get('inference-header-content-length'));
    const header = JSON.parse(answer.bytes.subarray(0, headerLength).toString());
    const sizes = header.outputs.map(
      (o: { parameters: { binary_data_size: number } }) => o.parameters.binary_data_size,
    );
    expect(sizes).toEqual(tensors.map((t) => t.byteLength));
    expect(answer.bytes.subarray(headerLength).toString('hex')).toBe(
      Buffer.concat(tensors.map(bytesOf)).toString('hex'),
    );
  });

  it('writes int64 beyond 2^53 exactly in JSON, and non-finite floats as null', async () => {
    const { inputs, tensors } = binaryInputs();
    const answer = await postBinary(
      inferUrl,
      { inputs, outputs: [{ name: 'out_int64' }, { name: 'image_out' }, { name: 'out_float16' }] },
      ...tensors,
    );
    expect(answer.text).toBe(
      '{"model_name":"typed","model_version":"1","outputs":[' +
        '{"name":"out_int64","datatype":"INT64","shape":[2],"data":[-9223372036854775808,9223372036854775807]},' +
        '{"name":"image_out","datatype":"FP32","shape":[1,3,1,1],"data":[0.10000000149011612,null,null]},' +
        '{"name":"out_float16","datatype":"FP16","shape":[2],"data":[0.0999755859375,null]}]}',
    );
  });

  it('refuses a BOOL byte other than 0 or 1', async () => {
    const { inputs, tensors } = binaryInputs();
    tensors[1] = new Uint8Array([1, 2]);
    const answer = await postBinary(inferUrl, { inputs }, ...tensors);
    expect(answer.status).toBe(400);
    expect(JSON.parse(answer.text)).toEqual({
      error: 'input "in_bool": BOOL byte 1 is 2; the binary form of BOOL is 0 or 1',
    });
  });

  it('takes binary and JSON inputs in one request', async () => {
    const inputs: Input[] = defaultInputs();
    inputs[6] = { ...inputs[6], data: undefined, parameters: { binary_data_size: 16 } };
    const answer = await postBinary(
      inferUrl,
      { inputs, outputs: [{ name: 'out_int64' }] },
      new BigInt64Array([2n ** 62n, -1n]),
    );
    expect(answer.text).toBe(
      '{"model_name":"typed","model_version":"1","outputs":[{"name":"out_int64","datatype":"INT64","shape":[2],"data":[4611686018427387904,-1]}]}',
    );
  });
});

describe('FP16 conversion', () => {
  it('round-trips every finite half exactly', () => {
    for (let bits = 0; bits < 0x10000; bits++) {
      const exponent = (bits >> 10) & 0x1f;
      if (exponent === 0x1f) continue;
      expect(numberToHalf(halfToNumber(bits))).toBe(bits);
    }
  });

  it('rounds to the nearest half, ties to even, and refuses what would round to infinity', () => {
    expect(numberToHalf(1 + 2 ** -11)).toBe(0x3c00); // halfway between 1 and the next half: even (1) wins
    expect(numberToHalf(1 + 3 * 2 ** -11)).toBe(0x3c02); // halfway between 0x3c01 and 0x3c02: even wins
    expect(numberToHalf(2 ** -25)).toBe(0); // half the smallest subnormal: ties to 0
    expect(numberToHalf(2 ** -25 * 1.5)).toBe(1);
    expect(numberToHalf(2 ** -14 - 2 ** -25)).toBe(0x0400); // rounds up into the smallest normal
    expect(numberToHalf(-0)).toBe(0x8000);
    expect(numberToHalf(65519.99)).toBe(0x7bff);
    expect(numberToHalf(65520)).toBeUndefined();
    expect(halfToNumber(0x7c00)).toBe(Number.POSITIVE_INFINITY);
    expect(halfToNumber(0xfc00)).toBe(Number.NEGATIVE_INFINITY);
    expect(halfToNumber(0x7e00)).toBeNaN();
  });
});
