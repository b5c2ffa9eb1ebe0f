/**
 * Memory under large images: 30 concurrent overlay requests of a 6000x6000 PNG (36 M pixels, under the model's
 * max_pixels of 40 M, about 100 kB on the wire) to `segserve serve` in its own process. Every request is
 * answered (200, or 503 with a numeric Retry-After >= 1), /health keeps answering, and the process's resident
 * memory stays under a stated bound: the server budgets decoded pixels in flight instead of decoding whatever
 * arrives. Without such a budget this load took the process to 5.5 GB.
 *
 * Runs on its own in `npm run test:timing` (it keeps both cores and several GB busy for a while).
 */
import { rm } from 'node:fs/promises';
import { Agent } from 'node:http';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closedLoop, type LoadResult, p50p99, post, probeHealth, sum, tally } from '../helpers/http-load.js';
import { rssBytes, type SegserveProcess, startSegserve } from '../helpers/segserve-process.js';
import { tinySoftmaxModel } from '../helpers/tiny-models.js';
import { writeRepository } from './helpers.js';

const SIDE = 6000;
const PIXELS = SIDE * SIDE;
const MAX_PIXELS = 40_000_000;
const CLIENTS = 30;
const MB = 1024 * 1024;
/**
 * Bytes of memory one image in flight may cost per pixel on the overlay path: the decoded RGB image (3), the
 * class map at full size (1), the RGBA colour layer (4), the composited RGB(A) result (4), with room for libvips
 * and PNG encoding buffers (4). Measured here with the code before admission control: 4 of these 36 M-pixel
 * overlays at once raised the RSS by 1.46 GB, ~10 bytes per pixel; 16 leaves room for a different pipeline.
 */
const BYTES_PER_PIXEL = 16;
/**
 * The pixel budget this test allows the server: two images at the model's max_pixels decoded at once (one being
 * composited while the next decodes). A budget of one would be stricter; more than two buys no throughput on
 * two cores.
 */
const PIXELS_IN_FLIGHT = 2 * MAX_PIXELS;
/** Allocator slack: freed buffers that glibc and libvips keep mapped, worker-thread heaps. */
const SLACK_BYTES = 256 * MB;
/** Peak RSS must stay under baseline (server started, one small request served) plus this: about 1.45 GB. */
const RSS_ALLOWANCE_BYTES = PIXELS_IN_FLIGHT * BYTES_PER_PIXEL + SLACK_BYTES;
/** Past this the test kills the server at once, to keep a shared machine alive, and fails. */
const HARD_CAP_BYTES = 6 * 1024 * MB;
const RSS_EVERY_MS = 50;
const HEALTH_EVERY_MS = 100;
const REQUEST_TIMEOUT_MS = 180_000;

/** A 6000x6000 RGB PNG of a few pure-colour blocks on black: 36 M pixels that compress to about 100 kB. */
async function bigPng(): Promise<Buffer> {
  const block = (rgb: [number, number, number], left: number, top: number) => ({
    input: {
      create: {
        width: 1500,
        height: 1500,
        channels: 3 as const,
        background: { r: rgb[0], g: rgb[1], b: rgb[2] },
      },
    },
    left,
    top,
  });
  return sharp({ create: { width: SIDE, height: SIDE, channels: 3, background: { r: 0, g: 0, b: 0 } } })
    .composite([block([255, 0, 0], 500, 500), block([0, 255, 0], 3000, 1000), block([0, 0, 255], 1500, 3500)])
    .png({ compressionLevel: 9 })
    .toBuffer();
}

let dir: string;
let server: SegserveProcess;
let image: Buffer;

beforeAll(async () => {
  const model = tinySoftmaxModel();
  dir = await writeRepository({
    tiny: {
      bytes: model.bytes,
      config: { ...(model.config as object), max_pixels: MAX_PIXELS },
      labels: model.labels,
    },
  });
  image = await bigPng();
  server = await startSegserve({ models: dir });
});

afterAll(async () => {
  await server?.kill();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe(`${CLIENTS} concurrent overlays of a ${SIDE}x${SIDE} PNG`, () => {
  it('stay under the memory bound, every request answered, /health answering', {
    timeout: 240_000,
  }, async () => {
    expect(PIXELS).toBeLessThan(MAX_PIXELS);
    const url = new URL('/v1/models/tiny/segment?format=overlay', server.base);
    // One small request first, so the baseline includes a warmed-up pipeline and worker.
    const small = await sharp(image).resize(64, 64).png().toBuffer();
    const warm = await post(new Agent(), url, small, { contentType: 'image/png', timeoutMs: 30_000 });
    expect(warm.status).toBe(200);
    const baseline = (await rssBytes(server.pid)) ?? Number.NaN;
    const bound = baseline + RSS_ALLOWANCE_BYTES;

    let peak = baseline;
    let killed = false;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const rss = await rssBytes(server.pid);
        if (rss !== undefined) peak = Math.max(peak, rss);
        if (rss !== undefined && rss > HARD_CAP_BYTES && !killed) {
          killed = true;
          server.child.kill('SIGKILL');
        }
        await new Promise((resolve) => setTimeout(resolve, RSS_EVERY_MS));
      }
    })();
    const probe = probeHealth(server.base, HEALTH_EVERY_MS, 2_000);
    const started = performance.now();
    let load: LoadResult;
    try {
      load = await closedLoop({
        url,
        bodies: [image],
        concurrency: CLIENTS,
        requestsPerClient: 1,
        durationMs: REQUEST_TIMEOUT_MS,
        timeoutMs: REQUEST_TIMEOUT_MS,
      });
    } finally {
      await probe.stop();
      sampling = false;
      await sampler;
    }
    const seconds = (performance.now() - started) / 1000;
    const counts = tally(load.outcomes);
    const health = p50p99(probe.latencies);
    console.log(
      `memory: ${CLIENTS} x ${SIDE}x${SIDE} overlay (${(image.length / 1024).toFixed(0)} kB PNG) in ${seconds.toFixed(1)} s: ` +
        `${counts.ok} x 200, ${sum(counts.refused)} x 503 ${JSON.stringify(counts.refused)}, other ${JSON.stringify(counts.other)}, ` +
        `no answer ${JSON.stringify(counts.errors)}; RSS baseline ${(baseline / MB).toFixed(0)} MB, ` +
        `peak ${(peak / MB).toFixed(0)} MB, bound ${(bound / MB).toFixed(0)} MB${killed ? ' (KILLED at the hard cap)' : ''}; ` +
        `health ${probe.latencies.length} probes, p50 ${health.p50.toFixed(1)} ms, p99 ${health.p99.toFixed(1)} ms, ` +
        `statuses ${JSON.stringify([...new Set(probe.statuses)])}`,
    );

    expect.soft(load.outcomes.length, 'requests sent').toBe(CLIENTS);
    expect.soft(counts.errors, 'requests without an HTTP answer, by reason').toEqual({});
    expect.soft(counts.other, 'answers other than 200 and 503').toEqual({});
    expect.soft(counts.badRetryAfter, '503s without a numeric Retry-After >= 1').toBe(0);
    expect.soft(counts.ok, 'overlays served').toBeGreaterThan(0);
    expect
      .soft(peak / MB, `peak RSS MB (baseline ${(baseline / MB).toFixed(0)} MB)`)
      .toBeLessThan(bound / MB);
    expect.soft(probe.statuses.length, 'health probes').toBeGreaterThan(0);
    expect.soft([...new Set(probe.statuses)], 'health statuses (0: no answer within 2 s)').toEqual([200]);
  });
});
