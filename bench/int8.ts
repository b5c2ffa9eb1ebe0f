/**
 * float32 against int8 (`segserve models optimize --int8`), for yolov8n-seg and PAN: each model's config is
 * copied into a scratch repository (its float32 file read from ../shared), quantised by the command's own code
 * with its default guard (1 point of mask AP at most on the COCO mini set for yolov8n-seg; PAN has no labelled
 * set of its classes here, so its guard is mask agreement on other photos), and then raw `session.run` of the
 * two files is timed in alternating rounds with the model's own session settings, so machine noise hits both
 * alike. Reports p50 per file, the throughput ratio (runs per second, int8 / float32) and what the guard
 * measured. `npx tsx bench/int8.ts` prints the report; `benchInt8()` returns it.
 */
import { existsSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';
import { formatGuard, type OptimizeCommandOptions, runOptimize } from '../src/cli/optimize.js';
import { isSegserveError } from '../src/errors.js';
import { preprocessForModel } from '../src/image/index.js';
import { ModelRepository } from '../src/models/index.js';
import { buildSessionOptions } from '../src/runtime/session-options.js';
import { percentiles, table, timeIt } from './stats.js';

const projectRoot = resolve(import.meta.dirname, '..');
const shared = process.env.SEGSERVE_SHARED ?? resolve(projectRoot, '..', 'shared');
// The copied configs name their files as ${SEGSERVE_SHARED:-<relative path>}: the scratch folder is elsewhere.
process.env.SEGSERVE_SHARED = shared;
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const PER_ROUND = Number(process.env.BENCH_PER_ROUND ?? 8);

interface Case {
  model: string;
  /** Calibration images (the first 8), and the photo the timing runs on. */
  calibration: string;
  photo: string;
  evalDataset?: string;
  agreement?: string;
}

const coco = join(shared, 'datasets/coco-val2017-mini');
const people = join(shared, 'datasets/human-segmentation/images');
const CASES: Case[] = [
  {
    model: 'yolov8n-seg',
    calibration: join(coco, 'images'),
    photo: join(coco, 'images/000000397133.jpg'),
    evalDataset: join(coco, 'annotations/instances.json'),
  },
  { model: 'pan-skin-clothes-hair', calibration: people, photo: join(people, '1.jpg'), agreement: people },
];

async function quantise(c: Case, scratch: string): Promise<{ float32: string; int8: string; guard: string }> {
  const repositoryDir = join(scratch, 'models');
  await mkdir(join(repositoryDir, c.model), { recursive: true });
  await cp(
    join(projectRoot, 'model-repository', c.model, 'config.yaml'),
    join(repositoryDir, c.model, 'config.yaml'),
  );
  // The first 8 images calibrate; PAN's agreement uses the 24 after them.
  const calibration = join(scratch, 'calibration');
  const agreement = join(scratch, 'agreement');
  await mkdir(calibration, { recursive: true });
  await mkdir(agreement, { recursive: true });
  const files = (await readdir(c.calibration)).filter((f) => f.endsWith('.jpg')).sort();
  for (const f of files.slice(0, 8)) await cp(join(c.calibration, f), join(calibration, f));
  for (const f of files.slice(8, 32)) await cp(join(c.calibration, f), join(agreement, f));
  const options: OptimizeCommandOptions = {
    int8: true,
    calibration,
    models: repositoryDir,
    method: 'minmax',
    percentile: 99.99,
    exclude: [],
    evalDataset: c.evalDataset,
    agreementImages: c.agreement ? agreement : undefined,
    maxLoss: 1,
    minAgreement: 0.8,
    autoExclude: 8,
    json: false,
    dataDir: join(scratch, 'data'),
  };
  const silent = () => ({ tick() {}, stop() {} });
  const outcome = await runOptimize(c.model, { ...options, progress: silent });
  return {
    float32: outcome.source.modelPath,
    int8: join(repositoryDir, c.model, String(outcome.upload.version), 'model.onnx'),
    guard: `${outcome.autoExcluded.length} layers kept in float32; ${formatGuard(outcome.guard)}`,
  };
}

async function benchCase(c: Case): Promise<string[]> {
  const scratch = await mkdtemp(join(tmpdir(), 'segserve-bench-int8-'));
  try {
    let quantised: Awaited<ReturnType<typeof quantise>>;
    try {
      quantised = await quantise(c, scratch);
    } catch (error) {
      // A refusal is a result: the guard found the int8 version too far from the float32 one.
      if (!isSegserveError(error) || error.code !== 'INT8_GUARD_REFUSED') throw error;
      return [`## ${c.model}: float32 against int8`, `no int8 version: ${error.message}`, ''];
    }
    const { float32, int8, guard } = quantised;
    const repository = await ModelRepository.open(join(scratch, 'models'), { models: [c.model] });
    const { config, inputName } = repository.resolve(c.model);
    await repository.close();
    const options = buildSessionOptions({
      intraOpThreads: config.threads.intra_op,
      interOpThreads: config.threads.inter_op,
      executionProvider: config.execution_provider,
    });
    const prepared = await preprocessForModel(await readFile(c.photo), config.input, {
      maxPixels: config.max_pixels,
    });
    const feeds = { [inputName]: new ort.Tensor('float32', prepared.data, prepared.dims) };
    const sessions = [
      await ort.InferenceSession.create(float32, options),
      await ort.InferenceSession.create(int8, options),
    ];
    const samples: number[][] = [[], []];
    try {
      for (const s of sessions) await timeIt(3, 0, () => s.run(feeds));
      for (let round = 0; round < ROUNDS; round++) {
        for (const [i, s] of sessions.entries())
          samples[i].push(...(await timeIt(PER_ROUND, 0, () => s.run(feeds))));
      }
    } finally {
      await Promise.all(sessions.map((s) => s.release()));
    }
    const [f, q] = samples.map(percentiles);
    return [
      `## ${c.model}: float32 against int8 (raw session.run, ${samples[0].length} runs each)`,
      table(
        ['file', 'p50 (ms)', 'p95 (ms)', 'runs/s'],
        [
          ['float32', f.p50, f.p95, 1000 / f.mean],
          ['int8', q.p50, q.p95, 1000 / q.mean],
        ],
      ),
      `int8 / float32 throughput: ${(f.mean / q.mean).toFixed(2)}x (p50: ${(f.p50 / q.p50).toFixed(2)}x)`,
      `guard: ${guard}`,
      '',
    ];
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

export async function benchInt8(): Promise<string> {
  if (!existsSync(join(shared, 'models'))) {
    return `SKIPPED int8 benchmark: ${join(shared, 'models')} is missing (set SEGSERVE_SHARED)`;
  }
  const lines: string[] = [];
  for (const c of CASES) lines.push(...(await benchCase(c)));
  return lines.join('\n');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) console.log(await benchInt8());
