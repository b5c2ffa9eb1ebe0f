/** The `sampling:` block of config.yaml: parsed as written, every bad field refused with its path. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SegserveError } from '../../src/errors.js';
import { createSampler } from '../../src/learning/sampler/index.js';
import { parseModelConfig } from '../../src/models/config.js';
import { loadModelDefinition } from '../../src/models/load-config.js';
import { parseDuration } from '../../src/models/sampling-config.js';
import { writeModelFolder } from '../models/model-folders.js';

const minimal = { task: 'semantic', decoder: 'softmax', input: { width: 64, height: 48 } };

/** The issue's example, as YAML would hand it over. */
const EXAMPLE = {
  entropy: { min: 0.3 },
  top_k: { k: 20, per: '1h' },
  random: { fraction: 0.02 },
  classes: ['person'],
  dedupe: { max_hamming: 6 },
  drift_capture: { for: '30m' },
  quota: { per_minute: 60, per_hour: 1000, per_day: 10000 },
};

function issuesOf(sampling: unknown) {
  const parsed = parseModelConfig({ ...minimal, sampling });
  if (parsed.ok) throw new Error('expected the config to be rejected');
  return parsed.issues;
}

describe('sampling config', () => {
  it('is absent by default, and a model without it gets no sampler (it samples nothing)', () => {
    const parsed = parseModelConfig(minimal);
    if (!parsed.ok) throw new Error('expected the minimal config to parse');
    expect(parsed.config.sampling).toBeUndefined();
    expect(createSampler({ model: 'm', version: 1, config: parsed.config })).toBeUndefined();
  });

  it("accepts the issue's example, keeping durations as written and defaulting dedupe's memory", () => {
    const parsed = parseModelConfig({ ...minimal, sampling: EXAMPLE });
    if (!parsed.ok) throw new Error(JSON.stringify(parsed.issues));
    expect(parsed.config.sampling).toEqual({ ...EXAMPLE, dedupe: { max_hamming: 6, recent: 1000 } });
    expect(createSampler({ model: 'm', version: 1, config: parsed.config })).toBeDefined();
  });

  it('reports every bad field at once, each with its own path', () => {
    const issues = issuesOf({
      entropy: { min: 1.5 },
      top_k: { k: 0, per: '1w' },
      random: { fraction: 0 },
      classes: [],
      dedupe: { max_hamming: 65, recent: 0 },
      drift_capture: { for: '31d' },
      quota: { per_minute: 0, per_week: 5 },
      extra: true,
    });
    expect(issues.map((i) => i.path).sort()).toEqual(
      [
        'sampling.classes',
        'sampling.dedupe.max_hamming',
        'sampling.dedupe.recent',
        'sampling.drift_capture.for',
        'sampling.entropy.min',
        'sampling.extra',
        'sampling.quota.per_minute',
        'sampling.quota.per_week',
        'sampling.random.fraction',
        'sampling.top_k.k',
        'sampling.top_k.per',
      ].sort(),
    );
    expect(issues.find((i) => i.path === 'sampling.top_k.per')?.message).toMatch(/duration from 1s to 30d/);
    expect(issues.find((i) => i.path === 'sampling.extra')?.message).toBe('unknown field');
  });

  it('refuses a duration written as a bare number or with a unit it does not know', () => {
    expect(issuesOf({ top_k: { k: 5, per: 3600 } })).toEqual([
      { path: 'sampling.top_k.per', message: expect.stringContaining('expected string') },
    ]);
    expect(issuesOf({ drift_capture: { for: '10 min' } })).toEqual([
      { path: 'sampling.drift_capture.for', message: expect.stringContaining('duration') },
    ]);
  });

  it('refuses a block with no strategy, or an empty quota, rather than keep nothing in silence', () => {
    expect(issuesOf({ classes: ['person'], dedupe: { max_hamming: 4 } })).toEqual([
      { path: 'sampling', message: expect.stringContaining('at least one strategy') },
    ]);
    expect(issuesOf({ random: { fraction: 0.1 }, quota: {} })).toEqual([
      { path: 'sampling.quota', message: expect.stringContaining('per_minute, per_hour and per_day') },
    ]);
    expect(issuesOf({ entropy: { min: 0.2, max: 0.9 } })).toEqual([
      { path: 'sampling.entropy.max', message: 'unknown field' },
    ]);
  });

  it('reads durations in seconds, minutes, hours and days, up to 30 days', () => {
    expect(parseDuration('45s')).toBe(45_000);
    expect(parseDuration('30m')).toBe(1_800_000);
    expect(parseDuration('1h')).toBe(3_600_000);
    expect(parseDuration('30d')).toBe(30 * 86_400_000);
    for (const bad of ['31d', '0m', '1.5h', '1H', 'h', '', '01m', '1w'])
      expect(parseDuration(bad)).toBeUndefined();
  });
});

describe('sampling.classes against the model labels', () => {
  let root: string;
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'segserve-sampling-'));
  });
  afterAll(() => rm(root, { recursive: true, force: true }));

  async function load(name: string, config: string, labels: string) {
    const dir = await writeModelFolder(join(root, name), {
      config,
      labels,
      versions: { 1: 'not read here' },
    });
    return loadModelDefinition(dir, {});
  }

  it('refuses a class the model does not have, with the path of the entry and the classes it has', async () => {
    const config = `task: semantic\ndecoder: softmax\ninput: {width: 4, height: 4}\nsampling:\n  random: {fraction: 0.1}\n  classes: [person, cat]\n`;
    const error = await load('unknown-class', config, 'background\nperson\n').then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(SegserveError);
    expect((error as SegserveError).code).toBe('CONFIG_INVALID');
    expect((error as SegserveError).details.issues).toBe(
      'sampling.classes.1: unknown class "cat"; the model\'s classes: background, person',
    );
  });

  it('compares with the classes answers carry: background, which a multilabel decoder adds, is one', async () => {
    const config = `task: semantic\ndecoder: sigmoid-multilabel\ninput: {width: 4, height: 4}\nsampling:\n  entropy: {min: 0.2}\n  classes: [background, hair]\n`;
    const definition = await load('multilabel', config, 'skin\nclothes\nhair\n');
    expect(definition.config.sampling?.classes).toEqual(['background', 'hair']);
  });
});
