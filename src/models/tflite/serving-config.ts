/**
 * The config.yaml of an imported model, worked out from the converted graph. The input must be one
 * [1, H, W, 3] image, served NHWC and stretched to H x W. The output must be one [1, H', W', C] score map:
 * 1 channel is a binary foreground map (sigmoid decoder), C >= 2 one channel per class (softmax decoder);
 * LOGISTIC or SOFTMAX as the last operator means the activation is applied, anything else that it emits
 * logits. What the classes are is not in a plain TFLite file, so labels must be given (a binary model needs
 * only its foreground name).
 */
import { SegserveError } from '../../errors.js';
import type { Task } from '../config.js';
import type { ConvertedModel } from './convert.js';

export interface ServingChoices {
  task?: Extract<Task, 'binary' | 'semantic'>;
  labels?: string[];
}

export interface ServingConfig {
  task: 'binary' | 'semantic';
  decoder: 'sigmoid' | 'softmax';
  inputName: string;
  width: number;
  height: number;
  outputName: string;
  activation: 'applied' | 'logits';
  labels: string[];
  /** One line for the config's header: what the tensors are. */
  summary: string;
}

function unsupportedModel(reason: string): SegserveError {
  return new SegserveError('TFLITE_UNSUPPORTED_MODEL', { reason });
}

function needsChoice(reason: string): SegserveError {
  return new SegserveError('INVALID_ARGUMENT', { reason });
}

export function servingConfig(model: ConvertedModel, choices: ServingChoices): ServingConfig {
  const [input, ...moreInputs] = model.inputs;
  const [output, ...moreOutputs] = model.outputs;
  if (!input || moreInputs.length > 0 || !output || moreOutputs.length > 0) {
    throw unsupportedModel(
      `segserve serves models with one image input and one score-map output; this one has ${model.inputs.length} inputs and ${model.outputs.length} outputs`,
    );
  }
  const [batch, height, width, colours] = input.shape;
  if (input.shape.length !== 4 || batch !== 1 || colours !== 3) {
    throw unsupportedModel(`input ${input.name} is [${input.shape}], not a [1, height, width, 3] image`);
  }
  if (output.shape.length !== 4 || output.shape[0] !== 1) {
    throw unsupportedModel(
      `output ${output.name} is [${output.shape}], not a [1, height, width, classes] score map`,
    );
  }
  const channels = output.shape[3];
  const decoder = channels === 1 ? 'sigmoid' : 'softmax';
  const applied = output.producer === (decoder === 'sigmoid' ? 'LOGISTIC' : 'SOFTMAX');
  const task = choices.task ?? (decoder === 'sigmoid' ? 'binary' : channels === 2 ? undefined : 'semantic');
  if (!task) {
    throw needsChoice(
      `output ${output.name} has 2 channels: give --task binary (background, foreground) or --task semantic`,
    );
  }
  if (decoder === 'sigmoid' ? task !== 'binary' : task === 'binary' && channels !== 2) {
    throw needsChoice(`output ${output.name} has ${channels} channels: --task ${task} does not fit`);
  }
  const labels = choices.labels;
  const expected =
    task === 'binary'
      ? 'the foreground name (e.g. person, or background,person)'
      : `one name per class (${channels})`;
  if (!labels || labels.length === 0) {
    throw needsChoice(
      `a TFLite file does not name its classes: give --labels with ${expected}; the task inferred from the output is ${task} (--task binary|semantic to override)`,
    );
  }
  const binaryLabels = labels.length === 1 ? ['background', labels[0]] : labels;
  if (task === 'binary' ? binaryLabels.length !== 2 : labels.length !== channels) {
    throw needsChoice(`--labels has ${labels.length} names; give ${expected}`);
  }
  const meaning =
    decoder === 'sigmoid'
      ? `the ${applied ? 'probability' : 'logit'} that a pixel is ${binaryLabels[1]}`
      : `${applied ? 'probabilities' : 'logits'} of ${channels} classes`;
  return {
    task,
    decoder,
    inputName: input.name,
    width,
    height,
    outputName: output.name,
    activation: applied ? 'applied' : 'logits',
    labels: task === 'binary' ? binaryLabels : labels,
    summary: `${input.name} [${input.shape.join(', ')}] (NHWC) -> ${output.name} [${output.shape.join(', ')}], ${meaning}${applied ? ` (the model ends in ${output.producer})` : ''}.`,
  };
}
