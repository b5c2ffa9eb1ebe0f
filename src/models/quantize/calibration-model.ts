/**
 * The calibration graph: the float32 model with every activation tensor the quantiser needs measured added as a
 * graph output, so one ordinary inference answers their values.
 */
import { floatOutput, type ModelProto } from './onnx-model.js';

export function withActivationOutputs(model: ModelProto, activations: readonly string[]): ModelProto {
  const graph = model.graph;
  if (!graph) throw new Error('the model has no graph');
  const present = new Set((graph.output ?? []).map((o) => o.name ?? ''));
  graph.output = [
    ...(graph.output ?? []),
    ...activations.filter((name) => !present.has(name)).map(floatOutput),
  ];
  return model;
}
