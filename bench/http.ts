/**
 * HTTP end to end on loopback: `segserve serve` with the shipped model repository in its own process (as in
 * production, so neither the load generator nor the raw baseline shares its event loop), a node:http load
 * generator with keep-alive connections posting a 640x480 JPEG to /v1/models/{model}/segment at concurrency 1,
 * 8 and 300, against raw `session.run` of the same model with the same thread settings (its latency one session
 * alone, its throughput as many sessions as the config's `instances` side by side), measured in the same
 * run. Raw blocks alternate with HTTP blocks so machine noise hits both alike.
 *
 * Concurrency 1 and 8 send a fixed number of requests; concurrency 300 is an overload that runs for a fixed
 * time, its clients honouring Retry-After, while a probe reads /health every 75 ms: it reports the served rate
 * (200s per second), the share of requests refused (503) and the /health p99.
 *
 * `npx tsx bench/http.ts` prints the report; `benchHttp()` returns it.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { Agent } from 'node:http';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { ModelRepository } from '../src/models/index.js';
import { type SegmentationJson, STAGES, type StageTimings } from '../src/serving/types.js';
import {
  closedLoop,
  type LoadResult,
  type Outcome,
  p50p99,
  post,
  probeHealth,
  servedPerSecond,
  sum,
  tally,
} from '../test/helpers/http-load.js';
import { type SegserveProcess, startSegserve } from '../test/helpers/segserve-process.js';
import { rawSessions } from './baseline.js';
import { percentiles, table } from './stats.js';

const projectRoot = resolve(import.meta.dirname, '..');
const shared = process.env.SEGSERVE_SHARED ?? resolve(projectRoot, '..', 'shared');
/** Requests per client at concurrency 1 and 8 (at least 24 per level). */
const PER_CLIENT = Number(process.env.BENCH_HTTP_PER_CLIENT ?? 12);
const RAW_RUNS = Number(process.env.BENCH_HTTP_RAW_RUNS ?? 12);
/** Seconds of the concurrency-300 overload per model. */
const OVERLOAD_SECONDS = Number(process.env.BENCH_HTTP_OVERLOAD_S ?? 10);
const COUNTED = [1, 8];
const OVERLOAD = 300;
const HEALTH_EVERY_MS = 75;

/** Every shared model with the photo the benchmarks post to it (bench/engine.ts and bench/placement.ts too). */
export const MODEL_PHOTOS = [
  { model: 'yolov8n-seg', photo: join(shared, 'datasets/coco-val2017-mini/images/000000397133.jpg') },
  { model: 'pan-skin-clothes-hair', photo: join(shared, 'datasets/human-segmentation/images/1.jpg') },
  { model: 'mediapipe-selfie', photo: join(shared, 'datasets/human-segmentation/images/1.jpg') },
  { model: 'sinet-portrait', photo: join(shared, 'datasets/human-segmentation/images/1.jpg') },
];

/** The photo as the 640x480 JPEG a camera or browser would send. */
export async function jpeg640x480(photo: string): Promise<Buffer> {
  return sharp(await readFile(photo))
    .resize(640, 480, { fit: 'cover' })
    .jpeg({ quality: 90 })
    .toBuffer();
}

interface Level {
  concurrency: number;
  /** 200s per second. */
  throughput: number;
  /** Milliseconds of the 200 answers. */
  latencies: number[];
  /** Server-side stage timings of each 200 answer (from its JSON), for the breakdown. */
  stages: StageTimings[];
  /** Overload only: refused share of all requests, /health p99. */
  refusedShare?: number;
  healthP99?: number;
  /** Requests that got no HTTP answer, or an answer other than 200 and 503. */
  failures: number;
}

function levelOf(concurrency: number, outcomes: Outcome[], throughput: number): Level {
  const served = outcomes.filter((o) => o.status === 200);
  const counts = tally(outcomes);
  return {
    concurrency,
    throughput,
    latencies: served.map((o) => o.doneAt - o.sentAt),
    stages: served.flatMap((o) =>
      o.body ? [(JSON.parse(o.body.toString()) as SegmentationJson).timings] : [],
    ),
    failures: sum(counts.errors) + sum(counts.other),
  };
}

/** `requests` requests over `concurrency` keep-alive connections, each client sending the next at once. */
export async function counted(url: URL, body: Buffer, concurrency: number, requests: number): Promise<Level> {
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
  const outcomes: Outcome[] = [];
  let next = 0;
  const started = performance.now();
  const client = async () => {
    while (next < requests) {
      next++;
      outcomes.push(await post(agent, url, body, { timeoutMs: 60_000, keepBody: true }));
    }
  };
  await Promise.all(Array.from({ length: concurrency }, client));
  const seconds = (performance.now() - started) / 1000;
  agent.destroy();
  return levelOf(concurrency, outcomes, outcomes.filter((o) => o.status === 200).length / seconds);
}

/** OVERLOAD clients for OVERLOAD_SECONDS, honouring Retry-After, with /health probed throughout. */
async function overload(base: string, url: URL, body: Buffer): Promise<Level> {
  const probe = probeHealth(base, HEALTH_EVERY_MS);
  let result: LoadResult;
  try {
    result = await closedLoop({
      url,
      bodies: [body],
      concurrency: OVERLOAD,
      durationMs: OVERLOAD_SECONDS * 1000,
      timeoutMs: 30_000,
    });
  } finally {
    await probe.stop();
  }
  const level = levelOf(OVERLOAD, result.outcomes, servedPerSecond(result));
  level.refusedShare = sum(tally(result.outcomes).refused) / Math.max(1, result.outcomes.length);
  level.healthP99 = p50p99(probe.latencies).p99;
  // A health probe without a 200 answer is a failure of this level too.
  level.failures += probe.statuses.filter((s) => s !== 200).length;
  return level;
}

/** Median of each pipeline stage at concurrency 1, and what the HTTP round trip adds on top of the pipeline. */
function breakdown(level: Level): string {
  const median = (values: number[]) => percentiles(values).p50;
  const parts = STAGES.filter((stage) => level.stages.some((t) => t[stage] !== undefined)).map(
    (stage) => `${stage} ${median(level.stages.map((t) => t[stage] ?? 0)).toFixed(1)}`,
  );
  const http = median(level.latencies) - median(level.stages.map((t) => t.total + t.encode));
  return `concurrency 1, server-side stage p50 (ms): ${parts.join(', ')}; HTTP round trip adds ${http.toFixed(1)}`;
}

async function benchModel(
  server: SegserveProcess,
  repository: ModelRepository,
  model: string,
  photo: string,
): Promise<string> {
  const loaded = repository.resolve(model);
  const { config } = loaded;
  const body = await jpeg640x480(photo);
  const url = new URL(`/v1/models/${model}/segment`, server.base);

  const baseline = await rawSessions(loaded, body);
  const raw: number[] = [];
  const rawRates: number[] = [];
  const rawBlock = async () => {
    raw.push(...(await baseline.time(RAW_RUNS)));
    rawRates.push(await baseline.sideBySide(RAW_RUNS));
  };
  // Warm-up, untimed.
  await baseline.sideBySide(3);
  await counted(url, body, 2, 6);

  const levels: Level[] = [];
  for (const concurrency of COUNTED) {
    await rawBlock();
    levels.push(await counted(url, body, concurrency, Math.max(24, PER_CLIENT * concurrency)));
  }
  await rawBlock();
  levels.push(await overload(server.base, url, body));
  await rawBlock();
  await baseline.release();

  const rawP = percentiles(raw);
  // The model's sessions running session.run back to back, side by side, is what raw inference alone can
  // sustain on this machine.
  const rawThroughput = rawRates.reduce((a, b) => a + b, 0) / rawRates.length;
  const rows = levels.map((level) => {
    const p = percentiles(level.latencies);
    return [
      String(level.concurrency),
      level.throughput,
      p.p50,
      p.p99,
      `${(p.p50 / rawP.p50).toFixed(2)}x`,
      `${(level.throughput / rawThroughput).toFixed(2)}x`,
      level.refusedShare === undefined ? '' : `${(level.refusedShare * 100).toFixed(1)}%`,
      level.healthP99 === undefined ? '' : level.healthP99.toFixed(1),
      String(level.failures),
    ];
  });
  const first = levels[0];
  const c1 = percentiles(first.latencies).p50 / rawP.p50;
  const best = Math.max(...levels.map((l) => l.throughput)) / rawThroughput;
  const over = levels[levels.length - 1];
  const held = over.throughput / Math.max(...levels.slice(0, -1).map((l) => l.throughput));
  return [
    `## ${model} (v${loaded.version}, ${config.instances} worker x ${config.threads.intra_op} intra-op threads), ` +
      `640x480 JPEG`,
    `raw session.run: p50 ${rawP.p50.toFixed(2)} ms, p99 ${rawP.p99.toFixed(2)} ms (one session, ${raw.length} ` +
      `runs), ${rawThroughput.toFixed(2)} runs/s with the ${config.instances} session(s) side by side`,
    table(
      [
        'concurrency',
        '200/s',
        'p50 ms',
        'p99 ms',
        'p50 / raw',
        '200/s / raw',
        'refused',
        '/health p99 ms',
        'failed',
      ],
      rows,
    ),
    breakdown(first),
    `concurrency 1: HTTP p50 / raw p50 = ${c1.toFixed(2)}x (goal <= 1.2x: ${c1 <= 1.2 ? 'met' : 'NOT met'}); ` +
      `best throughput / raw = ${best.toFixed(2)}x (goal >= 0.9x: ${best >= 0.9 ? 'met' : 'NOT met'}); ` +
      `concurrency ${OVERLOAD} keeps ${held.toFixed(2)}x of the best counted level (goal >= 0.8x: ` +
      `${held >= 0.8 ? 'met' : 'NOT met'}), /health p99 ${over.healthP99?.toFixed(1)} ms (goal < 50 ms: ` +
      `${(over.healthP99 ?? Number.POSITIVE_INFINITY) < 50 ? 'met' : 'NOT met'})`,
    '',
  ].join('\n');
}

export async function benchHttp(): Promise<string> {
  if (!existsSync(join(shared, 'models'))) {
    return `SKIPPED HTTP benchmarks: ${join(shared, 'models')} is missing (set SEGSERVE_SHARED)`;
  }
  const repositoryDir = join(projectRoot, 'model-repository');
  // In this process only for the raw baselines (configs, model paths, the tensors the pipeline builds).
  const repository = await ModelRepository.open(repositoryDir, { models: MODEL_PHOTOS.map((c) => c.model) });
  let server: SegserveProcess | undefined;
  try {
    server = await startSegserve({ models: repositoryDir, env: { SEGSERVE_SHARED: shared } });
    const sections = [
      `# HTTP on loopback (segserve serve from ${server.entry} in its own process; node:http keep-alive clients)`,
      '',
    ];
    for (const c of MODEL_PHOTOS) {
      const status = repository.get(c.model);
      if (status?.state !== 'ready') {
        sections.push(`## ${c.model}: not ready (${status?.error?.message ?? 'missing'})`, '');
        continue;
      }
      sections.push(await benchModel(server, repository, c.model, c.photo));
    }
    return sections.join('\n');
  } finally {
    await server?.kill();
    await repository.close();
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  console.log(await benchHttp());
}
