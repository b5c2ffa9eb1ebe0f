/**
 * `batching.enabled` is refused when the version loads, with a reason that names the config key and the tensor,
 * on a model whose batch dimension is fixed or whose outputs do not carry that batch dimension first (batching
 * could not stack its requests, or could not split the answers back), and on one whose answers would depend on
 * the other requests of a batch (dynamic quantisation), so nothing is left to fail, or answer differently,
 * request by request.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildModel } from '../helpers/onnx-builder.js';
import { type TinyModel, tinySoftmaxModel } from '../helpers/tiny-models.js';
import { type TinyRepository, tinyRepository } from '../http/helpers.js';

/** tinySoftmaxModel's classes and config, its graph with a symbolic input batch and `outputBatch` first. */
function dynamicSoftmax(outputBatch: string): TinyModel {
  const fixed = tinySoftmaxModel();
  const bytes = buildModel({
    inputs: [{ name: 'image', dims: ['batch', 3, 16, 16] }],
    outputs: [{ name: 'scores', dims: [outputBatch, 4, 16, 16] }],
    initializers: [
      { name: 'w', dims: [4, 3, 1, 1], values: [0, 0, 0, 10, 0, 0, 0, 10, 0, 0, 0, 10] },
      { name: 'b', dims: [4], values: [5, 0, 0, 0] },
    ],
    nodes: [
      { op: 'Conv', inputs: ['image', 'w', 'b'], outputs: ['logits'] },
      { op: 'Softmax', inputs: ['logits'], outputs: ['scores'], attributes: { axis: 1 } },
    ],
  });
  return { ...fixed, bytes };
}

/** dynamicSoftmax('batch') with its input quantised dynamically (range from the whole tensor) before the Conv. */
function dynamicallyQuantised(): TinyModel {
  const model = dynamicSoftmax('batch');
  const bytes = buildModel({
    inputs: [{ name: 'image', dims: ['batch', 3, 16, 16] }],
    outputs: [{ name: 'scores', dims: ['batch', 4, 16, 16] }],
    initializers: [
      { name: 'w', dims: [4, 3, 1, 1], values: [0, 0, 0, 10, 0, 0, 0, 10, 0, 0, 0, 10] },
      { name: 'b', dims: [4], values: [5, 0, 0, 0] },
    ],
    nodes: [
      { op: 'DynamicQuantizeLinear', inputs: ['image'], outputs: ['q', 'scale', 'zero'] },
      { op: 'DequantizeLinear', inputs: ['q', 'scale', 'zero'], outputs: ['dq'] },
      { op: 'Conv', inputs: ['dq', 'w', 'b'], outputs: ['logits'] },
      { op: 'Softmax', inputs: ['logits'], outputs: ['scores'], attributes: { axis: 1 } },
    ],
  });
  return { ...model, bytes };
}

function withBatching(model: TinyModel): TinyModel {
  return {
    ...model,
    config: { ...(model.config as object), batching: { enabled: true, max_batch_size: 4 } },
  };
}

describe('batching at load time', () => {
  let repo: TinyRepository;

  beforeAll(async () => {
    repo = await tinyRepository({
      fixed: withBatching(tinySoftmaxModel()),
      plain: tinySoftmaxModel(),
      detections: withBatching(dynamicSoftmax('detections')),
      dynamic: withBatching(dynamicSoftmax('batch')),
      quantised: withBatching(dynamicallyQuantised()),
      quantisedAlone: dynamicallyQuantised(),
    });
  });
  afterAll(() => repo.close());

  it('fails a version whose batch dimension is fixed, naming the model, the config key and the tensor', () => {
    const status = repo.repository.get('fixed');
    expect(status?.state).toBe('failed');
    expect(status?.error?.code).toBe('MODEL_LOAD_FAILED');
    expect(status?.error?.message).toContain('Model "fixed" version 1 failed to load');
    expect(status?.error?.message).toContain(
      'batching.enabled: input "image" [1, 3, 16, 16] has a fixed batch dimension',
    );
  });

  it('fails a version whose output starts with another dimension than the batch', () => {
    const status = repo.repository.get('detections');
    expect(status?.state).toBe('failed');
    expect(status?.error?.message).toContain(
      'batching.enabled: the first dimension of output "scores" [detections, 4, 16, 16] is not the input\'s batch dimension "batch"',
    );
  });

  it('fails a version with an operator whose result depends on the whole batch (dynamic quantisation)', () => {
    const status = repo.repository.get('quantised');
    expect(status?.state).toBe('failed');
    expect(status?.error?.message).toContain(
      'batching.enabled: the model has operators that compute over the whole batch (DynamicQuantizeLinear x1',
    );
    expect(repo.repository.get('quantisedAlone')?.state).toBe('ready');
  });

  it('serves the fixed model without batching, and a model with a dynamic batch with it', () => {
    expect(repo.repository.get('plain')?.state).toBe('ready');
    expect(repo.repository.get('dynamic')?.state).toBe('ready');
  });
});
