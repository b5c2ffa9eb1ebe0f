/**
 * A copy of an ONNX model whose batch dimension is symbolic, for batching tests and the batching bench: every
 * shared model is exported with batch 1 fixed. Besides the graph's inputs and outputs, what pins the batch is a
 * Reshape whose target shape is a constant starting with 1 (YOLOv8's heads, SINet, the selfie model's final
 * transpose); on the activation path that leading 1 becomes 0, ONNX's "copy this dimension from the input".
 * Reshapes of weights (not reached from a graph input) keep theirs. The value_info shapes, which still say
 * batch 1, are dropped: ONNX Runtime infers them again. PAN cannot be made batchable this way: its Resize nodes
 * take fixed output sizes, batch included.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import onnxProto, { type onnx as OnnxTypes } from 'onnx-proto';
import { parse, stringify } from 'yaml';
import { REPOSITORY_DIR } from './paths.js';

const { onnx } = onnxProto;

/** Sets a constant int64 shape's first value from 1 to 0; false when it is not 1. */
function copyFirstDim(shape: OnnxTypes.ITensorProto): boolean {
  if (shape.int64Data && shape.int64Data.length > 0) {
    if (Number(shape.int64Data[0]) !== 1) return false;
    shape.int64Data[0] = 0;
    return true;
  }
  if (!shape.rawData || shape.rawData.length < 8) return false;
  const values = new BigInt64Array(new Uint8Array(shape.rawData).buffer);
  if (values[0] !== 1n) return false;
  values[0] = 0n;
  shape.rawData = new Uint8Array(values.buffer);
  return true;
}

/** Writes `source` with a symbolic batch dimension to `target`; answers how many Reshapes were changed. */
export async function writeBatchedCopy(source: string, target: string): Promise<number> {
  const model = onnx.ModelProto.decode(await readFile(source));
  const graph = model.graph;
  if (!graph) throw new Error(`${source} has no graph`);
  const weights = new Set((graph.initializer ?? []).map((i) => i.name));
  const inputs = (graph.input ?? []).filter((i) => !weights.has(i.name));
  for (const value of [...inputs, ...(graph.output ?? [])]) {
    const dims = value.type?.tensorType?.shape?.dim;
    if (dims && dims.length > 0) dims[0] = { dimParam: 'batch' };
  }
  graph.valueInfo = [];
  const constants = new Map<string, OnnxTypes.ITensorProto>();
  for (const init of graph.initializer ?? []) if (init.name) constants.set(init.name, init);
  for (const node of graph.node ?? []) {
    const value = node.opType === 'Constant' && node.attribute?.find((a) => a.name === 'value')?.t;
    if (value && node.output?.[0]) constants.set(node.output[0], value);
  }
  // Nodes are in topological order (ONNX requires it), so one pass finds everything the inputs reach.
  const live = new Set(inputs.map((i) => i.name));
  for (const node of graph.node ?? []) {
    if (node.input?.some((name) => live.has(name))) for (const out of node.output ?? []) live.add(out);
  }
  let changed = 0;
  for (const node of graph.node ?? []) {
    if (node.opType !== 'Reshape' || !live.has(node.input?.[0])) continue;
    const shape = constants.get(node.input?.[1] ?? '');
    if (shape && copyFirstDim(shape)) changed++;
  }
  await writeFile(target, onnx.ModelProto.encode(model).finish());
  return changed;
}

/** A model folder of a scratch repository made from a shipped config (model-repository/<shipped>). */
export interface ScratchModel {
  /** Its name in the scratch repository. */
  name: string;
  /** The folder name under model-repository/ whose config.yaml it starts from. */
  shipped: string;
  /** The ONNX file its only version serves. */
  onnx: string;
  batching?: { enabled: boolean; max_batch_size?: number; max_delay_ms?: number };
  /** Other top-level config keys to set (e.g. `instances`, `threads`), replacing the shipped ones. */
  overrides?: Record<string, unknown>;
}

/**
 * Writes `models` as folders of `dir` (a model repository): each shipped config with one version (`onnx`), its
 * `${SEGSERVE_SHARED:-...}` references pointing at `shared`, and the `batching` block given.
 */
export async function writeScratchRepository(
  dir: string,
  shared: string,
  models: ScratchModel[],
): Promise<void> {
  for (const model of models) {
    const text = await readFile(join(REPOSITORY_DIR, model.shipped, 'config.yaml'), 'utf8');
    const config = parse(text.replaceAll('${SEGSERVE_SHARED:-../../../shared}', shared)) as Record<
      string,
      unknown
    >;
    config.versions = { 1: model.onnx };
    config.version_policy = { latest: 1 };
    if (model.batching) config.batching = model.batching;
    Object.assign(config, model.overrides);
    await mkdir(join(dir, model.name), { recursive: true });
    await writeFile(join(dir, model.name, 'config.yaml'), stringify(config));
  }
}
