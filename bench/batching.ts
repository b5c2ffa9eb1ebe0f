/**
 * Dynamic batching on against off, in one run: throughput and latency of the serving core (decode, runtime,
 * JSON answer) at concurrency 1, 4 and 8 on yolov8n-seg and SINet. The shipped models fix batch 1, so both
 * sides serve the same copy with a symbolic batch dimension (test/helpers/batched-model.ts); only the config's `batching`
 * block differs. Rounds alternate off and on, so machine noise hits both alike. Reports requests per second,
 * p50 latency, the mean batch size seen, the ratio on / off, and what one batched `session.run` saves on its
 * own (the most batching could gain). `npx tsx bench/batching.ts` prints the report;
 * `benchBatching()` returns it.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';
import { type LoadedVersion, ModelRepository } from '../src/models/index.js';
import { buildSessionOptions } from '../src/runtime/session-options.js';
import { toSegmentationJson } from '../src/serving/encode.js';
import { InferenceService } from '../src/serving/service.js';
import { writeBatchedCopy, writeScratchRepository } from '../test/helpers/batched-model.js';
import { percentiles, table } from './stats.js';

const projectRoot = resolve(import.meta.dirname, '..');
const shared = process.env.SEGSERVE_SHARED ?? resolve(projectRoot, '..', 'shared');
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
/** Requests per client per round. */
const PER_CLIENT = Number(process.env.BENCH_BATCHING_PER_CLIENT ?? 6);
const CONCURRENCY = [1, 4, 8];
const CASES = [
  {
    model: 'yolov8n-seg',
    onnx: 'models/yolov8n-seg-coco/yolov8n-seg_fp32_dequantized.onnx',
    photos: 'datasets/coco-val2017-mini/images',
  },
  {
    model: 'sinet-portrait',
    onnx: 'models/sinet-portrait/SINet_Softmax_simple.onnx',
    photos: 'datasets/human-segmentation/images',
  },
];
const BATCHING = { enabled: true, max_batch_size: 8, max_delay_ms: 2 };

interface Sample {
  ms: number[];
  batchSizes: number[];
  wallMs: number;
  requests: number;
}

/** `clients` loops, each sending PER_CLIENT requests one after another, photos in turn. */
async function load(service: InferenceService, model: string, photos: Uint8Array[], clients: number) {
  const sample: Sample = { ms: [], batchSizes: [], wallMs: 0, requests: 0 };
  const started = performance.now();
  await Promise.all(
    Array.from({ length: clients }, async (_, client) => {
      for (let i = 0; i < PER_CLIENT; i++) {
        const bytes = photos[(client * PER_CLIENT + i) % photos.length];
        const t0 = performance.now();
        const ticket = service.admit({ model }, { source: 'cli' });
        try {
          const seg = await service.segment(ticket, bytes);
          JSON.stringify(toSegmentationJson(seg));
          sample.batchSizes.push(seg.batchSize ?? 1);
        } finally {
          ticket.release();
        }
        sample.ms.push(performance.now() - t0);
        sample.requests++;
      }
    }),
  );
  sample.wallMs = performance.now() - started;
  return sample;
}

/**
 * Raw `session.run` of the batched copy: BATCH_SIZE runs of batch 1 against one run of batch BATCH_SIZE, in
 * alternating rounds, with the model's own thread settings. What batching could gain at most, before the rest of
 * the pipeline (decode, fill, decoders, answers) shares the cores.
 */
async function rawBatchRatio(loaded: LoadedVersion): Promise<{ single: number; batched: number }> {
  const { threads, input } = loaded.config;
  const session = await ort.InferenceSession.create(
    loaded.modelPath,
    buildSessionOptions({
      intraOpThreads: threads.intra_op,
      interOpThreads: threads.inter_op,
      executionProvider: 'cpu',
    }),
  );
  try {
    const per = 3 * input.width * input.height;
    const shape = (n: number) =>
      input.layout === 'NCHW' ? [n, 3, input.height, input.width] : [n, input.height, input.width, 3];
    const data = Float32Array.from({ length: per * BATCHING.max_batch_size }, () => Math.random());
    const one = { [loaded.inputName]: new ort.Tensor('float32', data.subarray(0, per), shape(1)) };
    const all = { [loaded.inputName]: new ort.Tensor('float32', data, shape(BATCHING.max_batch_size)) };
    await session.run(one);
    await session.run(all);
    const single: number[] = [];
    const batched: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      let t0 = performance.now();
      for (let i = 0; i < BATCHING.max_batch_size; i++) await session.run(one);
      single.push(performance.now() - t0);
      t0 = performance.now();
      await session.run(all);
      batched.push(performance.now() - t0);
    }
    return { single: percentiles(single).p50, batched: percentiles(batched).p50 };
  } finally {
    await session.release();
  }
}

function merge(samples: Sample[]): Sample {
  return {
    ms: samples.flatMap((s) => s.ms),
    batchSizes: samples.flatMap((s) => s.batchSizes),
    wallMs: samples.reduce((sum, s) => sum + s.wallMs, 0),
    requests: samples.reduce((sum, s) => sum + s.requests, 0),
  };
}

async function benchCase(c: (typeof CASES)[number]): Promise<string> {
  const photosDir = join(shared, c.photos);
  if (!existsSync(join(shared, c.onnx)) || !existsSync(photosDir)) {
    return `## batching: ${c.model}\nSKIPPED: ${join(shared, c.onnx)} or ${photosDir} is missing (set SEGSERVE_SHARED)\n`;
  }
  const dir = await mkdtemp(join(tmpdir(), 'segserve-bench-batching-'));
  let repository: ModelRepository | undefined;
  try {
    const batched = join(dir, 'batched.onnx');
    await writeBatchedCopy(join(shared, c.onnx), batched);
    await writeScratchRepository(join(dir, 'models'), shared, [
      { name: 'off', shipped: c.model, onnx: batched },
      { name: 'on', shipped: c.model, onnx: batched, batching: BATCHING },
    ]);
    repository = await ModelRepository.open(join(dir, 'models'));
    const service = new InferenceService(repository);
    const files = (await readdir(photosDir))
      .filter((f) => f.endsWith('.jpg'))
      .sort()
      .slice(0, 16);
    const photos = await Promise.all(files.map((f) => readFile(join(photosDir, f))));
    for (const model of ['off', 'on']) await load(service, model, photos, 4); // warm-up, untimed
    const raw = await rawBatchRatio(repository.resolve('off'));

    const rows: (string | number)[][] = [];
    const ratios: string[] = [];
    for (const clients of CONCURRENCY) {
      const runs: Record<'off' | 'on', Sample[]> = { off: [], on: [] };
      for (let round = 0; round < ROUNDS; round++) {
        for (const model of ['off', 'on'] as const)
          runs[model].push(await load(service, model, photos, clients));
      }
      const throughput: Record<string, number> = {};
      for (const model of ['off', 'on'] as const) {
        const s = merge(runs[model]);
        throughput[model] = s.requests / (s.wallMs / 1000);
        const meanBatch = s.batchSizes.reduce((a, b) => a + b, 0) / s.batchSizes.length;
        rows.push([`c=${clients} batching ${model}`, throughput[model], percentiles(s.ms).p50, meanBatch]);
      }
      ratios.push(`c=${clients}: ${(throughput.on / throughput.off).toFixed(2)}x`);
    }
    return [
      `## batching: ${c.model} (batched copy), max_batch_size ${BATCHING.max_batch_size}, ` +
        `max_delay_ms ${BATCHING.max_delay_ms}; ${ROUNDS} alternating rounds of ${PER_CLIENT} requests per client`,
      table(['case', 'req/s', 'p50 ms', 'mean batch'], rows),
      `throughput on / off: ${ratios.join(', ')}`,
      `raw session.run, ${BATCHING.max_batch_size} x batch 1 / one batch of ${BATCHING.max_batch_size} (p50): ` +
        `${raw.single.toFixed(1)} / ${raw.batched.toFixed(1)} ms = ${(raw.single / raw.batched).toFixed(2)}x`,
      '',
    ].join('\n');
  } finally {
    await repository?.close();
    await rm(dir, { recursive: true, force: true });
  }
}

export async function benchBatching(): Promise<string> {
  const reports: string[] = [];
  for (const c of CASES) reports.push(await benchCase(c));
  return reports.join('\n');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) console.log(await benchBatching());
