/**
 * Where the work goes on the cores, end to end over HTTP: for every shared model, each placement of its
 * sessions (instances x intra-op threads) is served by its own `segserve serve` process, and measured at
 * concurrency 1, 2, 4 and 8 against raw `session.run` in the same run: HTTP p50, requests per second, and how
 * busy the cores were (the server's CPU time over the wall time, in cores: 2.00 means both cores were busy the
 * whole time). The raw floor is the best the runtime itself reached over all placements: the lowest
 * `session.run` p50 of one session, and the most runs per second of the placement's sessions running back to
 * back side by side. That is how the shipped `instances` and `threads` of each model were chosen.
 *
 * `npx tsx bench/placement.ts` prints the report; `benchPlacement()` returns it.
 */
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type LoadedVersion, ModelRepository } from '../src/models/index.js';
import { writeScratchRepository } from '../test/helpers/batched-model.js';
import { startSegserve } from '../test/helpers/segserve-process.js';
import { rawSessions } from './baseline.js';
import { counted, jpeg640x480, MODEL_PHOTOS } from './http.js';
import { percentiles, table } from './stats.js';

const projectRoot = resolve(import.meta.dirname, '..');
const shared = process.env.SEGSERVE_SHARED ?? resolve(projectRoot, '..', 'shared');
const LEVELS = [1, 2, 4, 8];
/** Requests per client at each level (at least 24 per level). */
const PER_CLIENT = Number(process.env.BENCH_PLACEMENT_PER_CLIENT ?? 8);
const RAW_RUNS = Number(process.env.BENCH_PLACEMENT_RAW_RUNS ?? 24);
const PLACEMENTS = [
  { instances: 1, intraOp: 1 },
  { instances: 1, intraOp: 2 },
  { instances: 2, intraOp: 1 },
];

type Placement = (typeof PLACEMENTS)[number];

/** User plus system CPU seconds of a process, all its threads (Linux /proc; clock ticks of 10 ms). */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name, which is in parentheses and may itself contain spaces.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

interface Raw {
  /** One session, `session.run` back to back: its p50 in ms. */
  p50: number;
  /** The placement's sessions side by side, each back to back: runs per second together. */
  throughput: number;
}

async function measureRaw(loaded: LoadedVersion, body: Uint8Array, placement: Placement): Promise<Raw> {
  const config = { ...loaded.config, threads: { intra_op: placement.intraOp, inter_op: 1 } };
  const raw = await rawSessions({ ...loaded, config }, body, placement.instances);
  try {
    await raw.sideBySide(3);
    const alone = await raw.time(RAW_RUNS);
    return { p50: percentiles(alone).p50, throughput: await raw.sideBySide(RAW_RUNS) };
  } finally {
    await raw.release();
  }
}

interface LevelResult {
  concurrency: number;
  throughput: number;
  p50: number;
  busyCores: number;
  failures: number;
}

async function measureServed(
  loaded: LoadedVersion,
  placement: Placement,
  body: Buffer,
  dir: string,
): Promise<LevelResult[]> {
  const model = loaded.name;
  await writeScratchRepository(dir, shared, [
    {
      name: model,
      shipped: model,
      onnx: loaded.modelPath,
      overrides: { instances: placement.instances, threads: { intra_op: placement.intraOp, inter_op: 1 } },
    },
  ]);
  const server = await startSegserve({ models: dir, env: { SEGSERVE_SHARED: shared } });
  try {
    const url = new URL(`/v1/models/${model}/segment`, server.base);
    await counted(url, body, 2, 8);
    const results: LevelResult[] = [];
    for (const concurrency of LEVELS) {
      const cpuBefore = cpuSeconds(server.pid);
      const started = performance.now();
      const level = await counted(url, body, concurrency, Math.max(24, PER_CLIENT * concurrency));
      const wall = (performance.now() - started) / 1000;
      results.push({
        concurrency,
        throughput: level.throughput,
        p50: percentiles(level.latencies).p50,
        busyCores: (cpuSeconds(server.pid) - cpuBefore) / wall,
        failures: level.failures,
      });
    }
    return results;
  } finally {
    await server.kill();
  }
}

const label = (p: Placement) => `${p.instances} x ${p.intraOp}`;

async function benchModel(loaded: LoadedVersion, photo: string, scratch: string): Promise<string> {
  const model = loaded.name;
  const body = await jpeg640x480(photo);
  const rows: (string | number)[][] = [];
  const raws = new Map<Placement, Raw>();
  const served = new Map<Placement, LevelResult[]>();
  for (const [i, placement] of PLACEMENTS.entries()) {
    raws.set(placement, await measureRaw(loaded, body, placement));
    served.set(placement, await measureServed(loaded, placement, body, join(scratch, `${model}-${i}`)));
  }
  const rawP50 = Math.min(...[...raws.values()].map((r) => r.p50));
  const rawThroughput = Math.max(...[...raws.values()].map((r) => r.throughput));
  for (const placement of PLACEMENTS) {
    const raw = raws.get(placement) as Raw;
    for (const level of served.get(placement) ?? []) {
      rows.push([
        level.concurrency === 1 ? label(placement) : '',
        String(level.concurrency),
        level.throughput,
        level.p50,
        `${(level.p50 / rawP50).toFixed(2)}x`,
        `${(level.throughput / rawThroughput).toFixed(2)}x`,
        level.busyCores,
        level.concurrency === 1 ? `${raw.p50.toFixed(1)} ms, ${raw.throughput.toFixed(1)}/s` : '',
        String(level.failures),
      ]);
    }
  }
  const shipped = PLACEMENTS.find(
    (p) => p.instances === loaded.config.instances && p.intraOp === loaded.config.threads.intra_op,
  );
  const shippedLevels = shipped ? served.get(shipped) : undefined;
  const goal = model === 'mediapipe-selfie' ? 2 : 1.2;
  const summary = shippedLevels
    ? (() => {
        const c1 = shippedLevels[0].p50 / rawP50;
        const best = Math.max(...shippedLevels.map((l) => l.throughput)) / rawThroughput;
        return (
          `shipped placement ${label(shipped as Placement)}: concurrency 1 p50 / raw = ${c1.toFixed(2)}x ` +
          `(goal <= ${goal}x: ${c1 <= goal ? 'met' : 'NOT met'}); best throughput / raw = ${best.toFixed(2)}x ` +
          `(goal >= 0.9x: ${best >= 0.9 ? 'met' : 'NOT met'})`
        );
      })()
    : `shipped placement ${loaded.config.instances} x ${loaded.config.threads.intra_op} is not among those measured`;
  return [
    `## ${model}: 640x480 JPEG; raw floor: session.run p50 ${rawP50.toFixed(2)} ms (one session), ` +
      `${rawThroughput.toFixed(2)} runs/s (sessions side by side), the best over the placements`,
    table(
      [
        'instances x intra-op',
        'concurrency',
        '200/s',
        'p50 ms',
        'p50 / raw',
        '200/s / raw',
        'busy cores',
        'raw of this placement',
        'failed',
      ],
      rows,
    ),
    summary,
    '',
  ].join('\n');
}

export async function benchPlacement(): Promise<string> {
  if (!existsSync(join(shared, 'models'))) {
    return `SKIPPED placement benchmarks: ${join(shared, 'models')} is missing (set SEGSERVE_SHARED)`;
  }
  const repository = await ModelRepository.open(join(projectRoot, 'model-repository'), {
    models: MODEL_PHOTOS.map((c) => c.model),
  });
  const scratch = await mkdtemp(join(tmpdir(), 'segserve-placement-'));
  try {
    const sections = [
      `# Placement: instances x intra-op threads, HTTP on loopback, ${availableParallelism()} cores ` +
        '(busy cores: the server process CPU time / wall time)',
      '',
    ];
    for (const c of MODEL_PHOTOS) {
      if (repository.get(c.model)?.state !== 'ready') {
        sections.push(`## ${c.model}: not ready`, '');
        continue;
      }
      sections.push(await benchModel(repository.resolve(c.model), c.photo, scratch));
    }
    return sections.join('\n');
  } finally {
    await repository.close();
    await rm(scratch, { recursive: true, force: true });
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  console.log(await benchPlacement());
}
