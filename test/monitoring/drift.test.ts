/**
 * The drift monitor on synthetic signals with known distributions: PSI of identical and shifted samples, the
 * hysteresis of the detected state, the categorical class mix, the signals of results and images, and baseline
 * files that do not fit their model.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isSegserveError } from '../../src/errors.js';
import { pixelStatistics } from '../../src/image/index.js';
import { type ModelConfig, parseModelConfig } from '../../src/models/config.js';
import type { LoadedVersion } from '../../src/models/index.js';
import {
  binOf,
  CLEAR_RATIO,
  type DriftChange,
  DriftMonitor,
  type DriftObservation,
  driftBins,
  inputSignalsOf,
  makeBaseline,
  openDriftMonitor,
  outputSignals,
  psi,
  quantileEdges,
  readBaseline,
  smoothedProportions,
  writeBaseline,
} from '../../src/monitoring/drift/index.js';
import type { InstanceResult, SemanticResult } from '../../src/tasks/types.js';
import { seededRandom } from '../helpers/random.js';

/** Normal samples (Box-Muller). */
function normal(random: () => number, mean = 0, sd = 1): number {
  return mean + sd * Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
}

const LABELS = ['background', 'person'];

/** An observation whose every numeric signal is drawn from N(mean, 1); the class mix is 70/30. */
function observation(random: () => number, mean = 0, shares = [0.7, 0.3]): DriftObservation {
  return {
    input: {
      brightness: normal(random, 100 + 10 * mean, 10),
      contrast: normal(random, 40 + 5 * mean, 5),
      colourfulness: normal(random, 30 + 5 * mean, 5),
      aspectRatio: normal(random, 1.4 + 0.1 * mean, 0.1),
    },
    output: { entropy: normal(random, 0.2 + 0.05 * mean, 0.05), classShares: shares },
  };
}

function monitor(options: Partial<ConstructorParameters<typeof DriftMonitor>[0]> = {}): DriftMonitor {
  return new DriftMonitor({
    model: 'selfie',
    version: 1,
    task: 'binary',
    labels: LABELS,
    referenceSize: 1000,
    window: 1000,
    threshold: 0.25,
    ...options,
  });
}

describe('PSI', () => {
  it('is 0 for identical proportions and grows with the shift', () => {
    const p = smoothedProportions([25, 25, 25, 25, 0], 100);
    expect(psi(p, p)).toBe(0);
    const slight = smoothedProportions([30, 25, 25, 20, 0], 100);
    const strong = smoothedProportions([70, 20, 10, 0, 0], 100);
    expect(psi(p, slight)).toBeGreaterThan(0);
    expect(psi(p, slight)).toBeLessThan(0.05);
    expect(psi(p, strong)).toBeGreaterThan(1);
  });

  it('stays finite for empty bins (smoothing)', () => {
    const value = psi(smoothedProportions([100, 0], 100), smoothedProportions([0, 100], 100));
    expect(Number.isFinite(value)).toBe(true);
    expect(value).toBeGreaterThan(5);
  });

  it('makes quantile bins of equal counts, merges repeated values, and bins missing values apart', () => {
    const values = Array.from({ length: 100 }, (_, i) => i);
    const edges = quantileEdges(values, 4);
    expect(edges).toEqual([24, 49, 74]);
    const counts = [0, 0, 0, 0, 0];
    for (const v of values) counts[binOf(v, edges)]++;
    expect(counts).toEqual([25, 25, 25, 25, 0]);
    expect(binOf(undefined, edges)).toBe(4);
    expect(binOf(Number.NaN, edges)).toBe(4);
    // A third of the photos with exactly 1.5: one bin for them, no empty bins.
    const tied = [...Array(40).fill(1.5), ...Array.from({ length: 60 }, (_, i) => 1 + i / 100)];
    const tiedEdges = quantileEdges(tied, 10);
    expect(new Set(tiedEdges).size).toBe(tiedEdges.length);
    const tiedCounts = new Array(tiedEdges.length + 1).fill(0);
    for (const v of tied) tiedCounts[binOf(v, tiedEdges)]++;
    expect(tiedCounts.every((c) => c > 0)).toBe(true);
  });

  it('picks fewer bins for small samples, keeping the noise PSI at a quarter of the threshold', () => {
    expect(driftBins(100, 100, 0.25)).toBe(4);
    expect(driftBins(200, 200, 0.25)).toBe(7);
    expect(driftBins(5000, 5000, 0.25)).toBe(10);
    expect(driftBins(100, 100, 0.25, 12)).toBe(12);
  });
});

describe('DriftMonitor', () => {
  it('collects the reference, fills the window, then scores: identical distributions stay near 0', () => {
    const random = seededRandom(1);
    const m = monitor();
    expect(m.state()).toMatchObject({ phase: 'reference', referenceCount: 0, detected: false, signals: {} });
    for (let i = 0; i < 1000; i++) expect(m.observe(observation(random))).toBeUndefined();
    expect(m.state()).toMatchObject({ phase: 'filling', windowCount: 0 });
    let max = 0;
    for (let i = 0; i < 3000; i++) {
      expect(m.observe(observation(random))).toBeUndefined();
      max = Math.max(max, m.state().score ?? 0);
    }
    const state = m.state();
    expect(state.phase).toBe('monitoring');
    expect(Object.keys(state.signals).sort()).toEqual(
      ['aspect_ratio', 'brightness', 'class_mix', 'colourfulness', 'contrast', 'entropy'].sort(),
    );
    // (bins - 1) x (1/1000 + 1/1000) = 0.018 expected per signal with 10 bins.
    expect(max).toBeLessThan(0.08);
  });

  it('reports a shift of one standard deviation, naming the signal', () => {
    const random = seededRandom(2);
    const m = monitor();
    for (let i = 0; i < 2000; i++) m.observe(observation(random));
    const changes: DriftChange[] = [];
    for (let i = 0; i < 1000; i++) {
      const change = m.observe(observation(random, 1));
      if (change) changes.push(change);
    }
    expect(changes).toHaveLength(1);
    expect(changes[0]).toMatchObject({ model: 'selfie', version: 1, detected: true });
    expect(changes[0].score).toBeGreaterThanOrEqual(0.25);
    const state = m.state();
    expect(state.detected).toBe(true);
    // A whole window shifted by 1 sd: PSI about 1 for a normal (measured 0.9-1.1 over seeds).
    expect(state.score).toBeGreaterThan(0.6);
    for (const signal of ['brightness', 'contrast', 'colourfulness', 'aspect_ratio', 'entropy'] as const) {
      expect(state.signals[signal]).toBeGreaterThan(0.6);
    }
    expect(state.signals.class_mix).toBeLessThan(0.01);
  });

  it('clears only below 0.8 x threshold: a score that hovers at the threshold does not flap', () => {
    const random = seededRandom(3);
    const m = monitor({ referenceSize: 500, window: 500, bins: 10 });
    for (let i = 0; i < 1000; i++) m.observe(observation(random));
    // Traffic alternates between stretches shifted by 0.6 sd and unshifted ones, so the score rises to about
    // the threshold and wavers around it as the window's mix changes.
    const changes: DriftChange[] = [];
    const scores: number[] = [];
    for (let i = 0; i < 6000; i++) {
      const shifted = Math.floor(i / 150) % 2 === 0 || i < 500;
      const change = m.observe(observation(random, shifted ? 0.6 : 0));
      if (change) changes.push(change);
      const { score } = m.state();
      if (score !== undefined) scores.push(score);
    }
    const near = scores.filter((s) => s >= CLEAR_RATIO * 0.25 && s < 0.3).length;
    const crossings = scores.filter((s, i) => i > 0 && scores[i - 1] < 0.25 !== s < 0.25).length;
    expect(near, 'the score spends time near the threshold').toBeGreaterThan(100);
    expect(crossings, 'the raw score crosses the threshold many times').toBeGreaterThan(4);
    expect(changes.length).toBeLessThan(crossings);
    for (const change of changes) {
      if (change.detected) expect(change.score).toBeGreaterThanOrEqual(0.25);
      else expect(change.score).toBeLessThan(CLEAR_RATIO * 0.25);
    }
    // Changes alternate: detected, cleared, detected...
    changes.forEach((change, i) => {
      expect(change.detected).toBe(i % 2 === 0);
    });
  });

  it('scores the class mix as one categorical PSI, with "(none)" for results that found nothing', () => {
    const random = seededRandom(4);
    const m = monitor({ task: 'instance', labels: ['cat', 'dog', 'car'], referenceSize: 300, window: 300 });
    const instances = (shares: number[], score?: number): DriftObservation => ({
      ...observation(random),
      output: { instanceScore: score, classShares: shares },
    });
    for (let i = 0; i < 300; i++)
      m.observe(instances(i % 3 === 0 ? [0, 1, 0] : [1, 0, 0], 0.8 + 0.1 * random()));
    for (let i = 0; i < 300; i++)
      m.observe(instances(i % 3 === 0 ? [0, 1, 0] : [1, 0, 0], 0.8 + 0.1 * random()));
    expect(m.state().signals.class_mix).toBeLessThan(0.01);
    expect(m.state().signals).toHaveProperty('instance_score');
    expect(m.state().signals).not.toHaveProperty('entropy');
    // The traffic turns to cars, and half of it to images where nothing is found (no mean score either).
    const changes: DriftChange[] = [];
    for (let i = 0; i < 300; i++) {
      const change = m.observe(i % 2 === 0 ? instances([0, 0, 1], 0.85) : instances([0, 0, 0]));
      if (change) changes.push(change);
    }
    const state = m.state();
    expect(state.signals.class_mix).toBeGreaterThan(2);
    expect(state.signals.instance_score).toBeGreaterThan(0.25);
    expect(changes[0]).toMatchObject({ detected: true });
  });

  it('observes in time independent of the window size (running histograms)', () => {
    const random = seededRandom(5);
    const observations = Array.from({ length: 2000 }, () => observation(random));
    const timed = (window: number) => {
      const m = monitor({ referenceSize: 2000, window, bins: 10 });
      for (const o of observations) m.observe(o);
      for (let i = 0; i < window; i++) m.observe(observations[i % 2000]);
      const started = performance.now();
      for (let i = 0; i < 20_000; i++) m.observe(observations[i % 2000]);
      return (performance.now() - started) / 20_000;
    };
    const small = timed(200);
    const large = timed(20_000);
    console.log(
      `observe: ${(small * 1000).toFixed(1)} us at window 200, ${(large * 1000).toFixed(1)} us at 20000`,
    );
    expect(large).toBeLessThan(small * 3 + 0.005);
    expect(large).toBeLessThan(0.1);
  });
});

describe('drift signals', () => {
  it('reads brightness, contrast and colourfulness from a strided sample, and the aspect ratio of the source', () => {
    const grey = { width: 4, height: 2, channels: 3 as const, data: new Uint8Array(24).fill(128) };
    const flat = inputSignalsOf(pixelStatistics(grey), 4, 2);
    expect(flat.brightness).toBeCloseTo(128, 6);
    expect(flat.contrast).toBeCloseTo(0, 3);
    expect(flat.colourfulness).toBe(0);
    expect(flat.aspectRatio).toBe(2);
    const halves = new Uint8Array(24);
    for (let p = 0; p < 8; p++) halves.set(p % 4 < 2 ? [255, 0, 0] : [0, 0, 255], p * 3);
    const colourful = pixelStatistics({ width: 4, height: 2, channels: 3, data: halves });
    expect(colourful.colourfulness).toBeGreaterThan(100);
    // Red has luma 76, blue 29: half and half give a luma std of 23.6.
    expect(colourful.contrast).toBeCloseTo(23.6, 1);

    // A large image is sampled on a grid of about STATISTICS_SAMPLES pixels, and the sample reads like the whole:
    // left half red, right half blue, at 1000 x 800.
    const width = 1000;
    const height = 800;
    const big = new Uint8Array(width * height * 3);
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) big.set(x < width / 2 ? [255, 0, 0] : [0, 0, 255], (y * width + x) * 3);
    }
    const sampled = pixelStatistics({ width, height, channels: 3, data: big });
    expect(sampled.brightness).toBeCloseTo((0.299 * 255 + 0.114 * 255) / 2, 0);
    expect(sampled.contrast).toBeCloseTo(23.6, 0);
    expect(sampled.colourfulness).toBeCloseTo(colourful.colourfulness, 0);
  });

  it('summarises semantic and instance results without per-pixel work', () => {
    const semantic = {
      task: 'binary',
      width: 10,
      height: 10,
      classMap: new Uint8Array(100),
      labels: LABELS,
      areas: [
        { classId: 0, label: 'background', area: 75 },
        { classId: 1, label: 'person', area: 25 },
      ],
      uncertainty: { kind: 'pixel-entropy', meanEntropy: 0.12, maxEntropy: 1, uncertainShare: 0.1 },
    } satisfies SemanticResult;
    expect(outputSignals(semantic, 2)).toEqual({ entropy: 0.12, classShares: [0.75, 0.25] });
    const none = {
      task: 'instance',
      width: 10,
      height: 10,
      instances: [],
      uncertainty: {
        kind: 'instance-scores',
        count: 0,
        meanScore: 0,
        minScore: 0,
        maxScore: 0,
        minMargin: 1,
        meanMargin: 1,
        nearThresholdShare: 0,
      },
    } satisfies InstanceResult;
    expect(outputSignals(none, 3)).toEqual({ instanceScore: undefined, classShares: [0, 0, 0] });
  });
});

describe('baseline files', () => {
  let dir: string;
  const target = {
    name: 'selfie',
    version: 1,
    task: 'binary',
    labels: LABELS,
    input: { width: 256, height: 256 },
  } as const;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'segserve-drift-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  async function writeReference(file: string) {
    const random = seededRandom(6);
    const m = monitor({ referenceSize: 200, window: 200 });
    for (let i = 0; i < 200; i++) m.observe(observation(random));
    const reference = m.reference();
    if (!reference) throw new Error('the reference is fixed after 200 predictions');
    await writeBaseline(file, makeBaseline(target, reference));
    return reference;
  }

  it('round-trips, and a monitor from it scores from its first full window', async () => {
    const file = join(dir, 'selfie.json');
    const reference = await writeReference(file);
    const read = await readBaseline(file, { ...target, version: 2 });
    expect(read).toEqual(reference);
    const m = monitor({ reference: read, window: 200 });
    expect(m.state()).toMatchObject({ phase: 'filling', referenceSource: 'baseline', referenceSize: 200 });
    const random = seededRandom(7);
    for (let i = 0; i < 200; i++) m.observe(observation(random));
    expect(m.state().phase).toBe('monitoring');
    expect(m.state().score).toBeLessThan(0.25);
  });

  it('refuses a baseline of another model, other labels or input size, or not a baseline at all', async () => {
    const file = join(dir, 'selfie-2.json');
    await writeReference(file);
    const refusal = async (path: string, fits: typeof target | Record<string, unknown>) => {
      try {
        await readBaseline(path, fits as typeof target);
      } catch (error) {
        if (!isSegserveError(error)) throw error;
        expect(error.code).toBe('DRIFT_BASELINE_INVALID');
        return error.message;
      }
      throw new Error('the baseline was accepted');
    };
    expect(await refusal(file, { ...target, name: 'pan' })).toMatch(/made for model "selfie"/);
    expect(await refusal(file, { ...target, labels: ['background', 'hair'] })).toMatch(/labels .* differ/);
    expect(await refusal(file, { ...target, input: { width: 512, height: 512 } })).toMatch(/input 256x256/);
    expect(await refusal(join(dir, 'missing.json'), target)).toMatch(/no such file/);
    const garbage = join(dir, 'garbage.json');
    await writeFile(garbage, '{"format": "something else"}');
    expect(await refusal(garbage, target)).toMatch(/not a segserve drift baseline/);
  });

  it('opens the monitor a config asks for; a mismatching baseline throws and leaves the model alone', async () => {
    await writeReference(join(dir, 'baseline.json'));
    const loadedWith = (drift: Record<string, unknown>, labels = LABELS) => {
      const parsed = parseModelConfig({
        task: 'binary',
        decoder: 'sigmoid',
        input: { width: 256, height: 256 },
        labels,
        monitoring: { drift },
      });
      if (!parsed.ok) throw new Error(JSON.stringify(parsed.issues));
      const config: ModelConfig = parsed.config;
      // Only what openDriftMonitor reads: no runtime is started.
      return { name: 'selfie', version: 1, config, labels } as unknown as LoadedVersion;
    };
    const fromStream = await openDriftMonitor(loadedWith({}), dir);
    expect(fromStream?.state()).toMatchObject({
      phase: 'reference',
      referenceSize: 200,
      window: 200,
      threshold: 0.25,
    });
    expect(await openDriftMonitor(loadedWith({ enabled: false }), dir)).toBeUndefined();
    const fromFile = await openDriftMonitor(loadedWith({ baseline: 'baseline.json', window: 50 }), dir);
    expect(fromFile?.state()).toMatchObject({ phase: 'filling', referenceSource: 'baseline', window: 50 });
    await expect(
      openDriftMonitor(loadedWith({ baseline: 'baseline.json' }, ['background', 'hair']), dir),
    ).rejects.toMatchObject({ code: 'DRIFT_BASELINE_INVALID' });
  });
});
