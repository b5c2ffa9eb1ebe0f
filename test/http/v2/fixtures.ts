/**
 * Tiny models with exactly known outputs for the Open Inference Protocol tests, a repository on disk holding
 * them, and a Fastify server with only the v2 plugin, listening on a loopback port.
 */
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import onnxProto from 'onnx-proto';
import { afterAll, beforeAll, expect } from 'vitest';
import { stringify } from 'yaml';
import { type V2Options, v2Routes } from '../../../src/http/v2/index.js';
import type { ModelRepository } from '../../../src/models/index.js';
import { buildModel } from '../../helpers/onnx-builder.js';
import { serviceFor } from '../../helpers/serving.js';
import { listenOnLoopback, openTemporaryRepository, type TinyRepository } from '../helpers.js';

const { onnx } = onnxProto;

export interface ModelFolder {
  /** Model bytes per version number. */
  versions: Record<number, Uint8Array>;
  config: Record<string, unknown>;
}

/**
 * Version 1: a 1x1 convolution, scores = [R + 2G, 3B - 1] over input `image` [1, 3, height, width], and
 * `classes` = the argmax over those two channels (INT64). Version 2 is the same with weights and bias doubled.
 * For GOLDEN_INPUT (1x2 pixels) version 1 answers scores [1, 3, 2, 0.5] and classes [1, 0], all exact in FP32.
 */
function goldenModel(scale: number): Uint8Array {
  return buildModel({
    inputs: [{ name: 'image', dims: [1, 3, 'height', 'width'] }],
    outputs: [
      { name: 'scores', dims: [1, 2, 'height', 'width'] },
      { name: 'classes', type: 'int64', dims: [1, 'height', 'width'] },
    ],
    initializers: [
      { name: 'w', dims: [2, 3, 1, 1], values: [1, 2, 0, 0, 0, 3].map((v) => v * scale) },
      { name: 'b', dims: [2], values: [0, -scale] },
    ],
    nodes: [
      { op: 'Conv', inputs: ['image', 'w', 'b'], outputs: ['scores'] },
      { op: 'ArgMax', inputs: ['scores'], outputs: ['classes'], attributes: { axis: 1, keepdims: 0 } },
    ],
  });
}

/** Pixels (R, G, B) = (0.5, 0.25, 1) and (2, 0.5, 0.5), NCHW [1, 3, 1, 2]. */
export const GOLDEN_INPUT = [0.5, 2, 0.25, 0.5, 1, 0.5];
export const GOLDEN_SHAPE = [1, 3, 1, 2];

export const golden: ModelFolder = {
  versions: { 1: goldenModel(1), 2: goldenModel(2) },
  config: {
    task: 'semantic',
    decoder: 'softmax',
    input: { name: 'image', width: 2, height: 1 },
    labels: ['first', 'second'],
    version_policy: { all: true },
  },
};

const DataType = onnx.TensorProto.DataType;

/** The element types of the `typed` model's pass-through inputs, by onnxruntime name. */
export const TYPED_INPUTS = {
  bool: DataType.BOOL,
  uint8: DataType.UINT8,
  int8: DataType.INT8,
  int16: DataType.INT16,
  int32: DataType.INT32,
  int64: DataType.INT64,
  float16: DataType.FLOAT16,
  float64: DataType.DOUBLE,
} as const;

/**
 * Identity for every datatype segserve carries: `image` FP32 [1, 3, 1, 1] -> `image_out`, and `in_<type>` ->
 * `out_<type>` for each of TYPED_INPUTS, shape [2] except `in_int64` and `in_float64`, both [n] (one dynamic
 * dimension, shared).
 */
function typedModel(): Uint8Array {
  const tensor = (name: string, elemType: number, dims: (number | string)[]) => ({
    name,
    type: {
      tensorType: {
        elemType,
        shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  });
  const passes = [
    { name: 'image', elemType: DataType.FLOAT, dims: [1, 3, 1, 1] as (number | string)[] },
    ...Object.entries(TYPED_INPUTS).map(([type, elemType]) => ({
      name: `in_${type}`,
      elemType,
      dims: type === 'int64' || type === 'float64' ? ['n'] : [2],
    })),
  ];
  const outName = (name: string) => (name === 'image' ? 'image_out' : name.replace(/^in_/, 'out_'));
  const model = onnx.ModelProto.create({
    irVersion: 8,
    producerName: 'segserve-tests',
    opsetImport: [{ domain: '', version: 13 }],
    graph: {
      name: 'typed',
      input: passes.map((p) => tensor(p.name, p.elemType, p.dims)),
      output: passes.map((p) => tensor(outName(p.name), p.elemType, p.dims)),
      node: passes.map((p) => ({
        name: `id_${p.name}`,
        opType: 'Identity',
        input: [p.name],
        output: [outName(p.name)],
      })),
    },
  });
  return onnx.ModelProto.encode(model).finish();
}

export const typed: ModelFolder = {
  versions: { 1: typedModel() },
  config: {
    task: 'binary',
    decoder: 'sigmoid',
    input: { name: 'image', width: 1, height: 1 },
    labels: ['background', 'foreground'],
  },
};

export const SLOW_SIZE = 256;
const SLOW_ROWS = (3 * SLOW_SIZE * SLOW_SIZE) / SLOW_SIZE;

/**
 * A deliberately slow model (about 16 GFLOP: 160 chained [768 x 256] x [256 x 256] MatMuls, some 0.2 s here)
 * so that tests can hold its only worker busy. Input `image` [1, 3, height, width] is reshaped to a fixed [768, 256], so only
 * 256x256 images run; other sizes pass the protocol's checks and fail inside onnxruntime. Output `mean` is a
 * scalar (shape []). One worker, one queued job at most.
 */
function slowModel(steps: number): Uint8Array {
  const nodes = Array.from({ length: steps }, (_, i) => ({
    op: 'MatMul',
    inputs: [i === 0 ? 'rows' : `h${i}`, 'w'],
    outputs: [`h${i + 1}`],
  }));
  return buildModel({
    inputs: [{ name: 'image', dims: [1, 3, 'height', 'width'] }],
    outputs: [{ name: 'mean', dims: [] }],
    initializers: [
      { name: 'rows_shape', dims: [2], values: [SLOW_ROWS, SLOW_SIZE], type: 'int64' },
      {
        name: 'w',
        dims: [SLOW_SIZE, SLOW_SIZE],
        values: new Float32Array(SLOW_SIZE * SLOW_SIZE).fill(1 / SLOW_SIZE),
      },
    ],
    nodes: [
      { op: 'Reshape', inputs: ['image', 'rows_shape'], outputs: ['rows'] },
      ...nodes,
      { op: 'ReduceMean', inputs: [`h${steps}`], outputs: ['mean'], attributes: { keepdims: 0 } },
    ],
  });
}

export const slow: ModelFolder = {
  versions: { 1: slowModel(160) },
  config: {
    task: 'binary',
    decoder: 'sigmoid',
    input: { name: 'image', width: SLOW_SIZE, height: SLOW_SIZE },
    labels: ['background', 'foreground'],
    instances: 1,
    max_queue: 1,
  },
};

/** A model whose file is not ONNX: it fails to load, and the repository keeps it as 'failed'. */
export const broken: ModelFolder = {
  versions: { 1: new TextEncoder().encode('not an onnx model') },
  config: { task: 'binary', decoder: 'sigmoid', input: { width: 4, height: 4 }, labels: ['a', 'b'] },
};

async function openRepository(models: Record<string, ModelFolder>): Promise<TinyRepository> {
  const dir = await mkdtemp(join(tmpdir(), 'segserve-v2-'));
  for (const [name, folder] of Object.entries(models)) {
    for (const [version, bytes] of Object.entries(folder.versions)) {
      await mkdir(join(dir, name, version), { recursive: true });
      await writeFile(join(dir, name, version, 'model.onnx'), bytes);
    }
    await writeFile(join(dir, name, 'config.yaml'), stringify(folder.config));
  }
  return openTemporaryRepository(dir);
}

export interface TestServer {
  app: FastifyInstance;
  /** http://127.0.0.1:<port> */
  url: string;
}

export async function startServer(
  repository: ModelRepository,
  options: Partial<V2Options> = {},
): Promise<TestServer> {
  const app = Fastify();
  await app.register(v2Routes, {
    service: serviceFor(repository),
    serverName: 'segserve',
    serverVersion: '1.2.3',
    ...options,
  });
  return { app, url: await listenOnLoopback(app) };
}

export interface Served {
  repo: TinyRepository;
  server: TestServer;
}

/**
 * The set-up of a test file: a repository of `models` and a server on it, opened before the file's tests and
 * closed after them. The fields of the answer are set once the tests run.
 */
export function serveModels(models: Record<string, ModelFolder>): Served {
  const served = {} as Served;
  beforeAll(async () => {
    served.repo = await openRepository(models);
    served.server = await startServer(served.repo.repository);
  });
  afterAll(async () => {
    await served.server?.app.close();
    await served.repo?.close();
  });
  return served;
}

/** A request body with the binary tensor data extension: JSON header, then the tensors' bytes. */
export function binaryBody(
  header: unknown,
  ...tensors: ArrayBufferView[]
): { body: Buffer; headerLength: number } {
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  return { body: Buffer.concat([json, ...tensors.map(bytesOf)]), headerLength: json.length };
}

export interface Answer {
  status: number;
  contentType: string | null;
  headers: Headers;
  bytes: Buffer;
  text: string;
}

export async function send(url: string, init: RequestInit = {}): Promise<Answer> {
  const response = await fetch(url, init);
  const bytes = Buffer.from(await response.arrayBuffer());
  return {
    status: response.status,
    contentType: response.headers.get('content-type'),
    headers: response.headers,
    bytes,
    text: bytes.toString('utf8'),
  };
}

/** POSTs a JSON inference request. */
export function postJson(url: string, body: unknown, headers: Record<string, string> = {}): Promise<Answer> {
  return send(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

/** POSTs a request with the binary tensor data extension. */
export function postBinary(url: string, header: unknown, ...tensors: ArrayBufferView[]): Promise<Answer> {
  const { body, headerLength } = binaryBody(header, ...tensors);
  return send(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/octet-stream',
      'inference-header-content-length': String(headerLength),
    },
    body,
  });
}

/** The raw bytes of a typed array, as the binary tensor data extension lays them out. */
export function bytesOf(view: ArrayBufferView): Buffer {
  return Buffer.from(view.buffer, view.byteOffset, view.byteLength);
}

/** Asserts a protocol error: the status, the content type exactly `application/json`, the body `{"error": ...}`. */
export function expectError(answer: Answer, status: number, message: string | RegExp): void {
  expect(answer.contentType).toBe('application/json');
  expect(answer.status, answer.text).toBe(status);
  const body = JSON.parse(answer.text) as Record<string, unknown>;
  expect(Object.keys(body)).toEqual(['error']);
  if (typeof message === 'string') expect(body.error).toBe(message);
  else expect(body.error).toMatch(message);
}
