/**
 * HTTP end to end on loopback: the server with the shipped model repository, a load generator in the same
 * process (node:http, keep-alive connections) at concurrency 1, 2, 4 and 8 posting a 640x480 JPEG to
 * /v1/models/{model}/segment, against a raw `session.run` of the same model with the same thread settings,
 * measured in the same run. Raw blocks alternate with HTTP blocks so machine noise hits both alike.
 *
 * `npx tsx bench/http.ts` prints the report; `benchHttp()` returns it.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { Agent, request as httpRequest } from 'node:http';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { buildApp } from '../src/http/app.js';
import { ModelRepository } from '../src/models/index.js';
import { InferenceService } from '../src/serving/service.js';
import { type SegmentationJson, STAGES, type StageTimings } from '../src/serving/types.js';
import { rawBaseline } from './baseline.js';
import { percentiles, table } from './stats.js';

const projectRoot = resolve(import.meta.dirname, '..');
const shared = process.env.SEGSERVE_SHARED ?? resolve(projectRoot, '..', 'shared');
/** Requests per concurrency level and client (at least 24 per level). */
const PER_CLIENT = Number(process.env.BENCH_HTTP_PER_CLIENT ?? 12);
const RAW_RUNS = Number(process.env.BENCH_HTTP_RAW_RUNS ?? 12);
const CONCURRENCY = [1, 2, 4, 8];

const cases = [
  { model: 'yolov8n-seg', photo: join(shared, 'datasets/coco-val2017-mini/images/000000397133.jpg') },
  { model: 'pan-skin-clothes-hair', photo: join(shared, 'datasets/human-segmentation/images/1.jpg') },
  { model: 'mediapipe-selfie', photo: join(shared, 'datasets/human-segmentation/images/1.jpg') },
  { model: 'sinet-portrait', photo: join(shared, 'datasets/human-segmentation/images/1.jpg') },
];

/** The photo as the 640x480 JPEG a camera or browser would send. */
async function jpeg640x480(photo: string): Promise<Buffer> {
  return sharp(await readFile(photo))
    .resize(640, 480, { fit: 'cover' })
    .jpeg({ quality: 90 })
    .toBuffer();
}

interface Level {
  concurrency: number;
  requests: number;
  seconds: number;
  latencies: number[];
  /** Server-side stage timings of each answer (from its JSON), for the breakdown. */
  stages: StageTimings[];
}

/**
 * One POST over a keep-alive agent. node:http rather than fetch: the generator shares the process (and the two
 * cores) with the server, and fetch costs several ms more per request here, which would be billed to the server.
 */
function post(agent: Agent, url: URL, body: Buffer): Promise<{ ms: number; timings: StageTimings }> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const request = httpRequest(
      url,
      { method: 'POST', agent, headers: { 'content-type': 'image/jpeg', 'content-length': body.length } },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => {
          const ms = performance.now() - started;
          if (response.statusCode !== 200) {
            reject(new Error(`${url.pathname} answered ${response.statusCode}: ${Buffer.concat(chunks)}`));
            return;
          }
          resolve({
            ms,
            timings: (JSON.parse(Buffer.concat(chunks).toString()) as SegmentationJson).timings,
          });
        });
      },
    );
    request.on('error', reject);
    request.end(body);
  });
}

async function load(url: URL, body: Buffer, concurrency: number, requests: number): Promise<Level> {
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
  const level: Level = { concurrency, requests, seconds: 0, latencies: [], stages: [] };
  let next = 0;
  const started = performance.now();
  const client = async () => {
    while (next < requests) {
      next++;
      const { ms, timings } = await post(agent, url, body);
      level.latencies.push(ms);
      level.stages.push(timings);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, client));
  level.seconds = (performance.now() - started) / 1000;
  agent.destroy();
  return level;
}

/** Median of each pipeline stage at concurrency 1, and what the HTTP round trip adds on top of the pipeline. */
function breakdown(level: Level): string {
  const median = (values: number[]) => percentiles(values).p50;
  const parts = STAGES.map((stage) => `${stage} ${median(level.stages.map((t) => t[stage])).toFixed(1)}`);
  const http = median(level.latencies) - median(level.stages.map((t) => t.total + t.encode));
  return `concurrency 1, server-side stage p50 (ms): ${parts.join(', ')}; HTTP round trip adds ${http.toFixed(1)}`;
}

async function benchModel(
  base: string,
  repository: ModelRepository,
  model: string,
  photo: string,
): Promise<string> {
  const loaded = repository.resolve(model);
  const { config } = loaded;
  const body = await jpeg640x480(photo);
  const url = new URL(`/v1/models/${model}/segment`, base);

  const baseline = await rawBaseline(loaded, body);
  const raw: number[] = [];
  const rawBlock = async () => {
    raw.push(...(await baseline.time(RAW_RUNS)));
  };
  // Warm-up, untimed.
  await baseline.time(3);
  await load(url, body, 2, 6);

  const levels: Level[] = [];
  for (const concurrency of CONCURRENCY) {
    await rawBlock();
    levels.push(await load(url, body, concurrency, Math.max(24, PER_CLIENT * concurrency)));
  }
  await rawBlock();
  await baseline.release();

  const rawP = percentiles(raw);
  // session.run back to back is what raw inference alone can sustain on this machine.
  const rawThroughput = 1000 / rawP.mean;
  const rows = levels.map((level) => {
    const p = percentiles(level.latencies);
    const throughput = level.requests / level.seconds;
    return [
      String(level.concurrency),
      throughput,
      p.p50,
      p.p99,
      `${(p.p50 / rawP.p50).toFixed(2)}x`,
      `${(throughput / rawThroughput).toFixed(2)}x`,
    ];
  });
  const first = levels[0];
  const c1 = percentiles(first.latencies).p50 / rawP.p50;
  const best = Math.max(...levels.map((l) => l.requests / l.seconds)) / rawThroughput;
  return [
    `## ${model} (v${loaded.version}, ${config.instances} worker x ${config.threads.intra_op} intra-op threads), ` +
      `640x480 JPEG, ${levels.reduce((n, l) => n + l.requests, 0)} requests`,
    `raw session.run: p50 ${rawP.p50.toFixed(2)} ms, p99 ${rawP.p99.toFixed(2)} ms, ` +
      `${rawThroughput.toFixed(2)} runs/s back to back (${raw.length} runs)`,
    table(['concurrency', 'req/s', 'p50 ms', 'p99 ms', 'p50 / raw', 'req/s / raw'], rows),
    breakdown(first),
    `concurrency 1: HTTP p50 / raw p50 = ${c1.toFixed(2)}x (goal <= 1.2x: ${c1 <= 1.2 ? 'met' : 'NOT met'}); ` +
      `best throughput / raw = ${best.toFixed(2)}x (goal >= 0.9x: ${best >= 0.9 ? 'met' : 'NOT met'})`,
    '',
  ].join('\n');
}

export async function benchHttp(): Promise<string> {
  if (!existsSync(join(shared, 'models'))) {
    return `SKIPPED HTTP benchmarks: ${join(shared, 'models')} is missing (set SEGSERVE_SHARED)`;
  }
  const repository = await ModelRepository.open(join(projectRoot, 'model-repository'), {
    models: cases.map((c) => c.model),
  });
  const app = await buildApp({ service: new InferenceService(repository), logger: false });
  try {
    await app.listen({ port: 0, host: '127.0.0.1' });
    const address = app.server.address();
    if (address === null || typeof address === 'string') throw new Error('the server has no TCP address');
    const base = `http://127.0.0.1:${address.port}`;
    const sections = ['# HTTP on loopback (load generator in the same process, keep-alive)', ''];
    for (const c of cases) {
      const status = repository.get(c.model);
      if (status?.state !== 'ready') {
        sections.push(`## ${c.model}: not ready (${status?.error?.message ?? 'missing'})`, '');
        continue;
      }
      sections.push(await benchModel(base, repository, c.model, c.photo));
    }
    return sections.join('\n');
  } finally {
    await app.close();
    await repository.close();
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  console.log(await benchHttp());
}
