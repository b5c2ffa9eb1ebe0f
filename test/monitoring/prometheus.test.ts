/**
 * Debian's `prometheus` scraping a running segserve with the shipped rules: after real predictions the series
 * come back through Prometheus's HTTP API (a rate, a histogram_quantile, the loaded rules, the drift gauge).
 * Skips, saying SKIPPED, where the prometheus binary is missing (`.ci/run` installs it).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { buildApp } from '../../src/http/app.js';
import { DriftWatch } from '../../src/monitoring/drift-watch.js';
import { ServingMetrics } from '../../src/monitoring/metrics.js';
import { PROJECT_ROOT } from '../helpers/paths.js';
import { serviceFor } from '../helpers/serving.js';
import { semanticScene, tinySoftmaxModel } from '../helpers/tiny-models.js';
import { freePort, listenOnLoopback, png, type TinyRepository, tinyRepository } from '../http/helpers.js';

const PROMETHEUS = process.env.PROMETHEUS ?? '/usr/bin/prometheus';
const available = existsSync(PROMETHEUS);
if (!available)
  console.log(`SKIPPED "prometheus integration": ${PROMETHEUS} is missing (apt-get install prometheus)`);

let repo: TinyRepository;
let work: string;
let base: string;
let closeApp: () => Promise<void>;
let prometheus: ChildProcess | undefined;
let promBase: string;

async function query(
  expr: string,
): Promise<Array<{ metric: Record<string, string>; value: [number, string] }>> {
  const response = await fetch(`${promBase}/api/v1/query?query=${encodeURIComponent(expr)}`);
  const body = (await response.json()) as { status: string; data: { result: [] }; error?: string };
  if (body.status !== 'success') throw new Error(`${expr}: ${body.error}`);
  return body.data.result;
}

describe.skipIf(!available)('Prometheus scraping segserve with the shipped rules', () => {
  beforeAll(async () => {
    const model = tinySoftmaxModel();
    // A drift block, so the drift gauges have a series to scrape.
    const withDrift = {
      ...(model.config as object),
      monitoring: { drift: { reference_size: 20, window: 20 } },
    };
    repo = await tinyRepository({ softmax: { ...model, config: withDrift } });
    const service = serviceFor(repo.repository);
    const metrics = new ServingMetrics(service);
    new DriftWatch(service, { registry: metrics.registry, log: () => {} });
    const app = await buildApp({ service, metrics, logger: false });
    base = await listenOnLoopback(app);
    closeApp = () => app.close();
    work = await mkdtemp(join(tmpdir(), 'segserve-prometheus-'));
    const config = [
      'global:',
      '  scrape_interval: 1s',
      '  evaluation_interval: 1s',
      'rule_files:',
      `  - ${join(PROJECT_ROOT, 'deploy/prometheus/rules/segserve.rules.yml')}`,
      'scrape_configs:',
      '  - job_name: segserve',
      '    metrics_path: /metrics',
      '    static_configs:',
      `      - targets: ['${new URL(base).host}']`,
      '',
    ].join('\n');
    await writeFile(join(work, 'prometheus.yml'), config);
    const port = await freePort();
    promBase = `http://127.0.0.1:${port}`;
    prometheus = spawn(
      PROMETHEUS,
      [
        `--config.file=${join(work, 'prometheus.yml')}`,
        `--storage.tsdb.path=${join(work, 'data')}`,
        `--web.listen-address=127.0.0.1:${port}`,
      ],
      { stdio: 'ignore' },
    );
    // Also if this test process ends without reaching afterAll: never leave a Prometheus behind.
    const child = prometheus;
    process.once('exit', () => child.kill('SIGKILL'));
    await vi.waitFor(async () => expect((await fetch(`${promBase}/-/ready`)).status).toBe(200), {
      timeout: 30_000,
      interval: 250,
    });
    // Counters must be scraped before the predictions too, or their first sample already holds them all.
    await vi.waitFor(async () => expect((await query('up{job="segserve"}'))[0]?.value[1]).toBe('1'), {
      timeout: 30_000,
      interval: 250,
    });
    const image = new Uint8Array(await png(semanticScene()));
    // Predictions spread over a few scrapes, so rates have several samples to work with.
    for (let round = 0; round < 4; round++) {
      for (let i = 0; i < 5; i++) {
        await (await fetch(`${base}/v1/models/softmax/segment`, { method: 'POST', body: image })).text();
      }
      await new Promise((resolve) => setTimeout(resolve, 1_100));
    }
  }, 90_000);

  afterAll(async () => {
    prometheus?.kill('SIGTERM');
    await closeApp?.();
    await repo?.close();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('scrapes the target and reads back a request rate', { timeout: 30_000 }, async () => {
    await vi.waitFor(
      async () => {
        const up = await query('up{job="segserve"}');
        expect(up[0]?.value[1]).toBe('1');
        const rate = await query('sum(rate(segserve_requests_total{model="softmax",code="OK"}[1m]))');
        expect(Number(rate[0]?.value[1])).toBeGreaterThan(0);
      },
      { timeout: 20_000, interval: 500 },
    );
  });

  it('computes a latency quantile from the histogram and the shipped recording rules', {
    timeout: 30_000,
  }, async () => {
    await vi.waitFor(
      async () => {
        const p95 = await query(
          'histogram_quantile(0.95, sum by (le) (rate(segserve_request_duration_seconds_bucket{model="softmax"}[1m])))',
        );
        const seconds = Number(p95[0]?.value[1]);
        expect(seconds).toBeGreaterThan(0);
        expect(seconds).toBeLessThan(30);
        const ready = await query('segserve_model_ready{model="softmax"}');
        expect(ready[0]?.value[1]).toBe('1');
        // The same image 20 times fills the reference, nothing moved: no drift.
        const drift = await query('segserve_drift_detected{model="softmax"}');
        expect(drift[0]?.value[1]).toBe('0');
      },
      { timeout: 20_000, interval: 500 },
    );
    const rules = (await (await fetch(`${promBase}/api/v1/rules`)).json()) as {
      data: { groups: Array<{ rules: Array<{ health: string; name: string }> }> };
    };
    const loaded = rules.data.groups.flatMap((g) => g.rules);
    expect(loaded.length).toBeGreaterThan(10);
    expect(loaded.filter((r) => r.health === 'err').map((r) => r.name)).toEqual([]);
  });
});
