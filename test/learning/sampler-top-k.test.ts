/** top_k: the k most uncertain per window, decided as predictions stream in; what it guarantees and costs. */
import { describe, expect, it } from 'vitest';
import { seededRandom } from '../helpers/random.js';
import { ManualClock, samplerFor, semantic } from './sampler-events.js';

const HOUR = 3_600_000;

/** 1..n / (n + 1) in a seeded random order: distinct scores. */
function shuffledScores(n: number, seed: number): number[] {
  const scores = Array.from({ length: n }, (_, i) => (i + 1) / (n + 1));
  const random = seededRandom(seed);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [scores[i], scores[j]] = [scores[j], scores[i]];
  }
  return scores;
}

/** Expected keeps of the streaming rule over n predictions in random order: sum of min(1, k / i). */
function expectedKeeps(n: number, k: number): number {
  let sum = 0;
  for (let i = 1; i <= n; i++) sum += Math.min(1, k / i);
  return sum;
}

describe('top_k', () => {
  it("keeps every one of the window's true k best, and about k (1 + ln(n / k)) in all", () => {
    const k = 20;
    const n = 10_000;
    const expected = expectedKeeps(n, k);
    expect(expected).toBeCloseTo(k * (1 + Math.log(n / k)), -1);
    let total = 0;
    const seeds = [1, 2, 3, 4, 5];
    for (const seed of seeds) {
      const sampler = samplerFor({ top_k: { k, per: '1h' } });
      const scores = shuffledScores(n, seed);
      const kept = scores.filter((score) => sampler.decide(semantic(score))?.strategy === 'top_k');
      const best = [...scores].sort((a, b) => b - a).slice(0, k);
      for (const score of best) expect(kept).toContain(score);
      total += kept.length;
    }
    // About 144 a window (k = 20, n = 10,000), 1 in 70; the mean over 5 orders lands within 15 % of it.
    const mean = total / seeds.length;
    expect(mean).toBeGreaterThan(expected * 0.85);
    expect(mean).toBeLessThan(expected * 1.15);
  });

  it('keeps everything when scores only rise: the quota, not top_k, is the hard bound', () => {
    const rising = samplerFor({ top_k: { k: 5, per: '1h' } });
    for (let i = 0; i < 100; i++) expect(rising.decide(semantic(i / 100))).toBeDefined();
    const capped = samplerFor({ top_k: { k: 5, per: '1h' }, quota: { per_hour: 10 } });
    let kept = 0;
    for (let i = 0; i < 100; i++) if (capped.decide(semantic(i / 100))) kept++;
    expect(kept).toBe(10);
  });

  it('does not keep a score equal to the k-th best (only a better one displaces it)', () => {
    const sampler = samplerFor({ top_k: { k: 2, per: '1h' } });
    expect(sampler.decide(semantic(0.5))).toBeDefined();
    expect(sampler.decide(semantic(0.5))).toBeDefined();
    expect(sampler.decide(semantic(0.5))).toBeUndefined();
    expect(sampler.decide(semantic(0.51))).toBeDefined();
  });

  it('starts the ranking afresh in each window, aligned to the epoch (hourly windows begin on the hour)', () => {
    const clock = new ManualClock();
    clock.time = Date.UTC(2025, 0, 1, 10, 59, 0);
    const sampler = samplerFor({ top_k: { k: 2, per: '1h' } }, clock);
    sampler.decide(semantic(0.9));
    sampler.decide(semantic(0.8));
    expect(sampler.decide(semantic(0.1))).toBeUndefined();
    // 11:00:00 is a new window, a minute after the first prediction: the bar is gone.
    clock.time = Date.UTC(2025, 0, 1, 11, 0, 0);
    expect(sampler.decide(semantic(0.1))?.strategy).toBe('top_k');
    expect(sampler.decide(semantic(0.2))?.strategy).toBe('top_k');
    expect(sampler.decide(semantic(0.05))).toBeUndefined();
    clock.advance(HOUR - 1);
    expect(sampler.decide(semantic(0.05))).toBeUndefined();
    clock.advance(1);
    expect(sampler.decide(semantic(0.05))).toBeDefined();
  });

  it('starts afresh when the clock is set back before its window', () => {
    const clock = new ManualClock();
    const sampler = samplerFor({ top_k: { k: 1, per: '1h' } }, clock);
    sampler.decide(semantic(0.9));
    expect(sampler.decide(semantic(0.5))).toBeUndefined();
    clock.advance(-2 * HOUR);
    expect(sampler.decide(semantic(0.5))).toBeDefined();
  });

  it('keeps up to k per window across many windows', () => {
    const clock = new ManualClock();
    const sampler = samplerFor({ top_k: { k: 3, per: '30m' } }, clock);
    const random = seededRandom(9);
    let kept = 0;
    const windows = 48;
    for (let i = 0; i < windows * 100; i++) {
      clock.advance(18_000); // 100 predictions per 30 minutes
      if (sampler.decide(semantic(random()))) kept++;
    }
    // At least k per window (the first k of each); on average k (1 + H(100) - H(3)) = 3 (1 + 3.35) = 13.
    expect(kept).toBeGreaterThanOrEqual(3 * windows);
    expect(kept / windows).toBeGreaterThan(expectedKeeps(100, 3) * 0.75);
    expect(kept / windows).toBeLessThan(expectedKeeps(100, 3) * 1.25);
  });
});
