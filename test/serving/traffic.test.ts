/**
 * Traffic policies without a server: picking a variant for a point, the point of a sticky key, and what the
 * policy check refuses (its form; what it names is checked against a repository in test/lifecycle/traffic*).
 */
import { describe, expect, it } from 'vitest';
import { compilePolicy, describeIssues, parsePolicy } from '../../src/lifecycle/traffic-policy.js';
import type { TrafficPolicyJson } from '../../src/lifecycle/wire-types.js';
import { pickVariant, stickyKeyOf, stickyPoint, type TrafficVariant } from '../../src/serving/traffic.js';

const variant = (name: string, weight: number): TrafficVariant => ({ name, model: 'm', weight });

function refusal(document: unknown): string {
  const parsed = parsePolicy(document);
  if (parsed.ok) throw new Error(`accepted: ${JSON.stringify(document)}`);
  return describeIssues(parsed.issues);
}

describe('picking a variant', () => {
  const variants = [variant('a', 80), variant('b', 0), variant('c', 20)];

  it('maps a point through the cumulative weights, skipping a variant of weight 0', () => {
    expect(pickVariant(variants, 0).name).toBe('a');
    expect(pickVariant(variants, 0.7999).name).toBe('a');
    expect(pickVariant(variants, 0.8).name).toBe('c');
    expect(pickVariant(variants, 0.999999).name).toBe('c');
  });

  it('moves keys only towards the last variant when its weight grows (a canary ramp)', () => {
    const points = Array.from({ length: 5000 }, (_, i) => stickyPoint('people', `user-${i}`));
    const at20 = points.map((p) => pickVariant([variant('base', 80), variant('canary', 20)], p).name);
    const at50 = points.map((p) => pickVariant([variant('base', 50), variant('canary', 50)], p).name);
    at20.forEach((name, i) => {
      if (name === 'canary') expect(at50[i]).toBe('canary');
    });
  });
});

describe('sticky points', () => {
  it('are the same for a key every time, differ between endpoints, and spread evenly over [0, 1)', () => {
    expect(stickyPoint('people', 'alice')).toBe(stickyPoint('people', 'alice'));
    expect(stickyPoint('people', 'alice')).not.toBe(stickyPoint('cars', 'alice'));
    const buckets = new Array(10).fill(0);
    for (let i = 0; i < 20_000; i++) {
      const point = stickyPoint('people', `user-${i}`);
      expect(point).toBeGreaterThanOrEqual(0);
      expect(point).toBeLessThan(1);
      buckets[Math.floor(point * 10)]++;
    }
    // 2000 expected per bucket; 4.5 standard deviations (about 42 each) either side.
    for (const count of buckets) expect(Math.abs(count - 2000)).toBeLessThan(190);
  });

  it('come from the header the policy names, or the API key identity, and an empty one is none', () => {
    const header = (name: string) => ({ 'x-user-id': 'u1', 'x-empty': '' })[name];
    expect(stickyKeyOf({ by: 'header', header: 'x-user-id' }, { header, stickyKey: 'k' })).toBe('u1');
    expect(stickyKeyOf({ by: 'header', header: 'x-empty' }, { header })).toBeUndefined();
    expect(stickyKeyOf({ by: 'api_key' }, { header, stickyKey: 'k' })).toBe('k');
    expect(stickyKeyOf({ by: 'api_key' }, { header })).toBeUndefined();
    expect(stickyKeyOf(undefined, { header, stickyKey: 'k' })).toBeUndefined();
  });
});

describe('the form of a policy', () => {
  const weighted: TrafficPolicyJson = {
    variants: [
      { name: 'v1', model: 'm', version: 1, weight: 33.3 },
      { name: 'v2', model: 'm', alias: 'canary', weight: 33.3 },
      { name: 'v3', model: 'other', weight: 33.4 },
    ],
    sticky: { by: 'header', header: 'X-User-Id' },
    shadows: [{ name: 's', model: 'm', version: 3, sample_rate: 0.25 }],
  };

  it('takes weighted variants, normalising the sticky header to lower case', () => {
    const parsed = parsePolicy(weighted);
    expect(parsed.ok).toBe(true);
    if (!parsed.ok) return;
    expect(parsed.policy.sticky).toEqual({ by: 'header', header: 'x-user-id' });
    expect(compilePolicy('people', parsed.policy)).toEqual({
      endpoint: 'people',
      variants: weighted.variants,
      shadows: [{ name: 's', model: 'm', version: 3, sampleRate: 0.25 }],
      sticky: { by: 'header', header: 'x-user-id' },
    });
  });

  it('expands the canary shorthand into the baseline first, then the canary', () => {
    const parsed = parsePolicy({
      canary: { model: 'm', version: 2, percent: 20 },
      baseline: { model: 'm', alias: 'stable', name: 'stable' },
    });
    if (!parsed.ok) throw new Error(describeIssues(parsed.issues));
    expect(compilePolicy('people', parsed.policy).variants).toEqual([
      { name: 'stable', model: 'm', alias: 'stable', weight: 80 },
      { name: 'canary', model: 'm', version: 2, weight: 20 },
    ]);
  });

  it('refuses weights that do not add up to 100, or that are not positive', () => {
    expect(
      refusal({
        variants: [
          { name: 'a', model: 'm', weight: 50 },
          { name: 'b', model: 'm', weight: 40 },
        ],
      }),
    ).toContain('variants: the weights add up to 90, not 100');
    expect(
      refusal({
        variants: [
          { name: 'a', model: 'm', weight: 100 },
          { name: 'b', model: 'm', weight: 0 },
        ],
      }),
    ).toContain('variants.1.weight');
    expect(refusal({ canary: { model: 'm', percent: 120 }, baseline: { model: 'm' } })).toContain(
      'canary.percent',
    );
  });

  it('refuses both forms at once, neither, or half of the shorthand', () => {
    expect(
      refusal({
        variants: [{ name: 'a', model: 'm', weight: 100 }],
        canary: { model: 'm', percent: 10 },
        baseline: { model: 'm' },
      }),
    ).toContain('not both');
    expect(refusal({})).toContain('give variants, or canary with baseline');
    expect(refusal({ canary: { model: 'm', percent: 10 } })).toContain('baseline: a canary needs a baseline');
  });

  it('refuses a name used twice (a shadow named like a variant too), and a version with an alias', () => {
    expect(
      refusal({
        variants: [
          { name: 'a', model: 'm', weight: 50 },
          { name: 'a', model: 'm', weight: 50 },
        ],
      }),
    ).toContain('variants.1.name: "a" is also the name of variants.0');
    expect(
      refusal({
        canary: { model: 'm', percent: 10 },
        baseline: { model: 'm' },
        shadows: [{ name: 'canary', model: 'm', version: 3, sample_rate: 1 }],
      }),
    ).toContain('shadows.0.name: "canary" is also the name of canary');
    expect(
      refusal({ variants: [{ name: 'a', model: 'm', version: 1, alias: 'stable', weight: 100 }] }),
    ).toContain('variants.0: name a version or an alias, not both');
  });

  it('refuses a malformed sticky rule, a bad sample rate and unknown fields, each by its path', () => {
    const base = { variants: [{ name: 'a', model: 'm', weight: 100 }] };
    expect(refusal({ ...base, sticky: { by: 'header' } })).toContain('sticky.header');
    expect(refusal({ ...base, sticky: { by: 'header', header: 'x user' } })).toContain('sticky.header');
    expect(refusal({ ...base, sticky: { by: 'cookie' } })).toContain('sticky');
    expect(refusal({ ...base, shadows: [{ name: 's', model: 'm', sample_rate: 0 }] })).toContain(
      'shadows.0.sample_rate',
    );
    expect(refusal({ ...base, weights: [] })).toContain('weights: unknown field');
    expect(refusal({ variants: [{ name: 'a b', model: 'm', weight: 100 }] })).toContain('variants.0.name');
  });
});
