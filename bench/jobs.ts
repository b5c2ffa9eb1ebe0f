/**
 * Batch-job throughput against the plain CLI, on the same images and model (mediapipe-selfie from the shipped
 * repository, on human-segmentation photos from ../shared), all in one run so the ratios share the machine's
 * state:
 * - `segserve predict` over the folder (its own img/s, model load excluded);
 * - a job through `segserve serve` (API only) and one `segserve worker`, then two, on the machine's Redis and
 *   PostgreSQL with a filesystem blob store shared by the processes; images per second from submit to the
 *   job's end.
 * Each worker has its own model pools, so on 2 cores a second worker mostly competes with the first: the number
 * says what scaling out on one machine buys (it pays on more machines). `npx tsx bench/jobs.ts` prints the
 * report; `benchJobs()` returns it.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import type { JobView } from '../src/jobs/wire-types.js';
import { openBlobStore } from '../src/storage/index.js';
import { freshDatabase, postgresProblem } from '../test/helpers/postgres.js';
import { redisProblem, TEST_REDIS_URL } from '../test/helpers/redis.js';
import { type SegserveProcess, startSegserve } from '../test/helpers/segserve-process.js';
import { table } from './stats.js';

const projectRoot = resolve(import.meta.dirname, '..');
const shared = process.env.SEGSERVE_SHARED ?? resolve(projectRoot, '..', 'shared');
const IMAGES = Number(process.env.BENCH_JOB_IMAGES ?? 120);
const MODEL = 'mediapipe-selfie';

async function predictRate(models: string, images: string, out: string): Promise<number> {
  const { stdout } = await promisify(execFile)(
    process.execPath,
    [
      '--import',
      'tsx',
      join(projectRoot, 'src/cli/main.ts'),
      'predict',
      images,
      '--models',
      models,
      '--model',
      MODEL,
      '--out',
      out,
    ],
    { cwd: projectRoot, maxBuffer: 16 * 1024 * 1024 },
  );
  const rate = /\(([\d.]+) img\/s\)/.exec(stdout);
  if (!rate) throw new Error(`predict printed no rate:\n${stdout.slice(-2000)}`);
  return Number(rate[1]);
}

async function jobRate(base: string, keys: string[], output: string): Promise<number> {
  const started = performance.now();
  const answer = await fetch(`${base}/v1/jobs`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: MODEL, inputs: keys.map((key) => ({ key })), output }),
  });
  if (answer.status !== 201) throw new Error(`submit answered ${answer.status}: ${await answer.text()}`);
  const { id } = (await answer.json()) as JobView;
  for (;;) {
    const job = (await (await fetch(`${base}/v1/jobs/${id}`)).json()) as JobView & { errors: unknown[] };
    if (job.state !== 'running') {
      if (job.progress.done !== keys.length) {
        throw new Error(
          `job ended ${job.state}: ${JSON.stringify(job.progress)} ${JSON.stringify(job.errors[0])}`,
        );
      }
      return keys.length / ((performance.now() - started) / 1000);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

export async function benchJobs(): Promise<string> {
  const photos = join(shared, 'datasets/human-segmentation/images');
  if (!existsSync(photos)) return `## jobs\nSKIPPED: ${photos} is missing (set SEGSERVE_SHARED)\n`;
  const problem = (await postgresProblem()) ?? (await redisProblem());
  if (problem) return `## jobs\nSKIPPED: ${problem}\n`;
  // The shipped config names its ONNX file under ${SEGSERVE_SHARED}: the copy below must find it from anywhere.
  process.env.SEGSERVE_SHARED = shared;
  const dir = await mkdtemp(join(tmpdir(), 'segserve-bench-jobs-'));
  const processes: SegserveProcess[] = [];
  const database = await freshDatabase();
  try {
    const models = join(dir, 'models');
    await mkdir(models);
    await cp(join(projectRoot, 'model-repository', MODEL), join(models, MODEL), { recursive: true });
    const names = (await readdir(photos))
      .filter((name) => name.endsWith('.jpg'))
      .sort()
      .slice(0, IMAGES);
    const images = join(dir, 'images');
    await mkdir(images);
    const blobs = join(dir, 'blobs');
    const store = await openBlobStore({ kind: 'filesystem', root: blobs });
    for (const name of names) {
      await cp(join(photos, name), join(images, name));
      await store.put(`in/${name}`, await readFile(join(photos, name)));
    }
    await store.close();
    const keys = names.map((name) => `in/${name}`);
    const predict = await predictRate(models, images, join(dir, 'predict-out'));

    const env = {
      SEGSERVE_REDIS_URL: TEST_REDIS_URL,
      SEGSERVE_REDIS_PREFIX: `segserve-bench-${process.pid}`,
      SEGSERVE_DATABASE_URL: database.url,
      SEGSERVE_BLOB_URL: pathToFileURL(blobs).href,
    };
    const api = await startSegserve({
      models,
      args: ['--job-concurrency', '0', '--data-dir', join(dir, 'api')],
      env,
    });
    processes.push(api);
    const rates: number[] = [];
    for (const workers of [1, 2]) {
      while (processes.length - 1 < workers) {
        processes.push(
          await startSegserve({
            command: 'worker',
            models,
            args: ['--concurrency', '2', '--data-dir', join(dir, `worker-${processes.length}`)],
            env,
          }),
        );
      }
      // One short job first, so every worker has warmed its pools before the measured one.
      await jobRate(api.base, keys.slice(0, 4), `warm-${workers}/`);
      rates.push(await jobRate(api.base, keys, `out-${workers}/`));
    }
    return [
      `## jobs: ${MODEL} on ${names.length} human-segmentation photos`,
      table(
        ['how', 'images/s', 'ratio to predict'],
        [
          ['segserve predict (one process)', predict.toFixed(2), '1.00'],
          ['job, API + 1 worker (Redis, PostgreSQL)', rates[0].toFixed(2), (rates[0] / predict).toFixed(2)],
          ['job, API + 2 workers', rates[1].toFixed(2), (rates[1] / predict).toFixed(2)],
        ],
      ),
      '',
    ].join('\n');
  } finally {
    for (const process of processes) await process.kill();
    await database.drop();
    await rm(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) console.log(await benchJobs());
