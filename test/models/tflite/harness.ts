/** Converts test TFLite models, runs the ONNX result with onnxruntime-node and reads what it computed. */

import onnxProto from 'onnx-proto';
import * as ort from 'onnxruntime-node';
import { expect } from 'vitest';
import { type ConvertedModel, convertTflite } from '../../../src/models/tflite/convert.js';
import { readTflite } from '../../../src/models/tflite/reader.js';
import type { ModelSpec, OperatorSpec, OpName, OptionsSpec, TensorSpec } from './tflite-writer.js';
import { writeTflite } from './tflite-writer.js';

const { onnx } = onnxProto;

export function convertSpec(spec: ModelSpec): ConvertedModel {
  return convertTflite(readTflite(writeTflite(spec)));
}

/** Runs a one-input, one-output model on `input` (row-major, NHWC as TFLite) and returns the output. */
export async function runSpec(spec: ModelSpec, input: number[]): Promise<number[]> {
  const converted = convertSpec(spec);
  const session = await ort.InferenceSession.create(converted.onnx);
  try {
    const [inputTensor] = converted.inputs;
    const [outputTensor] = converted.outputs;
    const result = await session.run({
      [inputTensor.name]: new ort.Tensor('float32', Float32Array.from(input), inputTensor.shape),
    });
    const out = result[outputTensor.name];
    expect(out.dims).toEqual(outputTensor.shape);
    return Array.from(out.data as Float32Array);
  } finally {
    await session.release();
  }
}

export function expectClose(actual: number[], expected: number[], tolerance = 1e-5): void {
  expect(actual.length).toBe(expected.length);
  actual.forEach((value, i) => {
    expect(Math.abs(value - expected[i]), `element ${i}: ${value} vs ${expected[i]}`).toBeLessThanOrEqual(
      tolerance,
    );
  });
}

/** How many nodes of each ONNX operator the converted model has. */
export function onnxOperators(converted: ConvertedModel): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const node of onnx.ModelProto.decode(converted.onnx).graph?.node ?? []) {
    counts[node.opType!] = (counts[node.opType!] ?? 0) + 1;
  }
  return counts;
}

export interface OneOp {
  op: OpName;
  input: number[];
  output: number[];
  /** Constant tensors; they are tensors 2, 3, ... (input is 0, output 1). */
  constants?: TensorSpec[];
  options?: OptionsSpec;
  custom?: string;
  customOptions?: Uint8Array;
  /** Operator inputs by tensor index; default: the input, then every constant in order. */
  inputs?: number[];
}

/** A model of one operator: input tensor 0, output tensor 1, constants from 2. */
export function oneOp(spec: OneOp): ModelSpec {
  const constants = spec.constants ?? [];
  const operator: OperatorSpec = {
    op: spec.op,
    custom: spec.custom,
    inputs: spec.inputs ?? [0, ...constants.map((_, i) => i + 2)],
    outputs: [1],
    options: spec.options,
    customOptions: spec.customOptions,
  };
  return {
    tensors: [{ name: 'input', shape: spec.input }, { name: 'output', shape: spec.output }, ...constants],
    operators: [operator],
    inputs: [0],
    outputs: [1],
  };
}
