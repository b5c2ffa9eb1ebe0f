/**
 * The Grafana files of deploy/grafana: the dashboard has what Grafana needs to load it from provisioning,
 * every panel is titled, described, placed and queried through the provisioned Prometheus, and every metric
 * its queries read is one segserve exports.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { PROJECT_ROOT } from '../helpers/paths.js';
import { METRIC_NAMES } from './metric-names.js';
import { metricNamesIn } from './promql-names.js';

const GRAFANA_DIR = join(PROJECT_ROOT, 'deploy', 'grafana');

interface DataSourceRef {
  type?: string;
  uid?: string;
}
interface Target {
  expr?: string;
  refId?: string;
  datasource?: DataSourceRef;
}
interface Panel {
  id?: number;
  type?: string;
  title?: string;
  description?: string;
  gridPos?: { h: number; w: number; x: number; y: number };
  datasource?: DataSourceRef;
  targets?: Target[];
}
interface Dashboard {
  uid?: string;
  title?: string;
  schemaVersion?: number;
  panels?: Panel[];
  templating?: {
    list: { name: string; type: string; datasource?: DataSourceRef; query?: string | { query: string } }[];
  };
}

const dashboard = JSON.parse(
  readFileSync(join(GRAFANA_DIR, 'dashboards', 'segserve.json'), 'utf8'),
) as Dashboard;
const panels = dashboard.panels ?? [];
const datasources = (
  parse(readFileSync(join(GRAFANA_DIR, 'provisioning', 'datasources', 'prometheus.yml'), 'utf8')) as {
    datasources: { uid: string; type: string }[];
  }
).datasources;
const provider = (
  parse(readFileSync(join(GRAFANA_DIR, 'provisioning', 'dashboards', 'segserve.yml'), 'utf8')) as {
    providers: { type: string; options: { path: string } }[];
  }
).providers;

const prometheus = datasources.find((source) => source.type === 'prometheus');

describe('metricNamesIn', () => {
  it('finds the metrics and skips functions, labels, durations, strings and Grafana variables', () => {
    expect(
      metricNamesIn(
        'histogram_quantile(0.95, sum by (model, le) (rate(a_bucket{model=~"$model", code!="x"}[$__rate_interval])))',
      ),
    ).toEqual(['a_bucket']);
    expect(
      metricNamesIn('b offset 1d > 1.25 * c and on (model) sum(increase(d[1h])) by (version) >= 1e-3'),
    ).toEqual(['b', 'c', 'd']);
    expect(metricNamesIn('1-e + label_replace(up, "x", "$1", "instance", "(.*)")')).toEqual(['e', 'up']);
    // An unknown function is reported as a name rather than skipped.
    expect(metricNamesIn('rat(f[5m])')).toEqual(['rat', 'f']);
  });
});

describe('deploy/grafana', () => {
  it('provisions a Prometheus data source with a fixed uid, and a file provider for the dashboards', () => {
    expect(prometheus?.uid).toMatch(/\S/);
    expect(provider.map((entry) => entry.type)).toEqual(['file']);
    expect(provider[0].options.path).toMatch(/\S/);
  });

  it('the dashboard has the fields Grafana requires', () => {
    expect(dashboard.title).toMatch(/\S/);
    expect(dashboard.uid).toMatch(/^[a-zA-Z0-9_-]{1,40}$/);
    expect(dashboard.schemaVersion).toBeGreaterThanOrEqual(36);
    expect(panels.length).toBeGreaterThan(0);
  });

  it('panel ids are unique', () => {
    const ids = panels.map((panel) => panel.id);
    expect(ids.every((id) => Number.isInteger(id))).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it.each(panels.map((panel) => [panel.title ?? `panel ${panel.id}`, panel] as const))(
    '%s: typed, titled, described, placed, and queried through the provisioned Prometheus',
    (_title, panel) => {
      expect(panel.type).toMatch(/\S/);
      expect(panel.title).toMatch(/\S/);
      expect(panel.description).toMatch(/\S/);
      const grid = panel.gridPos;
      expect(grid).toBeDefined();
      expect(grid!.w).toBeGreaterThan(0);
      expect(grid!.h).toBeGreaterThan(0);
      expect(grid!.x + grid!.w).toBeLessThanOrEqual(24);
      expect(panel.datasource?.uid).toBe(prometheus?.uid);
      expect(panel.targets?.length).toBeGreaterThan(0);
      const refIds = panel.targets!.map((target) => target.refId);
      expect(new Set(refIds).size).toBe(refIds.length);
      for (const target of panel.targets!) {
        expect(target.expr).toMatch(/\S/);
        expect(target.refId).toMatch(/\S/);
        expect(target.datasource?.uid ?? panel.datasource?.uid).toBe(prometheus?.uid);
      }
    },
  );

  it('has a model variable, filled from the provisioned Prometheus', () => {
    const model = dashboard.templating?.list.find((variable) => variable.name === 'model');
    expect(model?.type).toBe('query');
    expect(model?.datasource?.uid).toBe(prometheus?.uid);
  });

  it('queries only metrics segserve exports', () => {
    const known = new Set<string>(METRIC_NAMES);
    const unknown = panels.flatMap((panel) =>
      (panel.targets ?? []).flatMap((target) =>
        metricNamesIn(target.expr ?? '')
          .filter((name) => !known.has(name))
          .map((name) => `${panel.title}: ${name}`),
      ),
    );
    // The variable's query is Grafana's label_values(metric, label), not PromQL: its metric is checked too.
    for (const variable of dashboard.templating?.list ?? []) {
      const query = typeof variable.query === 'string' ? variable.query : variable.query?.query;
      const metric = /^label_values\(\s*([a-zA-Z_:][a-zA-Z0-9_:]*)/.exec(query ?? '')?.[1];
      if (metric !== undefined && !known.has(metric)) unknown.push(`variable ${variable.name}: ${metric}`);
    }
    expect(unknown).toEqual([]);
  });

  it('every panel reads at least one segserve or process metric (no query reads nothing)', () => {
    for (const panel of panels) {
      const names = (panel.targets ?? []).flatMap((target) => metricNamesIn(target.expr ?? ''));
      expect(names.length, panel.title).toBeGreaterThan(0);
    }
  });
});
