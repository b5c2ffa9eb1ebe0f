/**
 * Overload with the real models, the server as a black box in its own process (`segserve serve`, as in
 * production), 300 keep-alive clients posting real photos. Per model (MediaPipe selfie, YOLOv8n-seg):
 *
 * - served throughput under overload stays >= 0.8x the unloaded throughput measured just before, in this run;
 * - every request gets an HTTP answer (no reset, no hang); each refusal is 503 QUEUE_FULL with a numeric
 *   Retry-After of at least 1 second;
 * - nothing is decoded for a refused request: by the /health counters, decoded grows by exactly the number of
 *   admitted requests that were answered (200s plus any image errors) and never by more than admitted;
 * - /health answers within 50 ms at p99 throughout.
 *
 * Then SIGTERM with 300 clients in flight: every request in flight is answered (200, or 503 SERVER_CLOSING /
 * QUEUE_FULL) and the process exits 0 within its grace period.
 *
 * Latency-sensitive: `npm test` runs it on its own (`npm run test:timing`), never beside other test files.
 * Clients honour Retry-After (see test/helpers/http-load.ts). Every phase is bounded in time; the file takes
 * about 2 minutes.
 */
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { parse } from 'yaml';
import {
  closedLoop,
  type LoadResult,
  p50p99,
  probeHealth,
  servedPerSecond,
  sum,
  tally,
} from '../helpers/http-load.js';
import { REPOSITORY_DIR } from '../helpers/paths.js';
import {
  type RequestCounters,
  requestCounters,
  type SegserveProcess,
  startSegserve,
} from '../helpers/segserve-process.js';
import { describeWithShared, SHARED_DIR, sharedPath } from '../helpers/shared.js';

const CLIENTS = 300;
const UNLOADED_MS = 8_000;
const OVERLOAD_MS = 30_000;
/** A load balancer's health check, at a much higher rate than any real one. */
const HEALTH_EVERY_MS = 75;
const HEALTH_P99_MS = 50;
/** Served throughput under overload, as a share of the unloaded throughput. */
const MIN_THROUGHPUT_RATIO = 0.8;
/**
 * No answer within this long counts as a hang. A request the server admits waits at most its queue's worth of
 * inferences: far less than this on either model.
 */
const REQUEST_TIMEOUT_MS = 15_000;
/** `--shutdown-timeout`: the drain after SIGTERM must end (exit 0) within this. */
const GRACE_MS = 20_000;
/** Load before SIGTERM, so that queues are full and requests are in flight everywhere. */
const LOAD_BEFORE_SIGTERM_MS = 4_000;
/**
 * A request written to a keep-alive connection in the last moment before SIGTERM may race the server closing
 * that (to it, idle) connection; no server can answer those. They are reported, not failed.
 */
const RACE_MS = 50;
const PHOTOS_PER_MODEL = 16;

const MODELS = [
  { name: 'mediapipe-selfie', photos: 'datasets/human-segmentation/images' },
  { name: 'yolov8n-seg', photos: 'datasets/coco-val2017-mini/images' },
];

interface Row {
  model: string;
  [column: string]: string | number;
}
const rows: Row[] = [];

async function photos(folder: string): Promise<Buffer[]> {
  const names = (await readdir(sharedPath(folder))).filter((n) => n.endsWith('.jpg')).sort();
  return Promise.all(names.slice(0, PHOTOS_PER_MODEL).map((n) => readFile(sharedPath(folder, n))));
}

/** The `instances` of a shipped model's config.yaml (1 when unset). */
async function instancesOf(model: string): Promise<number> {
  const config = parse(await readFile(join(REPOSITORY_DIR, model, 'config.yaml'), 'utf8')) as {
    instances?: number;
  };
  return config.instances ?? 1;
}

function delta(before: RequestCounters, after: RequestCounters): RequestCounters {
  return {
    admitted: after.admitted - before.admitted,
    refused: after.refused - before.refused,
    decoded: after.decoded - before.decoded,
    in_flight: after.in_flight,
  };
}

/** The counters, or the error that says why there are none (so the load still runs and reports). */
const countersOrError = (base: string) => requestCounters(base).catch((error: Error) => error);

/** The rows so far as tables, one per set of columns (the per-model rows, the SIGTERM row). */
function printRows(): void {
  const cell = (v: string | number | undefined) =>
    v === undefined ? '' : typeof v === 'number' ? (Number.isInteger(v) ? String(v) : v.toFixed(2)) : v;
  const groups = new Map<string, Row[]>();
  for (const row of rows) {
    const key = Object.keys(row).join('|');
    groups.set(key, [...(groups.get(key) ?? []), row]);
  }
  const tables = [...groups.values()].map((group) => {
    const columns = Object.keys(group[0]);
    const widths = columns.map((c) => Math.max(c.length, ...group.map((r) => cell(r[c]).length)));
    const line = (values: string[]) => values.map((v, i) => v.padStart(widths[i])).join('  ');
    return [line(columns), ...group.map((r) => line(columns.map((c) => cell(r[c]))))].join('\n');
  });
  if (tables.length > 0) console.log(['overload-real:', ...tables].join('\n\n'));
}

function suite(): void {
  let server: SegserveProcess;
  let repositoryDir: string;
  const bodies = new Map<string, Buffer[]>();

  beforeAll(async () => {
    for (const model of MODELS) bodies.set(model.name, await photos(model.photos));
    // Only the two models under test (the shipped repository also loads two more), read from the shared folder.
    repositoryDir = await mkdtemp(join(tmpdir(), 'segserve-overload-real-'));
    for (const model of MODELS) {
      await mkdir(join(repositoryDir, model.name));
      await writeFile(
        join(repositoryDir, model.name, 'config.yaml'),
        await readFile(join(REPOSITORY_DIR, model.name, 'config.yaml')),
      );
    }
    server = await startSegserve({
      models: repositoryDir,
      args: ['--shutdown-timeout', String(GRACE_MS)],
      env: { SEGSERVE_SHARED: SHARED_DIR },
    });
    console.log(`overload-real: segserve (${server.entry}) pid ${server.pid} at ${server.base}`);
  });

  afterAll(async () => {
    printRows();
    await server?.kill();
    if (repositoryDir) await rm(repositoryDir, { recursive: true, force: true });
  });

  for (const model of MODELS) {
    it(`${model.name}: 300 clients keep >= 0.8x throughput, get answers, decode nothing refused, health < 50 ms`, {
      timeout: 90_000,
    }, async () => {
      const url = new URL(`/v1/models/${model.name}/segment`, server.base);
      const photosOf = bodies.get(model.name) ?? [];
      const concurrency = (await instancesOf(model.name)) + 1;
      const unloadedRun = await closedLoop({ url, bodies: photosOf, concurrency, durationMs: UNLOADED_MS });
      const unloaded = servedPerSecond(unloadedRun);
      expect(tally(unloadedRun.outcomes).ok, 'unloaded requests all served').toBe(
        unloadedRun.outcomes.length,
      );

      const before = await countersOrError(server.base);
      const probe = probeHealth(server.base, HEALTH_EVERY_MS);
      let loaded: LoadResult;
      try {
        loaded = await closedLoop({
          url,
          bodies: photosOf,
          concurrency: CLIENTS,
          durationMs: OVERLOAD_MS,
          timeoutMs: REQUEST_TIMEOUT_MS,
        });
      } finally {
        await probe.stop();
      }
      const after = await countersOrError(server.base);

      const served = servedPerSecond(loaded);
      const counts = tally(loaded.outcomes);
      const health = p50p99(probe.latencies);
      const answeredNot503 = counts.ok + sum(counts.other);
      const moved = before instanceof Error || after instanceof Error ? undefined : delta(before, after);
      rows.push({
        model: model.name,
        [`unloaded req/s (c=${concurrency})`]: unloaded,
        [`c=${CLIENTS} 200/s`]: served,
        ratio: served / unloaded,
        sent: counts.sent,
        '200s': counts.ok,
        '503s': sum(counts.refused),
        other: sum(counts.other),
        'no answer': sum(counts.errors),
        'bad Retry-After': counts.badRetryAfter,
        'health p50 ms': health.p50,
        'health p99 ms': health.p99,
        probes: probe.latencies.length,
        'admitted Δ': moved?.admitted ?? 'n/a',
        'refused Δ': moved?.refused ?? 'n/a',
        'decoded Δ': moved?.decoded ?? 'n/a',
      });
      printRows();

      // Every assertion is soft, so one run reports every broken promise, not just the first.
      expect.soft(counts.errors, 'requests without an HTTP answer (reset, hang), by reason').toEqual({});
      expect.soft(counts.other, 'answers other than 200 and 503, by status').toEqual({});
      expect
        .soft(Object.keys(counts.refused), '503 codes')
        .toEqual(sum(counts.refused) > 0 ? ['QUEUE_FULL'] : []);
      expect.soft(counts.badRetryAfter, '503s without a numeric Retry-After >= 1').toBe(0);
      expect
        .soft(served, `200s/s under ${CLIENTS} clients vs ${unloaded.toFixed(2)}/s unloaded`)
        .toBeGreaterThanOrEqual(MIN_THROUGHPUT_RATIO * unloaded);
      expect.soft(probe.latencies.length, 'health probes answered').toBeGreaterThan(OVERLOAD_MS / 200);
      expect.soft([...new Set(probe.statuses)], 'health statuses').toEqual([200]);
      expect.soft(health.p99, 'health p99 ms').toBeLessThan(HEALTH_P99_MS);

      expect.soft(before, 'GET /health requests counters before the load').not.toBeInstanceOf(Error);
      expect.soft(after, 'GET /health requests counters after the load').not.toBeInstanceOf(Error);
      if (moved) {
        // Decoding happens for admitted requests only: each 200 (and each image error, none with these photos)
        // is one decode; a refused request is never decoded.
        expect.soft(moved.decoded, 'decoded Δ = 200s + other non-503 answers').toBe(answeredNot503);
        expect.soft(moved.decoded, 'decoded Δ <= admitted Δ').toBeLessThanOrEqual(moved.admitted);
        expect.soft(moved.admitted, 'admitted Δ >= 200s').toBeGreaterThanOrEqual(counts.ok);
        expect.soft(moved.refused, 'refused Δ = QUEUE_FULL answers').toBe(counts.refused.QUEUE_FULL ?? 0);
        expect.soft(moved.in_flight, 'in_flight once every answer is in').toBe(0);
      }
    });
  }

  it('SIGTERM with 300 clients in flight: each gets an answer, exit 0 within the grace period', {
    timeout: 60_000,
  }, async () => {
    let killedAt = Number.POSITIVE_INFINITY;
    const stop = () => performance.now() >= killedAt;
    const loads = MODELS.map((model) =>
      closedLoop({
        url: new URL(`/v1/models/${model.name}/segment`, server.base),
        bodies: bodies.get(model.name) ?? [],
        concurrency: CLIENTS / MODELS.length,
        durationMs: LOAD_BEFORE_SIGTERM_MS + GRACE_MS,
        timeoutMs: GRACE_MS,
        stop,
      }),
    );
    await new Promise((resolve) => setTimeout(resolve, LOAD_BEFORE_SIGTERM_MS));
    killedAt = performance.now();
    server.child.kill('SIGTERM');
    const outcomes = (await Promise.all(loads)).flatMap((l) => l.outcomes);
    const exit = await Promise.race([
      server.exited,
      new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), GRACE_MS + 5_000)),
    ]);

    const inFlight = outcomes.filter((o) => o.sentAt < killedAt && o.doneAt >= killedAt);
    const raced = inFlight.filter((o) => o.status === 0 && o.sentAt >= killedAt - RACE_MS);
    const counted = inFlight.filter((o) => !raced.includes(o));
    const counts = tally(counted);
    const lastAnswer = Math.max(...inFlight.map((o) => o.doneAt)) - killedAt;
    rows.push({
      model: 'SIGTERM (both)',
      'in flight at SIGTERM': inFlight.length,
      '200s': counts.ok,
      '503s': sum(counts.refused),
      '503 codes': Object.keys(counts.refused).join(',') || '-',
      other: sum(counts.other),
      'no answer': sum(counts.errors),
      'raced (not counted)': raced.length,
      'last answer ms': lastAnswer,
      'exit code': exit ? String(exit.code ?? exit.signal) : 'still running',
      'exit ms': exit ? exit.at - killedAt : Number.NaN,
    });
    printRows();
    if (!exit) console.log(`overload-real: server output tail:\n${server.output().slice(-3000)}`);

    // Admission lets at most instances + max_queue requests per model in (2 x 65 here); the refused clients wait
    // out their Retry-After, so they have nothing in flight. Most of the admitted places must be taken.
    expect.soft(inFlight.length, 'requests in flight at SIGTERM').toBeGreaterThan(50);
    expect.soft(counts.errors, 'in-flight requests without an HTTP answer, by reason').toEqual({});
    expect.soft(counts.other, 'in-flight answers other than 200 and 503').toEqual({});
    for (const code of Object.keys(counts.refused)) {
      expect.soft(['SERVER_CLOSING', 'QUEUE_FULL'], `503 code ${code}`).toContain(code);
    }
    expect.soft(exit, `exit within the ${GRACE_MS} ms grace period`).toBeDefined();
    expect.soft(exit?.code, 'exit code').toBe(0);
    if (exit) expect.soft(exit.at - killedAt, 'ms from SIGTERM to exit').toBeLessThan(GRACE_MS);
  });
}

// Both the models and the photos come from the shared folder; either missing skips with a SKIPPED message.
describeWithShared('real models under 300 clients, server in its own process', ['models'], () =>
  describeWithShared('posting real photos', ['datasets'], suite),
);
