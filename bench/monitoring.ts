/**
 * What monitoring costs: the same load against two `segserve serve` processes of the same models, one with
 * monitoring on (Prometheus metrics scraped every 5 s, drift monitoring, a log line per prediction at info) and
 * one with `--monitoring off --prediction-log off`. Both run the same log level, so only monitoring differs.
 * Blocks alternate on, off, off, on, ... so that machine noise and warm-up hit both alike; only one process is
 * under load at a time. Reports 200/s of each at concurrency 4 and the share of throughput monitoring costs.
 *
 * The runtime measures the input's pixel statistics (drift's input signals) in both processes, since the serving
 * core asks for them on every request; their cost is timed separately below, per model input size.
 *
 * `npx tsx bench/monitoring.ts` prints the report; `benchMonitoring()` returns it.
 */
import { existsSync } from 'node:fs';
import { cp, mkdtemp, rm } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pixelStatistics } from '../src/image/index.js';
import { type SegserveProcess, startSegserve } from '../test/helpers/segserve-process.js';
import { counted, jpeg640x480 } from './http.js';
import { percentiles, table } from './stats.js';

const projectRoot = resolve(import.meta.dirname, '..');
const shared = process.env.SEGSERVE_SHARED ?? resolve(projectRoot, '..', 'shared');
/** Blocks, each running both sides once. */
const BLOCKS = Number(process.env.BENCH_MONITORING_BLOCKS ?? 4);
const CONCURRENCY = 4;
const SCRAPE_EVERY_MS = 5000;

/** The smallest model (where any fixed cost weighs most) and an instance model (the longest summaries). */
const cases = [
  {
    model: 'mediapipe-selfie',
    photo: join(shared, 'datasets/human-segmentation/images/1.jpg'),
    perBlock: 120,
    input: [256, 256],
  },
  {
    model: 'yolov8n-seg',
    photo: join(shared, 'datasets/coco-val2017-mini/images/000000397133.jpg'),
    perBlock: 48,
    input: [640, 480],
  },
] as const;

/** GETs `url` every `everyMs` (as Prometheus would scrape), until stopped. */
function scrapeEvery(url: string, everyMs: number): () => void {
  const timer = setInterval(() => {
    request(url, (response) => response.resume()).end();
  }, everyMs);
  return () => clearInterval(timer);
}

async function benchCase(
  on: SegserveProcess,
  off: SegserveProcess,
  model: string,
  photo: string,
  perBlock: number,
): Promise<string[]> {
  const body = await jpeg640x480(photo);
  const url = (server: SegserveProcess) => new URL(`/v1/models/${model}/segment`, server.base);
  // Warm-up, untimed: the first requests of a fresh worker are slower (V8 optimises the tensor fill).
  await counted(url(on), body, CONCURRENCY, 2 * perBlock);
  await counted(url(off), body, CONCURRENCY, 2 * perBlock);
  const served = { on: 0, off: 0 };
  const seconds = { on: 0, off: 0 };
  const failed = { on: 0, off: 0 };
  for (let block = 0; block < BLOCKS; block++) {
    // Each block runs both, in alternating order: on, off, off, on, on, off...
    for (const current of block % 2 === 0 ? (['on', 'off'] as const) : (['off', 'on'] as const)) {
      const server = current === 'on' ? on : off;
      const stop = current === 'on' ? scrapeEvery(`${on.base}/metrics`, SCRAPE_EVERY_MS) : () => {};
      const started = performance.now();
      const level = await counted(url(server), body, CONCURRENCY, perBlock);
      seconds[current] += (performance.now() - started) / 1000;
      stop();
      served[current] += level.latencies.length;
      failed[current] += level.failures;
    }
  }
  const rate = (side: 'on' | 'off') => served[side] / seconds[side];
  const ratio = rate('on') / rate('off');
  return [
    model,
    rate('off').toFixed(1),
    rate('on').toFixed(1),
    `${ratio.toFixed(3)}x`,
    `${((1 - ratio) * 100).toFixed(1)}%`,
    String(failed.on + failed.off),
  ];
}

/** Microseconds per pixelStatistics call on an RGB image of the model's input size. */
function statisticsCost(width: number, height: number): number {
  const data = new Uint8Array(width * height * 3);
  for (let i = 0; i < data.length; i++) data[i] = (i * 7919) & 255;
  const image = { width, height, channels: 3 as const, data };
  for (let i = 0; i < 200; i++) pixelStatistics(image);
  const samples: number[] = [];
  for (let i = 0; i < 2000; i++) {
    const t0 = performance.now();
    pixelStatistics(image);
    samples.push(performance.now() - t0);
  }
  return percentiles(samples).p50 * 1000;
}

export async function benchMonitoring(): Promise<string> {
  if (!existsSync(join(shared, 'models'))) {
    return `SKIPPED monitoring benchmark: ${join(shared, 'models')} is missing (set SEGSERVE_SHARED)`;
  }
  // Only the benchmarked models, so both servers hold the same two runtimes and nothing else.
  const repository = await mkdtemp(join(tmpdir(), 'segserve-bench-monitoring-'));
  let on: SegserveProcess | undefined;
  let off: SegserveProcess | undefined;
  try {
    for (const c of cases) {
      await cp(join(projectRoot, 'model-repository', c.model), join(repository, c.model), {
        recursive: true,
      });
    }
    const env = { SEGSERVE_SHARED: shared };
    on = await startSegserve({ models: repository, env, args: ['--log-level', 'info'] });
    off = await startSegserve({
      models: repository,
      env,
      args: ['--log-level', 'info', '--monitoring', 'off', '--prediction-log', 'off'],
    });
    const rows: string[][] = [];
    for (const c of cases) rows.push(await benchCase(on, off, c.model, c.photo, c.perBlock));
    const statistics = cases.map((c) => {
      const [width, height] = c.input;
      return `${c.model} ${width}x${height}: ${statisticsCost(width, height).toFixed(1)} us`;
    });
    return [
      `# Monitoring on against off (two segserve processes, concurrency ${CONCURRENCY}, ${BLOCKS} alternating blocks each)`,
      table(['model', 'off 200/s', 'on 200/s', 'on / off', 'cost', 'failed'], rows),
      `goal: cost under 3%. Pixel statistics in the runtime (both sides), p50 per image: ${statistics.join('; ')}`,
      '',
    ].join('\n');
  } finally {
    await on?.kill();
    await off?.kill();
    await rm(repository, { recursive: true, force: true });
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  console.log(await benchMonitoring());
}
