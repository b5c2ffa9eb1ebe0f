/**
 * Does onnxruntime (the runtime segserve serves with) give what PyTorch gave? The trainer writes `parity.json`:
 * one input as 8-bit pixels and PyTorch's output at sampled positions. Here the pixels become the tensor through
 * segserve's own preprocessing with the run's `config.yaml` (so a wrong scale, mean or std in the config fails
 * too, not only a wrong graph), the model runs in a SessionPool as served, and every sampled output must lie
 * within the trainer's tolerance. A model that fails is never uploaded.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SegserveError } from '../../errors.js';
import { rawToTensor } from '../../image/index.js';
import { readModelConfig } from '../../models/load-config.js';
import { SessionPool } from '../../runtime/index.js';

interface Samples {
  index: number[];
  value: number[];
}

interface ParityRecord {
  input: {
    name: string;
    dims: number[];
    pixels: { width: number; height: number; channels: 1 | 3; base64: string };
    samples: Samples;
  };
  output: { name: string; dims: number[]; samples: Samples };
  tolerance: { absolute: number };
}

export interface ParityResult {
  /** Largest difference between segserve's input tensor and the trainer's, and between the outputs. */
  inputMaxDiff: number;
  outputMaxDiff: number;
  tolerance: number;
}

function largestDifference(samples: Samples, values: ArrayLike<number>): number {
  let largest = 0;
  samples.index.forEach((index, k) => {
    largest = Math.max(largest, Math.abs(Number(values[index]) - samples.value[k]));
  });
  return largest;
}

export async function checkParity(out: string, kind: string): Promise<ParityResult> {
  const parity = JSON.parse(await readFile(join(out, 'parity.json'), 'utf8')) as ParityRecord;
  const config = await readModelConfig(join(out, 'config.yaml'));
  const { pixels } = parity.input;
  const raw = {
    width: pixels.width,
    height: pixels.height,
    channels: pixels.channels,
    data: Buffer.from(pixels.base64, 'base64'),
  };
  const tensor = rawToTensor(raw, { ...config.input, width: pixels.width, height: pixels.height });
  const tolerance = parity.tolerance.absolute;
  const inputMaxDiff = largestDifference(parity.input.samples, tensor);
  if (inputMaxDiff > tolerance) {
    throw new SegserveError('TRAINING_FAILED', {
      kind,
      reason: `config.yaml's preprocessing does not give the tensor the model was trained on (largest difference ${inputMaxDiff})`,
    });
  }
  const pool = await SessionPool.create({
    modelPath: join(out, 'model.onnx'),
    modelName: 'parity-check',
    version: 1,
    instances: 1,
    intraOpThreads: 1,
    interOpThreads: 1,
    executionProvider: 'cpu',
    maxQueue: 1,
    // A U-Net's height and width are symbolic: warmed up at 1x1 its skip connections would not line up.
    warmupShape: { width: pixels.width, height: pixels.height },
  });
  try {
    const { outputs } = await pool.run(
      { [parity.input.name]: { type: 'float32', dims: parity.input.dims, data: tensor } },
      { outputNames: [parity.output.name] },
    );
    const output = outputs?.[parity.output.name];
    if (!output) throw new Error(`the model has no output "${parity.output.name}"`);
    if (output.dims.join('x') !== parity.output.dims.join('x')) {
      throw new SegserveError('TRAINING_FAILED', {
        kind,
        reason: `onnxruntime's output is ${output.dims.join('x')}, PyTorch's ${parity.output.dims.join('x')}`,
      });
    }
    const outputMaxDiff = largestDifference(parity.output.samples, output.data as ArrayLike<number>);
    if (outputMaxDiff > tolerance) {
      throw new SegserveError('TRAINING_FAILED', {
        kind,
        reason: `onnxruntime's output differs from PyTorch's by up to ${outputMaxDiff} (tolerance ${tolerance})`,
      });
    }
    return { inputMaxDiff, outputMaxDiff, tolerance };
  } finally {
    await pool.close();
  }
}
