/**
 * Which quantised layers hurt most. The float32 graph and the int8 candidate, each with every planned activation
 * as an output, run over a few calibration images; for each tensor the relative error of the int8 path,
 * sqrt(sum (int8 - float)^2 / sum float^2). A layer's own contribution is the error of its output less the error
 * already in its input (what the layers before it brought): the quantisation of its input and weights. Layers are
 * ranked by that, the largest first. One run per image and graph, instead of one quantised model per layer.
 */
import { readFile, writeFile } from 'node:fs/promises';
import type { LoadedVersion } from '../../models/index.js';
import {
  decodeModel,
  encodeModel,
  type QuantizationPlan,
  withActivationOutputs,
} from '../../models/quantize/index.js';
import { activationValues, type CalibrationImage, openGraph } from './calibrate.js';
import type { GuardProgress } from './guard.js';

export interface SensitivityOptions {
  source: LoadedVersion;
  calibrationModel: string;
  /** The fully quantised candidate. */
  candidate: string;
  plan: QuantizationPlan;
  images: readonly CalibrationImage[];
  progress?: GuardProgress;
}

/** The planned node names, the most sensitive first. */
export async function rankSensitivity(options: SensitivityOptions): Promise<string[]> {
  const { plan } = options;
  const debugPath = `${options.candidate}.sensitivity.onnx`;
  await writeFile(
    debugPath,
    encodeModel(withActivationOutputs(decodeModel(await readFile(options.candidate)), plan.activations)),
  );
  const float = await openGraph(options.source, options.calibrationModel);
  const int8 = await openGraph(options.source, debugPath);
  const squaredError = new Map<string, number>();
  const squaredValue = new Map<string, number>();
  const bar = options.progress?.('sensitivity', options.images.length);
  try {
    for (const image of options.images) {
      const bytes = await image.bytes();
      const reference = await activationValues(float, bytes, plan.activations);
      const quantized = await activationValues(int8, bytes, plan.activations);
      for (const name of plan.activations) {
        const f = reference.get(name) as Float32Array;
        const q = quantized.get(name) as Float32Array;
        let error = 0;
        let value = 0;
        for (let i = 0; i < f.length; i++) {
          error += (q[i] - f[i]) ** 2;
          value += f[i] ** 2;
        }
        squaredError.set(name, (squaredError.get(name) ?? 0) + error);
        squaredValue.set(name, (squaredValue.get(name) ?? 0) + value);
      }
      bar?.tick(image.name);
    }
  } finally {
    bar?.stop();
    await Promise.all([float.runtime.close(), int8.runtime.close()]);
  }
  const relative = (name: string) =>
    Math.sqrt((squaredError.get(name) ?? 0) / Math.max(squaredValue.get(name) ?? 0, 1e-30));
  return plan.nodes
    .map((node) => ({ name: node.name, added: relative(node.output) - relative(node.activation) }))
    .sort((a, b) => b.added - a.added)
    .map((node) => node.name);
}
