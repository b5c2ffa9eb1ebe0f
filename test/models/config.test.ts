import { describe, expect, it } from 'vitest';
import { parseModelConfig } from '../../src/models/config.js';

function issuesOf(document: unknown) {
  const parsed = parseModelConfig(document);
  if (parsed.ok) throw new Error('expected the config to be rejected');
  return parsed.issues;
}

const minimal = { task: 'semantic', decoder: 'softmax', input: { width: 64, height: 48 } };

describe('parseModelConfig', () => {
  it('accepts a minimal config and fills the defaults', () => {
    const parsed = parseModelConfig(minimal);
    expect(parsed.ok).toBe(true);
    if (!parsed.ok) return;
    expect(parsed.config.input).toMatchObject({
      resize: 'stretch',
      layout: 'NCHW',
      color: 'RGB',
      mean: [0, 0, 0],
    });
    expect(parsed.config.version_policy).toEqual({ latest: 1 });
    expect(parsed.config.threads).toEqual({ intra_op: 1, inter_op: 1 });
  });

  it('reads the batching block: off by default, defaults for what is left out, bad values by path', () => {
    const off = parseModelConfig(minimal);
    expect(off.ok && off.config.batching).toEqual({ enabled: false, max_batch_size: 8, max_delay_ms: 2 });
    const on = parseModelConfig({ ...minimal, batching: { enabled: true, max_delay_ms: 5 } });
    expect(on.ok && on.config.batching).toEqual({ enabled: true, max_batch_size: 8, max_delay_ms: 5 });
    const paths = (batching: unknown) => issuesOf({ ...minimal, batching }).map((i) => i.path);
    expect(paths({ enabled: true, max_batch_size: 1 })).toEqual(['batching.max_batch_size']);
    expect(paths({ enabled: true, max_batch_size: 65 })).toEqual(['batching.max_batch_size']);
    expect(paths({ enabled: true, max_batch_size: 2.5 })).toEqual(['batching.max_batch_size']);
    expect(paths({ enabled: true, max_delay_ms: -1 })).toEqual(['batching.max_delay_ms']);
    expect(paths({ enabled: true, max_delay_ms: 1001 })).toEqual(['batching.max_delay_ms']);
    expect(paths({ enabled: 'yes' })).toEqual(['batching.enabled']);
    expect(paths({ enabled: true, max_batch: 8 })).toEqual(['batching.max_batch']);
  });

  it('reports every bad field at once, each with its own path', () => {
    const issues = issuesOf({
      task: 'semantic',
      decoder: 'softmax',
      input: { width: 0, height: 48, layout: 'CHW', mean: [0, 0, 'x'], std: [1, 0, 1] },
      thresholds: { score: 2 },
      instances: 1.5,
    });
    expect(issues.map((i) => i.path)).toEqual(
      expect.arrayContaining([
        'input.width',
        'input.layout',
        'input.mean.2',
        'input.std',
        'thresholds.score',
        'instances',
      ]),
    );
    expect(issues).toHaveLength(6);
    expect(issues.find((i) => i.path === 'input.std')?.message).toBe('std must not contain 0');
  });

  it('reports an unknown key at its own path, not at its parent', () => {
    const issues = issuesOf({
      ...minimal,
      input: { ...minimal.input, widht: 3, colour: 'RGB' },
      thresholds: { iou: 0.5 },
      extra: 1,
    });
    expect(issues).toEqual([
      { path: 'input.widht', message: 'unknown field' },
      { path: 'input.colour', message: 'unknown field' },
      { path: 'thresholds.iou', message: 'unknown field' },
      { path: 'extra', message: 'unknown field' },
    ]);
  });

  it('reports a decoder that does not serve the task, also next to other problems', () => {
    expect(issuesOf({ ...minimal, decoder: 'yolo-seg' })).toEqual([
      { path: 'decoder', message: 'decoder "yolo-seg" serves task instance, not "semantic"' },
    ]);
    // A wrongly typed field stops zod's own refinement; the decoder is still reported.
    const issues = issuesOf({ ...minimal, task: 'binary', decoder: 'sigmoid-multilabel', labels: 'person' });
    expect(issues.map((i) => i.path).sort()).toEqual(['decoder', 'labels']);
  });

  it('reports bad version keys with the rule they break', () => {
    const issues = issuesOf({ ...minimal, versions: { v1: 'a.onnx', 0: 'b.onnx', 2: 3 } });
    expect(issues).toEqual(
      expect.arrayContaining([
        { path: 'versions.v1', message: 'version numbers are positive integers' },
        { path: 'versions.0', message: 'version numbers are positive integers' },
        { path: 'versions.2', message: expect.stringContaining('expected string') },
      ]),
    );
    expect(issues).toHaveLength(3);
  });

  it('reports a version policy problem inside the form it uses', () => {
    expect(issuesOf({ ...minimal, version_policy: { all: false } })).toEqual([
      { path: 'version_policy.all', message: expect.stringContaining('expected true') },
    ]);
    expect(issuesOf({ ...minimal, version_policy: { specific: [] } })).toEqual([
      { path: 'version_policy.specific', message: expect.stringContaining('>=1') },
    ]);
    expect(issuesOf({ ...minimal, version_policy: { latest: 2, newest: 1 } })).toEqual([
      { path: 'version_policy.newest', message: 'unknown field' },
    ]);
    expect(issuesOf({ ...minimal, version_policy: 'latest' })).toEqual([
      { path: 'version_policy', message: 'expected {latest: N}, {specific: [N, ...]} or {all: true}' },
    ]);
  });

  it('reports a document that is not a mapping at the root', () => {
    expect(issuesOf(null)).toEqual([{ path: '(root)', message: expect.stringContaining('expected object') }]);
  });
});

describe('monitoring.drift', () => {
  it('is on by default with window 200 and threshold 0.25; a block changes them or turns it off', () => {
    const parsed = parseModelConfig(minimal);
    if (!parsed.ok) throw new Error('expected the minimal config to parse');
    expect(parsed.config.monitoring.drift).toEqual({ enabled: true, window: 200, threshold: 0.25 });
    const off = parseModelConfig({ ...minimal, monitoring: { drift: { enabled: false } } });
    expect(off.ok && off.config.monitoring.drift.enabled).toBe(false);
    const partial = parseModelConfig({ ...minimal, monitoring: { drift: { threshold: 0.1 } } });
    expect(partial.ok && partial.config.monitoring.drift).toEqual({
      enabled: true,
      window: 200,
      threshold: 0.1,
    });
  });

  it('reports every bad field with its path, and baseline with reference_size', () => {
    const issues = issuesOf({
      ...minimal,
      monitoring: {
        drift: { reference_size: 5, window: 0, threshold: -1, bins: 100, baseline: 'b.json', every: 3 },
        alerts: {},
      },
    });
    expect(issues.map((i) => i.path).sort()).toEqual(
      [
        'monitoring.alerts',
        'monitoring.drift.baseline',
        'monitoring.drift.bins',
        'monitoring.drift.every',
        'monitoring.drift.reference_size',
        'monitoring.drift.threshold',
        'monitoring.drift.window',
      ].sort(),
    );
    expect(issues.find((i) => i.path === 'monitoring.drift.baseline')?.message).toMatch(/not both/);
    expect(
      issuesOf({ ...minimal, monitoring: { drift: { reference_size: 100, baseline: 'b.json' } } }),
    ).toEqual([{ path: 'monitoring.drift.baseline', message: 'give reference_size or baseline, not both' }]);
    expect(issuesOf({ ...minimal, monitoring: { drift: { baseline: '' } } })[0].path).toBe(
      'monitoring.drift.baseline',
    );
    expect(parseModelConfig({ ...minimal, monitoring: { drift: { baseline: 'b.json' } } }).ok).toBe(true);
  });
});

describe('retraining', () => {
  it('takes triggers and hooks, and refuses a block that could never fire or a malformed hook with its path', () => {
    const hooks = [
      { webhook: { url: 'https://api.github.com/repos/o/r/dispatches', token_env: 'GITHUB_TOKEN' } },
    ];
    const parsed = parseModelConfig({ ...minimal, retraining: { min_new_labels: 100, hooks } });
    expect(parsed.ok && parsed.config.retraining).toEqual({
      min_new_labels: 100,
      on_drift: false,
      cooldown: '1h',
      hooks: [{ webhook: { ...hooks[0].webhook, event_type: 'segserve-retrain' } }],
    });
    expect(issuesOf({ ...minimal, retraining: { hooks } })[0]).toMatchObject({
      path: 'retraining',
      message: expect.stringContaining('min_new_labels or on_drift'),
    });
    expect(
      issuesOf({ ...minimal, retraining: { on_drift: true, hooks: [{ webhook: { url: 'ftp://x' } }] } })[0]
        .path,
    ).toBe('retraining.hooks.0.webhook.url');
    expect(
      issuesOf({ ...minimal, retraining: { on_drift: true, hooks: [], cooldown: '1y' } }).map((i) => i.path),
    ).toEqual(expect.arrayContaining(['retraining.hooks', 'retraining.cooldown']));
  });
});
