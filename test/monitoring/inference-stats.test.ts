import { describe, expect, it } from 'vitest';
import { InferenceStats } from '../../src/monitoring/inference-stats.js';
import type { PredictionCompleted } from '../../src/serving/events.js';

function completed(batchSize?: number): PredictionCompleted {
  return {
    type: 'prediction.completed',
    predictionId: 'p',
    source: 'cli',
    model: 'm',
    version: 1,
    variant: 'default',
    at: 1,
    timings: { decode: 1, preprocess: 1, queue: 1, infer: 1, postprocess: 1, encode: 1, total: 6 },
    summary: { task: 'tensors' },
    batchSize,
  };
}

describe('InferenceStats', () => {
  it('counts a batch of N requests as one execution, and each request alone as one', () => {
    const stats = new InferenceStats();
    for (let i = 0; i < 4; i++) stats.observe(completed(4));
    for (let i = 0; i < 3; i++) stats.observe(completed(3));
    stats.observe(completed(1));
    stats.observe(completed());
    const [m] = stats.get('m', '1');
    expect(m.inference_count).toBe(9);
    expect(m.execution_count).toBe(4);
  });
});
