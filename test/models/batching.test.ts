/**
 * `batching.enabled` on a model whose batch dimension is fixed is refused when the version loads, with a
 * reason that names the config key and the tensor, instead of failing (or silently not batching) requests.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tinySoftmaxModel } from '../helpers/tiny-models.js';
import { type TinyRepository, tinyRepository } from '../http/helpers.js';

describe('batching on a model with a fixed batch dimension', () => {
  let repo: TinyRepository;

  beforeAll(async () => {
    const fixed = tinySoftmaxModel();
    repo = await tinyRepository({
      batched: {
        ...fixed,
        config: { ...(fixed.config as object), batching: { enabled: true, max_batch_size: 4 } },
      },
      plain: fixed,
    });
  });
  afterAll(() => repo.close());

  it('fails the version at load time, naming the model, the config key and the tensor', () => {
    const status = repo.repository.get('batched');
    expect(status?.state).toBe('failed');
    expect(status?.error?.code).toBe('MODEL_LOAD_FAILED');
    expect(status?.error?.message).toContain('Model "batched" version 1 failed to load');
    expect(status?.error?.message).toContain(
      'batching.enabled: "image" has a fixed batch dimension [1, 3, 16, 16]',
    );
  });

  it('leaves the same model without batching serving', () => {
    expect(repo.repository.get('plain')?.state).toBe('ready');
  });
});
