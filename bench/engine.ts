/**
 * `npm run bench`: per shared model on a real photo, p50/p95 of every pipeline stage and the ratio of
 * end-to-end time to a raw `session.run` of the same model, measured in the same run (rounds of raw and
 * end-to-end runs alternate, so machine noise hits both alike). Also the mask-encoding costs, HTTP end to end
 * (bench/http.ts), what monitoring costs, on against off (bench/monitoring.ts), and what shadow traffic costs the
 * requests it copies (bench/shadow.ts), float32 against int8 of `models optimize --int8` (bench/int8.ts),
 * dynamic batching on against off (bench/batching.ts), each placement of sessions on the cores at concurrency
 * 1 to 8 with how busy the cores were (bench/placement.ts), and `input.shrink_on_load` on against off
 * (bench/shrink-on-load.ts).
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { ModelRepository } from '../src/models/index.js';
import { toSegmentationJson } from '../src/serving/encode.js';
import type { Segmentation } from '../src/serving/pipeline.js';
import { InferenceService } from '../src/serving/service.js';
import { rawBaseline } from './baseline.js';
import { benchBatching } from './batching.js';
import { benchHttp, MODEL_PHOTOS } from './http.js';
import { benchInt8 } from './int8.js';
import { benchJobs } from './jobs.js';
import { benchMasks } from './masks.js';
import { benchMonitoring } from './monitoring.js';
import { benchPlacement } from './placement.js';
import { benchShadow } from './shadow.js';
import { benchShrinkOnLoad } from './shrink-on-load.js';
import { percentiles, table } from './stats.js';

const projectRoot = resolve(import.meta.dirname, '..');
const shared = process.env.SEGSERVE_SHARED ?? resolve(projectRoot, '..', 'shared');
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const PER_ROUND = Number(process.env.BENCH_PER_ROUND ?? 8);

const STAGES = ['decode', 'preprocess', 'queue', 'infer', 'postprocess', 'encode'] as const;

async function benchModel(repository: ModelRepository, model: string, photo: string): Promise<string> {
  const loaded = repository.resolve(model);
  const service = new InferenceService(repository);
  const segmentOnce = async (): Promise<Segmentation> => {
    const ticket = service.admit({ model }, { source: 'cli' });
    try {
      return await service.segment(ticket, bytes);
    } finally {
      ticket.release();
    }
  };
  const bytes = await readFile(photo);
  const baseline = await rawBaseline(loaded, bytes);
  // Warm-up, untimed: both paths run a few times before anything is measured.
  await baseline.time(3);
  for (let i = 0; i < 3; i++) toSegmentationJson(await segmentOnce());

  const raw: number[] = [];
  const endToEnd: number[] = [];
  const stages: Record<(typeof STAGES)[number], number[]> = {
    decode: [],
    preprocess: [],
    queue: [],
    infer: [],
    postprocess: [],
    encode: [],
  };
  for (let round = 0; round < ROUNDS; round++) {
    raw.push(...(await baseline.time(PER_ROUND)));
    for (let i = 0; i < PER_ROUND; i++) {
      const t0 = performance.now();
      const seg = await segmentOnce();
      const json = toSegmentationJson(seg);
      JSON.stringify(json);
      endToEnd.push(performance.now() - t0);
      for (const s of STAGES) stages[s].push(json.timings[s]);
    }
  }
  await baseline.release();

  const p = Object.fromEntries(STAGES.map((s) => [s, percentiles(stages[s])])) as Record<
    (typeof STAGES)[number],
    ReturnType<typeof percentiles>
  >;
  const rawP = percentiles(raw);
  const e2eP = percentiles(endToEnd);
  const nonInfer = STAGES.filter((s) => s !== 'infer').reduce((sum, s) => sum + p[s].p50, 0);
  const rows = [
    ...STAGES.map((s) => [s, p[s].p50, p[s].p95]),
    ['end-to-end', e2eP.p50, e2eP.p95],
    ['raw session.run', rawP.p50, rawP.p95],
  ];
  return [
    `## ${model} (v${loaded.version}) on ${photo.split('/').slice(-1)[0]}, ${raw.length} runs each`,
    table(['stage (ms)', 'p50', 'p95'], rows as (string | number)[][]),
    `end-to-end / raw session.run (p50): ${(e2eP.p50 / rawP.p50).toFixed(3)}x`,
    `everything but infer / infer (p50 sums): ${((nonInfer / p.infer.p50) * 100).toFixed(1)}%` +
      ` (queue+message passing included in end-to-end: ${(((e2eP.p50 - p.infer.p50) / p.infer.p50) * 100).toFixed(1)}%)`,
    '',
  ].join('\n');
}

async function main(): Promise<void> {
  if (!existsSync(join(shared, 'models'))) {
    console.log(`SKIPPED model benchmarks: ${join(shared, 'models')} is missing (set SEGSERVE_SHARED)`);
  } else {
    const repository = await ModelRepository.open(join(projectRoot, 'model-repository'), {
      models: MODEL_PHOTOS.map((c) => c.model),
    });
    try {
      for (const c of MODEL_PHOTOS) {
        const status = repository.get(c.model);
        if (status?.state !== 'ready') {
          console.log(`## ${c.model}: not ready (${status?.error?.message ?? 'missing'})\n`);
          continue;
        }
        console.log(await benchModel(repository, c.model, c.photo));
      }
    } finally {
      await repository.close();
    }
  }
  console.log('## masks');
  const maskRows = await benchMasks();
  console.log(
    table(
      ['operation (ms)', 'p50', 'p95'],
      maskRows.map((r) => [r.name, r.p50Ms, r.p95Ms]),
    ),
  );
}

await main();
// The HTTP runs last, so the in-process numbers above are not disturbed by their servers.
console.log(await benchHttp());
console.log(await benchPlacement());
console.log(await benchMonitoring());
console.log(await benchShadow());
console.log(await benchJobs());
console.log(await benchInt8());
console.log(await benchBatching());
console.log(await benchShrinkOnLoad());
