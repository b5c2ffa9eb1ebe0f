/**
 * The Prometheus files of deploy/prometheus: promtool's own checks and unit tests (when promtool is
 * installed; Debian's `prometheus` package has it), and checks that need no promtool: every alert is
 * labelled, annotated and tested both firing and quiet, every metric it reads is one segserve exports, and the
 * error codes counted as server errors are real server-side codes of the catalogue.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { ERROR_CATALOGUE } from '../../src/errors.js';
import { PROJECT_ROOT } from '../helpers/paths.js';
import { METRIC_NAMES } from './metric-names.js';
import { metricNamesIn } from './promql-names.js';

const PROMETHEUS_DIR = join(PROJECT_ROOT, 'deploy', 'prometheus');
const CONFIG = join(PROMETHEUS_DIR, 'prometheus.yml');
/** Every file prometheus.yml loads (`rules/*.rules.yml`), and every unit test file beside them. */
const filesIn = (dir: string, suffix: string) =>
  readdirSync(join(PROMETHEUS_DIR, dir))
    .filter((name) => name.endsWith(suffix))
    .sort()
    .map((name) => join(PROMETHEUS_DIR, dir, name));
const RULE_FILES = filesIn('rules', '.rules.yml');
const RULE_TEST_FILES = filesIn('tests', '.yml');

const PROMTOOL = process.env.PROMTOOL ?? 'promtool';
const hasPromtool = spawnSync(PROMTOOL, ['--version'], { encoding: 'utf8' }).status === 0;
if (!hasPromtool) {
  console.warn(
    `SKIPPED "promtool checks": ${PROMTOOL} is not installed (apt-get install prometheus, or set PROMTOOL)`,
  );
}

interface Rule {
  record?: string;
  alert?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
interface RuleFile {
  groups: { name: string; rules: Rule[] }[];
}
interface RuleTestFile {
  rule_files: string[];
  tests: {
    input_series: { series: string; values: string }[];
    alert_rule_test?: { eval_time: string; alertname: string; exp_alerts: unknown[] }[];
    promql_expr_test?: { expr: string; eval_time: string }[];
  }[];
}

const rules = RULE_FILES.flatMap((file) =>
  (parse(readFileSync(file, 'utf8')) as RuleFile).groups.flatMap((group) => group.rules),
);
const alerts = rules.filter((rule) => rule.alert !== undefined);
const recorded = new Set(rules.flatMap((rule) => (rule.record === undefined ? [] : [rule.record])));
const ruleTests = RULE_TEST_FILES.flatMap(
  (file) => (parse(readFileSync(file, 'utf8')) as RuleTestFile).tests,
);

function promtool(...args: string[]): { status: number | null; output: string } {
  const run = spawnSync(PROMTOOL, args, { cwd: PROJECT_ROOT, encoding: 'utf8', timeout: 60_000 });
  return { status: run.status, output: `${run.stdout}${run.stderr}` };
}

describe('promtool', () => {
  it.skipIf(!hasPromtool)('check config accepts prometheus.yml and the rule files it loads', () => {
    const run = promtool('check', 'config', CONFIG);
    expect(run.output).toContain('SUCCESS');
    expect(run.status, run.output).toBe(0);
  });

  it.skipIf(!hasPromtool)('check rules accepts the rules', () => {
    const run = promtool('check', 'rules', ...RULE_FILES);
    expect(run.status, run.output).toBe(0);
  });

  it.skipIf(!hasPromtool)('test rules passes every unit test of the rules', () => {
    const run = promtool('test', 'rules', ...RULE_TEST_FILES);
    expect(run.output).toContain('SUCCESS');
    expect(run.output).not.toContain('FAILED');
    expect(run.status, run.output).toBe(0);
  });

  it('every rules file has a unit test file that loads it', () => {
    const tested = RULE_TEST_FILES.flatMap((file) =>
      (parse(readFileSync(file, 'utf8')) as RuleTestFile).rule_files.map((path) => join(file, '..', path)),
    );
    expect(RULE_FILES.filter((file) => !tested.includes(file))).toEqual([]);
  });
});

describe('the rules files (rules/*.rules.yml)', () => {
  it('has the alerts the monitoring, traffic and jobs issues ask for', () => {
    expect(alerts.map((rule) => rule.alert).sort()).toEqual(
      [
        'SegserveConfidenceFalling',
        'SegserveDown',
        'SegserveDriftDetected',
        'SegserveEntropyRising',
        'SegserveHighErrorRatio',
        'SegserveHighLatencyP95',
        'SegserveJobBacklogNotDraining',
        'SegserveJobDeadLetters',
        'SegserveModelNotReady',
        'SegserveQueueSaturated',
        'SegserveShadowDisagreement',
      ].sort(),
    );
  });

  it.each(alerts.map((rule) => [rule.alert, rule] as const))(
    '%s has a for, a severity, and a summary and description naming what it is about',
    (_name, rule) => {
      expect(rule.for).toMatch(/^\d+[smhd]$/);
      expect(['critical', 'warning']).toContain(rule.labels?.severity);
      // SegserveDown is about a whole server (from `up`, which has no model label): it names the instance.
      // SegserveShadowDisagreement is about an endpoint's shadow variant (its metrics have no model label).
      // The job alerts are about a queue, which serves every model.
      const subject =
        rule.alert === 'SegserveDown'
          ? '$labels.instance'
          : rule.alert === 'SegserveShadowDisagreement'
            ? '$labels.endpoint'
            : rule.alert?.startsWith('SegserveJob')
              ? '$labels.queue'
              : '$labels.model';
      expect(rule.annotations?.summary).toContain(subject);
      expect(rule.annotations?.description).toContain(subject);
    },
  );

  it('reads only metrics segserve exports, or series recorded in the same file', () => {
    const known = new Set<string>([...METRIC_NAMES, ...recorded]);
    const unknown = rules.flatMap((rule) =>
      metricNamesIn(rule.expr)
        .filter((name) => !known.has(name))
        .map((name) => `${rule.alert ?? rule.record}: ${name}`),
    );
    expect(unknown).toEqual([]);
  });

  it('counts as server errors only codes of the catalogue whose status is 5xx', () => {
    const codes = rules.flatMap((rule) =>
      [...rule.expr.matchAll(/code=~"([^"]+)"/g)].flatMap((match) => match[1].split('|')),
    );
    expect(codes.length).toBeGreaterThan(0);
    for (const code of codes) {
      expect(Object.keys(ERROR_CATALOGUE), code).toContain(code);
      expect(ERROR_CATALOGUE[code as keyof typeof ERROR_CATALOGUE].status, code).toBeGreaterThanOrEqual(500);
    }
    // Back-pressure is what SegserveQueueSaturated is for; counting it would page twice for one cause.
    expect(codes).not.toContain('QUEUE_FULL');
  });
});

describe('their unit tests (tests/*.yml)', () => {
  it.each(alerts.map((rule) => [rule.alert]))('tests %s both firing and staying quiet', (name) => {
    const cases = ruleTests.flatMap((group) => group.alert_rule_test ?? []);
    const own = cases.filter((test) => test.alertname === name);
    expect(own.some((test) => test.exp_alerts.length > 0)).toBe(true);
    expect(own.some((test) => test.exp_alerts.length === 0)).toBe(true);
  });

  it('feeds only series named as segserve exports them', () => {
    const known = new Set<string>(METRIC_NAMES);
    const names = ruleTests.flatMap((group) =>
      group.input_series.map((input) => /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(input.series)?.[0] ?? input.series),
    );
    expect(names.filter((name) => !known.has(name))).toEqual([]);
  });
});
