/**
 * Operators that make one item's result depend on the other items of its batch, so that a batched run would
 * change a request's answer. DynamicQuantizeLinear takes its quantisation range from the whole input tensor:
 * the shared yolov8n-seg int8 file (67 of them), batched, moved its raw outputs (box coordinates in pixels)
 * by up to 24 against the same inputs run one at a time. Static quantisation (QuantizeLinear with fixed scales, as `models optimize --int8` writes)
 * is per element and safe.
 */
import { readFile } from 'node:fs/promises';
import type { onnx as OnnxTypes } from 'onnx-proto';
import { decodeModel } from './quantize/onnx-model.js';

const MIXES_BATCH = new Set(['DynamicQuantizeLinear']);

function collect(graph: OnnxTypes.IGraphProto | null | undefined, found: Map<string, number>): void {
  for (const node of graph?.node ?? []) {
    const op = node.opType ?? '';
    if (MIXES_BATCH.has(op)) found.set(op, (found.get(op) ?? 0) + 1);
    // Subgraphs of If, Loop and Scan run on the same tensors.
    for (const attribute of node.attribute ?? []) {
      collect(attribute.g, found);
      for (const sub of attribute.graphs ?? []) collect(sub, found);
    }
  }
}

/** The operators of the ONNX file at `modelPath` that mix the items of a batch, with their counts. */
export async function batchMixingOperators(modelPath: string): Promise<Map<string, number>> {
  const found = new Map<string, number>();
  collect(decodeModel(await readFile(modelPath)).graph, found);
  return found;
}
