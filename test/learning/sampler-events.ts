/** Events and samplers for the sampler tests: predictions with chosen uncertainty, classes and time. */

import { createSampler, type Sampler } from '../../src/learning/sampler/index.js';
import { parseModelConfig } from '../../src/models/config.js';
import type { DriftDetected, PredictionCompleted } from '../../src/serving/events.js';
import { seededRandom } from '../helpers/random.js';

const TIMINGS = { decode: 1, preprocess: 1, queue: 0, infer: 5, postprocess: 1, encode: 1, total: 9 };

/** A semantic prediction of mean entropy `entropy` whose present classes are `classes`. */
export function semantic(entropy: number, classes: string[] = ['background', 'person']): PredictionCompleted {
  return {
    type: 'prediction.completed',
    predictionId: 'p',
    source: 'v1',
    model: 'm',
    version: 1,
    variant: 'default',
    at: 0,
    timings: TIMINGS,
    uncertainty: { kind: 'pixel-entropy', meanEntropy: entropy, maxEntropy: entropy, uncertainShare: 0 },
    summary: {
      task: 'semantic',
      classes: classes.map((label, classId) => ({ label, classId, area: 10, ratio: 0.1 })),
    },
  };
}

/** An instance prediction of the given instances (score, class margin, label). */
export function instances(
  found: Array<{ score: number; margin: number; label?: string }>,
): PredictionCompleted {
  const scores = found.map((i) => i.score);
  const margins = found.map((i) => i.margin);
  return {
    ...semantic(0),
    uncertainty: {
      kind: 'instance-scores',
      count: found.length,
      meanScore: found.length ? scores.reduce((a, b) => a + b) / found.length : 0,
      minScore: found.length ? Math.min(...scores) : 0,
      maxScore: found.length ? Math.max(...scores) : 0,
      minMargin: found.length ? Math.min(...margins) : 1,
      meanMargin: found.length ? margins.reduce((a, b) => a + b) / found.length : 1,
      nearThresholdShare: 0,
    },
    summary: {
      task: 'instance',
      instances: found.map((i, classId) => ({
        label: i.label ?? 'person',
        classId,
        score: i.score,
        area: 50,
      })),
    },
  };
}

export function drift(detected: boolean, model = 'm', version = 1): DriftDetected {
  return { type: 'drift.detected', model, version, detected, score: 0.4, signal: 'brightness', at: 0 };
}

/** A clock the test moves by hand. */
export class ManualClock {
  time = Date.UTC(2025, 0, 1);
  readonly now = () => this.time;
  advance(ms: number): void {
    this.time += ms;
  }
}

const BASE = { task: 'semantic', decoder: 'softmax', input: { width: 8, height: 8 } };

/** A sampler for model `m` version 1 from a `sampling:` block, through the config schema as a file would be. */
export function samplerFor(sampling: unknown, clock = new ManualClock(), seed = 1): Sampler {
  const parsed = parseModelConfig({ ...BASE, sampling });
  if (!parsed.ok) throw new Error(`config refused: ${JSON.stringify(parsed.issues)}`);
  const sampler = createSampler(
    { model: 'm', version: 1, config: parsed.config },
    { now: clock.now, random: seededRandom(seed) },
  );
  if (!sampler) throw new Error('expected a sampler');
  return sampler;
}
