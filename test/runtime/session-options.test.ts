import { describe, expect, it } from 'vitest';
import { SegserveError } from '../../src/errors.js';
import { buildSessionOptions, sessionLoadError } from '../../src/runtime/session-options.js';

const model = { name: 'm', version: 3 };

describe('buildSessionOptions', () => {
  it('sets threads, turns spinning off, optimises fully and quiets warnings', () => {
    expect(buildSessionOptions({ intraOpThreads: 2, interOpThreads: 1, executionProvider: 'cpu' })).toEqual({
      intraOpNumThreads: 2,
      interOpNumThreads: 1,
      extra: { session: { intra_op: { allow_spinning: '0' }, inter_op: { allow_spinning: '0' } } },
      graphOptimizationLevel: 'all',
      logSeverityLevel: 3,
      executionProviders: ['cpu'],
    });
  });
});

describe('sessionLoadError', () => {
  it('maps a provider library failure under CUDA to EXECUTION_PROVIDER_UNAVAILABLE with the runtime message', () => {
    const error = sessionLoadError(
      new Error('OrtSessionOptionsAppendExecutionProvider_Cuda: Failed to load shared library'),
      { intraOpThreads: 1, interOpThreads: 1, executionProvider: 'cuda' },
      model,
    );
    expect(error.toJSON()).toMatchObject({
      code: 'EXECUTION_PROVIDER_UNAVAILABLE',
      details: {
        provider: 'cuda',
        reason: 'OrtSessionOptionsAppendExecutionProvider_Cuda: Failed to load shared library',
      },
    });
  });

  it('maps other failures to MODEL_LOAD_FAILED with model, version and reason', () => {
    const error = sessionLoadError(
      new Error('Load model from x failed: Protobuf parsing failed.'),
      { intraOpThreads: 1, interOpThreads: 1, executionProvider: 'cpu' },
      model,
    );
    expect(error.toJSON()).toMatchObject({
      code: 'MODEL_LOAD_FAILED',
      details: { model: 'm', version: 3, reason: 'Load model from x failed: Protobuf parsing failed.' },
    });
  });

  it('passes catalogue errors through unchanged', () => {
    const original = new SegserveError('EXECUTION_PROVIDER_UNAVAILABLE', { provider: 'cuda', reason: 'r' });
    expect(
      sessionLoadError(original, { intraOpThreads: 1, interOpThreads: 1, executionProvider: 'cuda' }, model),
    ).toBe(original);
  });
});
