/** The `evaluation:` block of config.yaml: the promotion gate's dataset, metric and tolerance. */
import { describe, expect, it } from 'vitest';
import { parseModelConfig } from '../../src/models/config.js';
import { evaluationMetric } from '../../src/models/evaluation-config.js';

const semantic = { task: 'semantic', decoder: 'softmax', input: { width: 64, height: 48 } };
const instance = { task: 'instance', decoder: 'yolo-seg', input: { width: 64, height: 64 } };

function issuesOf(config: Record<string, unknown>) {
  const parsed = parseModelConfig(config);
  if (parsed.ok) throw new Error('expected the config to be rejected');
  return parsed.issues;
}

describe('evaluation config', () => {
  it('is absent by default', () => {
    const parsed = parseModelConfig(semantic);
    if (!parsed.ok) throw new Error('expected the minimal config to parse');
    expect(parsed.config.evaluation).toBeUndefined();
  });

  it('takes a dataset reference or a path, the metric defaulting by task and the tolerance to 0.01', () => {
    const parsed = parseModelConfig({
      ...semantic,
      evaluation: { dataset: 'dataset:faces@latest#validation' },
    });
    if (!parsed.ok) throw new Error(JSON.stringify(parsed.issues));
    expect(parsed.config.evaluation).toEqual({ dataset: 'dataset:faces@latest#validation', tolerance: 0.01 });
    expect(evaluationMetric('semantic', parsed.config.evaluation)).toBe('miou');
    expect(evaluationMetric('binary', undefined)).toBe('miou');
    expect(evaluationMetric('instance', undefined)).toBe('mask_ap');
    const coco = parseModelConfig({
      ...instance,
      evaluation: {
        dataset: '../data/coco/instances.json',
        metric: 'box_ap',
        tolerance: 0,
      },
    });
    if (!coco.ok) throw new Error(JSON.stringify(coco.issues));
    expect(evaluationMetric('instance', coco.config.evaluation)).toBe('box_ap');
  });

  it('refuses a metric of another task, a malformed reference, a bad tolerance and unknown keys, by path', () => {
    expect(issuesOf({ ...semantic, evaluation: { dataset: 'x', metric: 'mask_ap' } })).toEqual([
      { path: 'evaluation.metric', message: 'mask_ap does not score a semantic model; use miou' },
    ]);
    expect(issuesOf({ ...instance, evaluation: { dataset: 'x', metric: 'miou' } })[0].message).toMatch(
      /use mask_ap or box_ap/,
    );
    expect(issuesOf({ ...semantic, evaluation: { dataset: 'dataset:faces#test' } })).toEqual([
      { path: 'evaluation.dataset', message: 'split "test" is not one of train, validation' },
    ]);
    expect(issuesOf({ ...semantic, evaluation: { dataset: 'dataset:' } })[0].path).toBe('evaluation.dataset');
    expect(issuesOf({ ...semantic, evaluation: { dataset: 'x', tolerance: 2 } })[0].path).toBe(
      'evaluation.tolerance',
    );
    expect(issuesOf({ ...semantic, evaluation: { dataset: 'x', gate: true } })).toEqual([
      { path: 'evaluation.gate', message: 'unknown field' },
    ]);
    expect(issuesOf({ ...semantic, evaluation: {} })[0].path).toBe('evaluation.dataset');
  });
});
