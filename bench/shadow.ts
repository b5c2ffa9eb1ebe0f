/**
 * What shadow traffic costs the requests it copies: served latency of yolov8n-seg v2 (in process, one request
 * at a time, decode to JSON answer) with no shadow, with a shadow that sleeps 2 s per run (a slow model that
 * holds no CPU: its copies are dropped once its queue is full), and with the real int8 file (v1, about 3x
 * slower, and CPU-bound) in shadow at rate 1 (with the default duty cycle of 0.25, 0.5, and none) and at 0.1.
 * Blocks rotate through the cases so machine noise hits them alike; each block measures only after its first
 * requests, once the shadow is busy and its queue full. Reports p50/p95 per case, their ratios to the
 * no-shadow case, and what the shadow made of the copies.
 *
 * Requests go to an endpoint whose traffic policy (one variant, v2, and the case's shadows) is put in the
 * policy table the serving core routes by, as the admin API does after storing it; the no-shadow case has the
 * same policy without shadows, so routing costs the same in every case. `npx tsx bench/shadow.ts` prints the
 * report; `benchShadow()` returns it.
 */
import { existsSync } from 'node:fs';
import { cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PolicyTable } from '../src/lifecycle/traffic-table.js';
import type { ShadowJson } from '../src/lifecycle/wire-types.js';
import { ModelRepository } from '../src/models/index.js';
import { ShadowTraffic } from '../src/monitoring/shadow/index.js';
import { type Runtime, SessionPool } from '../src/runtime/index.js';
import { toSegmentationJson } from '../src/serving/encode.js';
import { InferenceService } from '../src/serving/service.js';
import { jpeg640x480 } from './http.js';
import { percentiles, table } from './stats.js';

const projectRoot = resolve(import.meta.dirname, '..');
const shared = process.env.SEGSERVE_SHARED ?? resolve(projectRoot, '..', 'shared');
const BLOCKS = Number(process.env.BENCH_SHADOW_BLOCKS ?? 4);
const PER_BLOCK = Number(process.env.BENCH_SHADOW_PER_BLOCK ?? 20);
/** Unmeasured requests at the start of each block. */
const STEADY = 10;
const SLEEP_MS = 2000;
const MODEL = 'yolov8n-seg';
/** The same model under another name, whose runs sleep first: the slow shadow. */
const SLEEPY = 'yolov8n-seg-sleepy';
/** The endpoint the requests call. */
const ENDPOINT = 'photos';

/** A runtime whose every run sleeps first, counted busy meanwhile (a slow model that holds no CPU). */
function sleepy(inner: Runtime, ms: number): Runtime {
  let sleeping = 0;
  return {
    inputs: inner.inputs,
    outputs: inner.outputs,
    async run(feeds, options) {
      sleeping++;
      await new Promise((wake) => setTimeout(wake, ms));
      sleeping--;
      return inner.run(feeds, options);
    },
    stats: () => {
      const stats = inner.stats();
      return { ...stats, busy: stats.busy + sleeping };
    },
    close: () => inner.close(),
  };
}

interface Case {
  name: string;
  shadows: ShadowJson[];
  /** The shadows' duty cycle (default the product's). */
  dutyCycle?: number;
}

const int8 = (sample_rate: number): ShadowJson[] => [{ name: 'int8', model: MODEL, version: 1, sample_rate }];

const cases: Case[] = [
  { name: 'no shadow', shadows: [] },
  {
    name: 'sleeping shadow (2 s a run), rate 1',
    shadows: [{ name: 'slow', model: SLEEPY, version: 2, sample_rate: 1 }],
  },
  { name: 'int8 v1 shadow, rate 1', shadows: int8(1) },
  { name: 'int8 v1 shadow, rate 1, dutyCycle 0.5', shadows: int8(1), dutyCycle: 0.5 },
  { name: 'int8 v1 shadow, rate 1, dutyCycle 1', shadows: int8(1), dutyCycle: 1 },
  { name: 'int8 v1 shadow, rate 0.1', shadows: int8(0.1) },
];

export async function benchShadow(): Promise<string> {
  if (!existsSync(join(shared, 'models'))) {
    return `SKIPPED shadow benchmark: ${join(shared, 'models')} is missing (set SEGSERVE_SHARED)`;
  }
  const dir = await mkdtemp(join(tmpdir(), 'segserve-bench-shadow-'));
  let repository: ModelRepository | undefined;
  try {
    for (const name of [MODEL, SLEEPY]) {
      await cp(join(projectRoot, 'model-repository', MODEL), join(dir, name), { recursive: true });
    }
    repository = await ModelRepository.open(dir, {
      env: { ...process.env, SEGSERVE_SHARED: shared },
      createRuntime: async (options) => {
        const runtime = await SessionPool.create(options);
        return options.modelName === SLEEPY ? sleepy(runtime, SLEEP_MS) : runtime;
      },
    });
    const loaded = await repository.loadVersion(MODEL, 1);
    if (loaded.state !== 'ready') throw new Error(`yolov8n-seg v1 did not load: ${JSON.stringify(loaded)}`);
    const service = new InferenceService(repository);
    const policies = new PolicyTable();
    service.useTraffic(policies);
    const body = await jpeg640x480(join(shared, 'datasets/coco-val2017-mini/images/000000397133.jpg'));
    const segmentOnce = async (): Promise<number> => {
      const started = performance.now();
      const ticket = service.admit({ model: ENDPOINT }, { source: 'v1' });
      try {
        JSON.stringify(toSegmentationJson(await service.segment(ticket, body)));
      } finally {
        ticket.release();
      }
      return performance.now() - started;
    };
    /** The endpoint's policy: every request to v2, with these shadows. */
    const route = (shadows: ShadowJson[]) =>
      policies.set(ENDPOINT, {
        endpoint: ENDPOINT,
        policy: { variants: [{ name: 'main', model: MODEL, version: 2, weight: 100 }], shadows },
        updatedAt: new Date().toISOString(),
        updatedBy: 'bench',
      });
    route([]);
    // Warm-up, untimed.
    for (let i = 0; i < 5; i++) await segmentOnce();
    const latencies = new Map<string, number[]>(cases.map((c) => [c.name, []]));
    const copies = new Map<string, { compared: number; dropped: number; notSampled: number }>(
      cases.map((c) => [c.name, { compared: 0, dropped: 0, notSampled: 0 }]),
    );
    for (let block = 0; block < BLOCKS; block++) {
      for (let k = 0; k < cases.length; k++) {
        const c = cases[(block + k) % cases.length];
        // A fresh shadow subscriber per block: closed at its end, it drops the copies still queued, so nothing of
        // one case runs during the next (or while nothing is measured, which would flatter the shadow).
        const shadows = new ShadowTraffic(service, { dutyCycle: c.dutyCycle });
        route(c.shadows);
        // Steady state first (the shadow busy, its queue filled), then the measured requests.
        for (let i = 0; i < STEADY; i++) await segmentOnce();
        for (let i = 0; i < PER_BLOCK; i++) latencies.get(c.name)?.push(await segmentOnce());
        // The last request's event is delivered on the next turn of the event loop.
        await new Promise((turn) => setImmediate(turn));
        // Closing waits for the run in flight (recorded) and drops the copies still queued.
        await shadows.close();
        const requests = shadows.summary(ENDPOINT).variants[0]?.requests;
        const counted = copies.get(c.name);
        if (requests && counted) {
          // The copies the close dropped are counted as dropped.
          counted.compared += requests.compared;
          counted.notSampled += requests.not_sampled;
          counted.dropped += STEADY + PER_BLOCK - requests.compared - requests.not_sampled;
        }
      }
    }
    const baseline = percentiles(latencies.get('no shadow') ?? []);
    const rows = cases.map((c) => {
      const p = percentiles(latencies.get(c.name) ?? []);
      const counted = copies.get(c.name);
      const made =
        c.shadows.length === 0 || !counted
          ? ''
          : `${counted.compared} compared, ${counted.dropped} dropped, ${counted.notSampled} not sampled`;
      return [
        c.name,
        p.p50,
        p.p95,
        `${(p.p50 / baseline.p50).toFixed(3)}x`,
        `${(p.p95 / baseline.p95).toFixed(3)}x`,
        made,
      ];
    });
    await service.close();
    repository = undefined;
    return [
      `# Shadow traffic: served latency of ${MODEL} v2 (640x480 JPEG, one request at a time, ${BLOCKS} x ${PER_BLOCK} measured per case)`,
      table(['case', 'p50 ms', 'p95 ms', 'p50 ratio', 'p95 ratio', 'copies (all blocks)'], rows),
      'Shadows run one at a time, at most a quarter of the time (dutyCycle 0.25) unless the case says otherwise;',
      'copies beyond that are dropped. A slow shadow that holds no CPU costs the served requests nothing; a',
      'CPU-bound one shares the cores with them while it runs (about 3x the served time per copy for int8).',
      '',
    ].join('\n');
  } finally {
    await repository?.close();
    await rm(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  console.log(await benchShadow());
}
