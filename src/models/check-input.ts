/**
 * Checks, at load time, that the image tensor segserve will build from `config.input` fits the model's input,
 * so that a wrong name, size or layout fails the version with a reason instead of failing every request.
 */
import type { TensorInfo } from '../runtime/protocol.js';
import type { InputConfig } from './config.js';

/** The input to feed: `input.name` when configured (it must exist), else the model's first input. */
export function pickInput(inputs: TensorInfo[], config: InputConfig): TensorInfo | string {
  const names = inputs.map((i) => i.name).join(', ');
  if (config.name === undefined) return inputs[0] ?? 'the model has no inputs';
  return (
    inputs.find((i) => i.name === config.name) ??
    `input.name "${config.name}" is not an input of the model (inputs: ${names})`
  );
}

/** Why the model's input cannot take a float32 image of the configured size and layout, or undefined. */
export function inputMismatch(input: TensorInfo, config: InputConfig): string | undefined {
  const shown = `model input "${input.name}" is ${input.type} [${input.dims.join(', ')}]`;
  if (input.type !== 'float32') return `${shown}; segserve feeds float32 images`;
  if (input.dims.length !== 4) return `${shown}; segserve feeds 4-D images (${config.layout})`;
  const [channels, height, width] =
    config.layout === 'NCHW'
      ? [input.dims[1], input.dims[2], input.dims[3]]
      : [input.dims[3], input.dims[1], input.dims[2]];
  const fixedOther = (dim: number | string, wanted: number) => typeof dim === 'number' && dim !== wanted;
  if (fixedOther(input.dims[0], 1)) return `${shown}; segserve feeds one image at a time (batch 1)`;
  if (fixedOther(channels, 3))
    return `${shown}; with input.layout ${config.layout} that is ${channels} channels, not 3`;
  if (fixedOther(height, config.height) || fixedOther(width, config.width)) {
    return `${shown}; with input.layout ${config.layout} that is ${width}x${height}, but input is ${config.width}x${config.height}`;
  }
  return undefined;
}
