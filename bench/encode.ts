/**
 * Answer encoding inline (on the calling thread) versus in the encoder worker, by image size and kind:
 * `npx tsx bench/encode.ts` prints median wall times and the pool/inline ratio, measured in the same run with
 * rounds alternating, plus how long each kept the main thread busy (the longest gap between 1 ms timer ticks).
 * The numbers behind DEFAULT_ENCODE_INLINE_MAX_PIXELS in src/serving/service.ts.
 */

import sharp from 'sharp';
import { probeImage } from '../src/image/index.js';
import type { PortableEncodeJob } from '../src/serving/encode-job.js';
import { runEncodeJob } from '../src/serving/encode-job.js';
import { EncoderPool } from '../src/serving/encoder-pool.js';
import type { Segmentation } from '../src/serving/pipeline.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);

/**
 * A semantic segmentation of `width`x`height`: 3 classes in blobs on background, a photo-like RGB image, and that
 * image as the JPEG it came from (the pool's overlays decode it in the worker, as for real requests).
 */
async function semantic(width: number, height: number): Promise<Segmentation> {
  const classMap = new Uint8Array(width * height);
  const rgb = new Uint8Array(width * height * 3);
  const areas = [0, 0, 0, 0];
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = y * width + x;
      const u = x / width;
      const v = y / height;
      const c =
        (u - 0.3) ** 2 + (v - 0.4) ** 2 < 0.04
          ? 1
          : (u - 0.7) ** 2 + (v - 0.6) ** 2 < 0.02
            ? 2
            : v > 0.85
              ? 3
              : 0;
      classMap[i] = c;
      areas[c]++;
      rgb[i * 3] = (x * 7) & 255;
      rgb[i * 3 + 1] = (y * 5) & 255;
      rgb[i * 3 + 2] = (x + y) & 255;
    }
  }
  const labels = ['background', 'person', 'car', 'road'];
  const jpeg = await sharp(rgb, { raw: { width, height, channels: 3 } })
    .jpeg({ quality: 90 })
    .toBuffer();
  const info = await probeImage(jpeg, width * height);
  return {
    model: 'bench',
    version: 1,
    result: {
      task: 'semantic',
      width,
      height,
      classMap,
      labels,
      areas: areas
        .map((area, classId) => ({ classId, label: labels[classId], area }))
        .filter((a) => a.area > 0),
      uncertainty: { kind: 'pixel-entropy', meanEntropy: 0.1, maxEntropy: 0.9, uncertainShare: 0.05 },
    },
    image: info,
    timings: { decode: 0, preprocess: 0, queue: 0, infer: 0, postprocess: 0, encode: 0, total: 0 },
    rgb: { width, height, channels: 3, data: rgb },
    source: {
      kind: 'encoded',
      bytes: jpeg,
      info,
      maxPixels: width * height,
    },
  };
}

/** Wall time of `fn` and the longest the main thread went without a 1 ms timer tick meanwhile. */
async function timed(fn: () => Promise<unknown>): Promise<{ wall: number; blocked: number }> {
  let last = performance.now();
  let blocked = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    blocked = Math.max(blocked, now - last);
    last = now;
  }, 1);
  const started = performance.now();
  await fn();
  const wall = performance.now() - started;
  blocked = Math.max(blocked, performance.now() - last);
  clearInterval(timer);
  return { wall, blocked };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** `BENCH_SIZES=640x480,1920x1080` picks sizes; by default from VGA to 36 M pixels. */
const sizes: Array<[number, number]> = (
  process.env.BENCH_SIZES ?? '640x480,1280x720,1920x1080,4032x3024,6000x6000'
)
  .split(',')
  .map((size) => size.split('x').map(Number) as [number, number]);
const jobs: Array<[string, PortableEncodeJob]> = [
  ['json rle', { kind: 'json' }],
  ['mask png', { kind: 'mask' }],
  ['overlay', { kind: 'overlay' }],
];

const pool = new EncoderPool();
// Start the worker and load its modules before anything is timed.
await pool.encode(await semantic(64, 64), { kind: 'overlay' });
console.log('size        job        inline ms (blocked)   pool ms (blocked)   pool/inline');
for (const [width, height] of sizes) {
  const seg = await semantic(width, height);
  const rounds = width * height > 20_000_000 ? Math.min(ROUNDS, 3) : ROUNDS;
  for (const [name, job] of jobs) {
    const inline: Array<{ wall: number; blocked: number }> = [];
    const pooled: Array<{ wall: number; blocked: number }> = [];
    await runEncodeJob(seg, job);
    await pool.encode(seg, job);
    for (let r = 0; r < rounds; r++) {
      inline.push(await timed(() => runEncodeJob(seg, job)));
      pooled.push(await timed(() => pool.encode(seg, job)));
    }
    const iw = median(inline.map((t) => t.wall));
    const pw = median(pooled.map((t) => t.wall));
    const ib = median(inline.map((t) => t.blocked));
    const pb = median(pooled.map((t) => t.blocked));
    console.log(
      `${`${width}x${height}`.padEnd(11)} ${name.padEnd(10)} ${iw.toFixed(1).padStart(8)} (${ib.toFixed(1).padStart(7)})   ${pw.toFixed(1).padStart(8)} (${pb.toFixed(1).padStart(6)})   ${(pw / iw).toFixed(2)}`,
    );
  }
}
await pool.close();
