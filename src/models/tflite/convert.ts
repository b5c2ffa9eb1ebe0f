/**
 * TFLite model -> ONNX model (opset 17) computing what TFLite computes. The graph keeps the model's interface
 * (input and output names and shapes, NHWC) so it is a drop-in for a config written for the TFLite model, and
 * runs NCHW inside (see context.ts for where transposes go). Every operator either converts exactly or is
 * refused with TFLITE_UNSUPPORTED_OPERATOR naming it and its index; nothing is approximated.
 */
import { SegserveError } from '../../errors.js';
import { ConversionContext } from './context.js';
import type { OperatorConverter } from './ops/common.js';
import { convolutionConverters, customConvolutionConverters } from './ops/conv.js';
import { dequantizeConverters } from './ops/dequantize.js';
import { elementwiseConverters } from './ops/elementwise.js';
import { poolConverters } from './ops/pool.js';
import { resizeConverters } from './ops/resize.js';
import { shapeConverters } from './ops/shape.js';
import type { TfliteModel, TfliteOperator, TfliteTensor } from './reader.js';
import { CUSTOM_CODE } from './schema.js';

const BUILTIN_CONVERTERS: Record<string, OperatorConverter> = {
  ...convolutionConverters,
  ...dequantizeConverters,
  ...elementwiseConverters,
  ...poolConverters,
  ...resizeConverters,
  ...shapeConverters,
};

/** Custom operators by custom code: MediaPipe's transposed convolution with bias. */
const CUSTOM_CONVERTERS: Record<string, OperatorConverter> = customConvolutionConverters;

/** Builtin operator names and custom codes the importer converts. */
export const SUPPORTED_OPERATORS: readonly string[] = [
  ...Object.keys(BUILTIN_CONVERTERS),
  ...Object.keys(CUSTOM_CONVERTERS),
].sort();

export interface ModelTensor {
  name: string;
  shape: number[];
}

export interface ModelOutput extends ModelTensor {
  /** The operator computing it (e.g. LOGISTIC, SOFTMAX), which tells what the values are. */
  producer: string | undefined;
}

export interface ConvertedModel {
  onnx: Uint8Array;
  inputs: ModelTensor[];
  outputs: ModelOutput[];
}

function converterFor(ctx: ConversionContext, op: TfliteOperator): OperatorConverter {
  const converter =
    op.builtinCode === CUSTOM_CODE
      ? Object.hasOwn(CUSTOM_CONVERTERS, op.name) && CUSTOM_CONVERTERS[op.name]
      : Object.hasOwn(BUILTIN_CONVERTERS, op.name) && BUILTIN_CONVERTERS[op.name];
  if (!converter) {
    throw ctx.unsupported(
      op,
      `${op.builtinCode === CUSTOM_CODE ? 'custom operator' : 'operator'} not supported by the importer`,
    );
  }
  return converter;
}

/** Activations are float32 in a float model; anything else means a quantised or integer graph. */
function requireFloatActivations(ctx: ConversionContext, op: TfliteOperator): void {
  const activations = [
    ...op.inputs.filter((i) => i >= 0).map((i) => ctx.tensor(i)),
    ...op.outputs.map((i) => ctx.tensor(i)),
  ];
  const other = activations.find((t) => !ctx.isConstant(t) && t.type !== 'float32');
  if (other) {
    throw ctx.unsupported(op, `${other.name} is ${other.type}; only float32 models are imported`);
  }
}

function requireGraphInput(tensor: TfliteTensor): void {
  if (tensor.type !== 'float32' || tensor.data) {
    throw new SegserveError('TFLITE_UNSUPPORTED_MODEL', {
      reason: `input ${tensor.name} is ${tensor.data ? 'a constant' : tensor.type}; only float32 inputs are imported`,
    });
  }
}

export function convertTflite(model: TfliteModel, graphName = 'tflite'): ConvertedModel {
  const subgraph = model.subgraphs[0];
  const ctx = new ConversionContext(subgraph);
  const { graph } = ctx;
  const inputs = subgraph.inputs.map((i) => subgraph.tensors[i]);
  const outputs = subgraph.outputs.map((i) => subgraph.tensors[i]);
  const inputNames = inputs.map((t) => {
    requireGraphInput(t);
    const name = graph.uniqueName(t.name);
    graph.addInput(name, t.shape);
    ctx.defineInput(t, name);
    return name;
  });
  // Reserved before any operator names its values after a tensor, so outputs keep their TFLite names.
  const outputNames = outputs.map((t) => graph.uniqueName(t.name));
  const producers = new Map<number, string>();
  for (const op of subgraph.operators) {
    const convert = converterFor(ctx, op);
    requireFloatActivations(ctx, op);
    convert(ctx, op);
    for (const i of op.outputs) producers.set(i, op.name);
  }
  outputs.forEach((t, i) => {
    ctx.writeOutput(t, outputNames[i]);
    graph.addOutput(outputNames[i], t.shape);
  });
  return {
    onnx: graph.serialize(graphName, model.description ? { tflite_description: model.description } : {}),
    inputs: inputs.map((t, i) => ({ name: inputNames[i], shape: t.shape })),
    outputs: outputs.map((t, i) => ({
      name: outputNames[i],
      shape: t.shape,
      producer: producers.get(t.index),
    })),
  };
}
