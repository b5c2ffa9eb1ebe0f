/** Shared pieces of the decoder tests: running a tiny model, hand-made transforms, expected masks. */
import * as ort from 'onnxruntime-node';
import { expect } from 'vitest';
import type { InputTransform } from '../../src/image/types.js';
import { expandCroppedMask } from '../../src/masks/crop.js';
import type { CroppedMask } from '../../src/masks/types.js';
import { type ModelConfig, parseModelConfig } from '../../src/models/config.js';
import type { NamedTensors, TensorType } from '../../src/runtime/types.js';
import type { DecodeContext } from '../../src/tasks/types.js';
import type { TinyModel } from '../helpers/tiny-models.js';

export function configOf(document: unknown, overrides: Record<string, unknown> = {}): ModelConfig {
  const parsed = parseModelConfig({ ...(document as Record<string, unknown>), ...overrides });
  if (!parsed.ok) throw new Error(`config rejected: ${JSON.stringify(parsed.issues)}`);
  return parsed.config;
}

export function contextOf(
  model: TinyModel,
  transform: InputTransform,
  overrides: Record<string, unknown> = {},
): DecodeContext {
  return { config: configOf(model.config, overrides), labels: model.labels, transform };
}

/** Runs a tiny model on one input tensor and returns its outputs as NamedTensors, in the session's output order. */
export async function runTiny(model: TinyModel, input: Float32Array): Promise<NamedTensors> {
  const session = await ort.InferenceSession.create(model.bytes);
  try {
    const dims =
      model.layout === 'NHWC' ? [1, model.height, model.width, 3] : [1, 3, model.height, model.width];
    const results = await session.run({ [model.inputName]: new ort.Tensor('float32', input, dims) });
    const outputs: NamedTensors = {};
    for (const name of session.outputNames) {
      const tensor = results[name];
      outputs[name] = {
        type: tensor.type as TensorType,
        dims: [...tensor.dims],
        data: tensor.data as NamedTensors[string]['data'],
      };
    }
    return outputs;
  } finally {
    await session.release();
  }
}

export function identity(width: number, height: number): InputTransform {
  return stretch(width, height, width, height);
}

export function stretch(
  sourceWidth: number,
  sourceHeight: number,
  inputWidth: number,
  inputHeight: number,
): InputTransform {
  return {
    sourceWidth,
    sourceHeight,
    inputWidth,
    inputHeight,
    scaleX: inputWidth / sourceWidth,
    scaleY: inputHeight / sourceHeight,
    padLeft: 0,
    padTop: 0,
    contentWidth: inputWidth,
    contentHeight: inputHeight,
  };
}

/** Letterbox with scale r and the given padding (content = source * r). */
export function letterbox(
  sourceWidth: number,
  sourceHeight: number,
  inputWidth: number,
  inputHeight: number,
  r: number,
  padLeft: number,
  padTop: number,
): InputTransform {
  return {
    sourceWidth,
    sourceHeight,
    inputWidth,
    inputHeight,
    scaleX: r,
    scaleY: r,
    padLeft,
    padTop,
    contentWidth: Math.round(sourceWidth * r),
    contentHeight: Math.round(sourceHeight * r),
  };
}

export interface Rect {
  x0: number;
  y0: number;
  x1: number;
  y1: number;
}

/** A class map filled with `background`, then each rect [x0, x1) x [y0, y1) with its value. */
export function rectMap(
  width: number,
  height: number,
  rects: readonly (Rect & { value: number })[],
  background = 0,
): Uint8Array {
  const map = new Uint8Array(width * height).fill(background);
  for (const r of rects)
    for (let y = r.y0; y < r.y1; y++) for (let x = r.x0; x < r.x1; x++) map[y * width + x] = r.value;
  return map;
}

/** The whole-image 0/1 mask of a CroppedMask. */
export function expand(mask: CroppedMask): Uint8Array {
  return expandCroppedMask(mask).data;
}

/** Rows of '#' and '.' for readable failures of mask comparisons. */
export function picture(map: Uint8Array, width: number): string {
  const rows: string[] = [];
  for (let y = 0; y < map.length / width; y++) {
    rows.push(
      Array.from(map.subarray(y * width, (y + 1) * width), (v) => (v === 0 ? '.' : String(v))).join(''),
    );
  }
  return rows.join('\n');
}

export function expectMaskEquals(mask: CroppedMask, expected: Uint8Array): void {
  expect(picture(expand(mask), mask.width)).toBe(picture(expected, mask.width));
}

export function expectRectMask(mask: CroppedMask, rect: Rect): void {
  expectMaskEquals(mask, rectMap(mask.width, mask.height, [{ ...rect, value: 1 }]));
}
