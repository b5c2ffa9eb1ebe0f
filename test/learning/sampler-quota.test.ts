/** Quotas: sliding minute, hour and day windows over every strategy together; refusals counted by window. */
import { describe, expect, it } from 'vitest';
import { drift, ManualClock, samplerFor, semantic } from './sampler-events.js';

const SECOND = 1_000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;

describe('quota', () => {
  it('keeps at most per_minute in any sliding minute', () => {
    const clock = new ManualClock();
    const sampler = samplerFor({ random: { fraction: 1 }, quota: { per_minute: 3 } }, clock);
    for (let i = 0; i < 3; i++) {
      expect(sampler.decide(semantic(0.5))).toBeDefined();
      clock.advance(10 * SECOND);
    }
    // Keeps at 0, 10 and 20 s (the clock is at 30 s): full until the first leaves the minute at 60 s.
    clock.advance(30 * SECOND - 1);
    expect(sampler.decide(semantic(0.5))).toBeUndefined();
    clock.advance(1);
    expect(sampler.decide(semantic(0.5))).toBeDefined();
    expect(sampler.decide(semantic(0.5))).toBeUndefined();
    expect(sampler.counters().refused.quota_per_minute).toBe(2);
  });

  it('slides rather than resets: a burst straddling a minute boundary gets the limit once, not twice', () => {
    const clock = new ManualClock();
    clock.time = Date.UTC(2025, 0, 1, 12, 0, 50);
    const sampler = samplerFor({ random: { fraction: 1 }, quota: { per_minute: 10 } }, clock);
    let kept = 0;
    for (let i = 0; i < 200; i++) {
      clock.advance(100); // 20 s of traffic from 12:00:50 to 12:01:10
      if (sampler.decide(semantic(0.5))) kept++;
    }
    expect(kept).toBe(10);
  });

  it('applies every window: the hour caps a steady flow that each minute allows', () => {
    const clock = new ManualClock();
    const sampler = samplerFor({ random: { fraction: 1 }, quota: { per_minute: 5, per_hour: 100 } }, clock);
    let kept = 0;
    for (let i = 0; i < 60 * 60; i++) {
      clock.advance(SECOND);
      if (sampler.decide(semantic(0.5))) kept++;
    }
    expect(kept).toBe(100);
    const { refused } = sampler.counters();
    expect(refused.quota_per_hour).toBeGreaterThan(0);
    expect(refused.quota_per_minute).toBeGreaterThan(0);
    expect(refused.quota_per_minute + refused.quota_per_hour).toBe(3600 - 100);
    // An hour after the first keeps, the hour frees up again.
    clock.advance(HOUR);
    expect(sampler.decide(semantic(0.5))).toBeDefined();
  });

  it('per_day counts a whole day of keeps', () => {
    const clock = new ManualClock();
    const sampler = samplerFor({ random: { fraction: 1 }, quota: { per_day: 48 } }, clock);
    let kept = 0;
    for (let i = 0; i < 96; i++) {
      if (sampler.decide(semantic(0.5))) kept++;
      clock.advance(15 * MINUTE);
    }
    expect(kept).toBe(48);
    expect(sampler.counters().refused.quota_per_day).toBe(48);
    // 24 h after the first keep it leaves the day; the next keep fits.
    expect(sampler.decide(semantic(0.5))).toBeDefined();
  });

  it('is shared by all strategies, and reports the first full window', () => {
    const clock = new ManualClock();
    const sampler = samplerFor(
      { entropy: { min: 0.5 }, drift_capture: { for: '1h' }, quota: { per_minute: 2, per_hour: 2 } },
      clock,
    );
    expect(sampler.decide(semantic(0.9))?.strategy).toBe('entropy');
    sampler.onDrift(drift(true));
    expect(sampler.decide(semantic(0.1))?.strategy).toBe('drift_capture');
    expect(sampler.decide(semantic(0.9))).toBeUndefined();
    expect(sampler.decide(semantic(0.1))).toBeUndefined();
    expect(sampler.counters().refused).toMatchObject({ quota_per_minute: 2, quota_per_hour: 0 });
    clock.advance(MINUTE);
    expect(sampler.decide(semantic(0.9))).toBeUndefined();
    expect(sampler.counters().refused.quota_per_hour).toBe(1);
    expect(sampler.counters().kept).toMatchObject({ entropy: 1, drift_capture: 1 });
  });
});
