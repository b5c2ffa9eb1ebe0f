/**
 * The `softmax-classifier` decoder on tiny classifiers whose scores are known exactly: top-k labels and scores,
 * the softmax of logits, [1, C] and [1, C, 1, 1] outputs, the uncertainty, and outputs it cannot read.
 */
import { describe, expect, it } from 'vitest';
import { isSegserveError } from '../../src/errors.js';
import { parseModelConfig } from '../../src/models/config.js';
import { classUncertainty, getDecoder, softmax } from '../../src/tasks/index.js';
import type { ClassificationResult } from '../../src/tasks/types.js';
import {
  paintRgb,
  RED,
  semanticScene,
  type TinyModel,
  tinyColourClassifier,
  tinyRedClassifier,
  toInputTensor,
} from '../helpers/tiny-models.js';
import { contextOf, identity, runTiny } from './support.js';

async function classify(
  model: TinyModel,
  image = semanticScene(),
  overrides: Record<string, unknown> = {},
): Promise<ClassificationResult> {
  const outputs = await runTiny(model, toInputTensor(image, model.layout));
  return getDecoder('softmax-classifier')(
    outputs,
    contextOf(model, identity(16, 16), overrides),
  ) as ClassificationResult;
}

describe('softmax-classifier', () => {
  for (const shape of ['4d', '2d'] as const) {
    it(`reads applied probabilities from a [1, C${shape === '4d' ? ', 1, 1' : ''}] output`, async () => {
      const result = await classify(tinyRedClassifier({ shape }));
      expect(result.task).toBe('classification');
      expect(result.width).toBe(16);
      expect(result.labels).toEqual(['red', 'other']);
      expect(result.top.map((c) => c.label)).toEqual(['other', 'red']);
      expect(result.top[0].score).toBeCloseTo(220 / 256, 6);
      expect(result.top[1]).toMatchObject({ classId: 0, label: 'red' });
      expect(result.top[1].score).toBeCloseTo(36 / 256, 6);
      expect(result.scores[0]).toBeCloseTo(36 / 256, 6);
    });
  }

  it('applies the softmax to logits and keeps the top_k best, best first', async () => {
    const logits = [1.40625, 0.625, 1.25, 2];
    const expected = softmax(logits);
    const result = await classify(tinyColourClassifier(), semanticScene(), { top_k: 2 });
    expect(result.top.map((c) => c.label)).toEqual(['grey', 'red']);
    expect(result.top[0].score).toBeCloseTo(expected[3], 5);
    expect(result.top[1].score).toBeCloseTo(expected[0], 5);
    expect(result.scores.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 6);
    expect(result.uncertainty.topScore).toBeCloseTo(expected[3], 5);
    expect(result.uncertainty.margin).toBeCloseTo(expected[3] - expected[0], 5);
    const entropy = -expected.reduce((sum, p) => sum + p * Math.log(p), 0) / Math.log(4);
    expect(result.uncertainty.entropy).toBeCloseTo(entropy, 5);
  });

  it('answers 5 classes by default, or all when there are fewer', async () => {
    const result = await classify(tinyColourClassifier({ shape: '4d' }));
    expect(result.top).toHaveLength(4);
  });

  it('is sure of an image all red', async () => {
    const red = paintRgb(16, 16, [{ x0: 0, y0: 0, x1: 16, y1: 16, rgb: RED }]);
    const result = await classify(tinyRedClassifier(), red);
    expect(result.top[0]).toMatchObject({ label: 'red', score: 1 });
    expect(result.uncertainty).toEqual({ kind: 'class-scores', entropy: 0, topScore: 1, margin: 1 });
  });

  it('refuses an output that is not one score per label', async () => {
    const model = tinyRedClassifier();
    const outputs = await runTiny(model, toInputTensor(semanticScene(), model.layout));
    const context = { ...contextOf(model, identity(16, 16)), labels: ['red', 'other', 'blue'] };
    const refusal = (() => {
      try {
        getDecoder('softmax-classifier')(outputs, context);
      } catch (error) {
        return error;
      }
    })();
    expect(isSegserveError(refusal) && refusal.code).toBe('MODEL_OUTPUT_MISMATCH');
    expect(String((refusal as Error).message)).toContain('scores 2 classes, but there are 3 labels');
    const map = { scores: { type: 'float32' as const, dims: [1, 2, 4, 4], data: new Float32Array(32) } };
    expect(() => getDecoder('softmax-classifier')(map, contextOf(model, identity(16, 16)))).toThrow(
      /expected \[1, C\] or \[1, C, 1, 1\]/,
    );
  });

  it('measures uncertainty from a distribution', () => {
    expect(classUncertainty([0.25, 0.25, 0.25, 0.25])).toEqual({
      kind: 'class-scores',
      entropy: 1,
      topScore: 0.25,
      margin: 0,
    });
  });
});

describe('classification config', () => {
  const base = tinyRedClassifier().config as Record<string, unknown>;

  it('accepts a classifier with top_k', () => {
    const parsed = parseModelConfig({ ...base, top_k: 3 });
    expect(parsed.ok && parsed.config.top_k).toBe(3);
  });

  it('refuses what does not apply to classifiers, and top_k elsewhere', () => {
    const parsed = parseModelConfig({
      ...base,
      pipeline: { gate: { model: 'other', accept: ['x'] } },
      evaluation: { dataset: 'dataset:people' },
    });
    expect(parsed.ok).toBe(false);
    const paths = parsed.ok ? [] : parsed.issues.map((i) => `${i.path}: ${i.message}`);
    expect(paths).toContain(
      'pipeline: a classification model cannot itself have a gate (gates are one classifier deep)',
    );
    expect(paths).toContain(
      'evaluation: evaluation works on masks and does not apply to classification models',
    );
    const semantic = parseModelConfig({ ...base, task: 'semantic', decoder: 'softmax', top_k: 2 });
    expect(semantic.ok ? [] : semantic.issues).toContainEqual({
      path: 'top_k',
      message: 'top_k applies to classification models only',
    });
    const decoder = parseModelConfig({ ...base, decoder: 'softmax' });
    expect(decoder.ok ? [] : decoder.issues).toContainEqual({
      path: 'decoder',
      message: 'decoder "softmax" serves task semantic or binary, not "classification"',
    });
  });

  it('validates a gate: labels to accept, a score in [0, 1], a version or alias', () => {
    const seg = {
      task: 'semantic',
      decoder: 'softmax',
      input: { width: 16, height: 16 },
      labels: ['a', 'b'],
    };
    const ok = parseModelConfig({
      ...seg,
      pipeline: { gate: { model: 'em-or-not', version: 'stable', accept: ['membrane'], min_score: 0.6 } },
    });
    expect(ok.ok && ok.config.pipeline?.gate).toEqual({
      model: 'em-or-not',
      version: 'stable',
      accept: ['membrane'],
      min_score: 0.6,
    });
    const defaults = parseModelConfig({
      ...seg,
      pipeline: { gate: { model: 'g', version: 2, accept: ['x'] } },
    });
    expect(defaults.ok && defaults.config.pipeline?.gate.min_score).toBe(0.5);
    const bad = parseModelConfig({
      ...seg,
      name: 'self',
      pipeline: { gate: { model: 'self', version: '2', accept: [], min_score: 1.5, extra: 1 } },
    });
    expect(bad.ok).toBe(false);
    const issues = bad.ok ? [] : bad.issues.map((i) => i.path);
    expect(issues).toEqual(
      expect.arrayContaining([
        'pipeline.gate.version',
        'pipeline.gate.accept',
        'pipeline.gate.min_score',
        'pipeline.gate.extra',
      ]),
    );
    const self = parseModelConfig({
      ...seg,
      name: 'self',
      pipeline: { gate: { model: 'self', accept: ['x'] } },
    });
    expect(self.ok ? [] : self.issues).toContainEqual({
      path: 'pipeline.gate.model',
      message: 'a model cannot be its own gate',
    });
  });
});
