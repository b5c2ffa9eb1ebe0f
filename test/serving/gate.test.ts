/** The gate's rule on a classifier's answer, and the refusal it makes: pure functions, no model. */
import { describe, expect, it } from 'vitest';
import { decideGate, gateRefused } from '../../src/serving/gate.js';
import { classUncertainty, topClasses } from '../../src/tasks/index.js';
import type { ClassificationResult } from '../../src/tasks/types.js';

const labels = ['membrane', 'cells', 'photo', 'noise'];

function answer(scores: number[], k = 2): ClassificationResult {
  return {
    task: 'classification',
    width: 8,
    height: 8,
    top: topClasses(scores, labels, k),
    scores,
    labels,
    uncertainty: classUncertainty(scores),
  };
}

const classifier = { model: 'em-or-not', version: 2 };

describe('decideGate', () => {
  it('accepts when an accepted label reaches min_score, naming the best accepted label', () => {
    const gate = { model: 'em-or-not', accept: ['membrane', 'cells'], min_score: 0.6 };
    const decision = decideGate(gate, classifier, answer([0.1, 0.7, 0.15, 0.05]), 3);
    expect(decision).toMatchObject({
      model: 'em-or-not',
      version: 2,
      accepted: true,
      label: 'cells',
      score: 0.7,
      ms: 3,
    });
  });

  it('refuses below min_score, even when an accepted label is the best class', () => {
    const gate = { model: 'em-or-not', accept: ['membrane'], min_score: 0.6 };
    const decision = decideGate(gate, classifier, answer([0.45, 0.1, 0.4, 0.05]), 1);
    expect(decision).toMatchObject({ accepted: false, label: 'membrane', score: 0.45 });
  });

  it('reads every class, not only the top_k the classifier answers with', () => {
    const gate = { model: 'em-or-not', accept: ['noise'], min_score: 0.2 };
    const decision = decideGate(gate, classifier, answer([0.3, 0.26, 0.2, 0.24], 2), 1);
    expect(decision.top.map((c) => c.label)).toEqual(['membrane', 'cells']);
    expect(decision).toMatchObject({ accepted: true, label: 'noise', score: 0.24 });
  });

  it('makes GATE_REFUSED with the classifier answer in the details', () => {
    const gate = { model: 'em-or-not', accept: ['membrane', 'cells'], min_score: 0.6 };
    const decision = decideGate(gate, classifier, answer([0.2, 0.1, 0.65432, 0.04568]), 1);
    const error = gateRefused({ name: 'membranes', version: 4 }, gate, decision);
    expect(error.code).toBe('GATE_REFUSED');
    expect(error.status).toBe(422);
    expect(error.message).toBe(
      'Model "membranes" segments only images its gate "em-or-not" accepts (membrane or cells with a score of at least 0.6); the gate scored membrane 0.2.',
    );
    expect(error.details).toEqual({
      model: 'membranes',
      version: 4,
      gate: 'em-or-not',
      gate_version: 2,
      accept: 'membrane or cells',
      min_score: 0.6,
      label: 'membrane',
      score: 0.2,
      classes: [
        { label: 'photo', class_id: 2, score: 0.6543 },
        { label: 'membrane', class_id: 0, score: 0.2 },
      ],
    });
    expect(JSON.parse(JSON.stringify(error.toJSON())).details.classes).toHaveLength(2);
  });
});
