/**
 * Mask serialisation costs on a Full HD frame: `npx tsx bench/masks.ts` prints a table; `bench/engine.ts` calls
 * `benchMasks()` and prints the same rows after the model benchmarks.
 */
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cropToContent } from '../src/masks/crop.js';
import { classPalette } from '../src/masks/palette.js';
import { encodeClassMapPng } from '../src/masks/png.js';
import { maskToPolygons } from '../src/masks/polygons.js';
import { countsToString, encodeCroppedMask, encodeMask } from '../src/masks/rle.js';
import type { BinaryMask, CroppedMask } from '../src/masks/types.js';
import { type CaseTiming, measureCases, table } from './stats.js';

const WIDTH = 1920;
const HEIGHT = 1080;
const ITERATIONS = 50;
const WARMUP = 10;

/** A person-sized blob: an ellipse body with a round head on top and a rectangular hole (an arm gap). */
function blob(): BinaryMask {
  const data = new Uint8Array(WIDTH * HEIGHT);
  for (let y = 0; y < HEIGHT; y++) {
    for (let x = 0; x < WIDTH; x++) {
      const body = ((x - 900) / 320) ** 2 + ((y - 640) / 380) ** 2 <= 1;
      const head = ((x - 910) / 110) ** 2 + ((y - 210) / 120) ** 2 <= 1;
      const gap = x >= 1050 && x < 1110 && y >= 500 && y < 760;
      data[y * WIDTH + x] = (body || head) && !gap ? 1 : 0;
    }
  }
  return { width: WIDTH, height: HEIGHT, data };
}

/** An instance mask as decoders produce it: a 400x300 crop (an ellipse filling its box) in a 1920x1080 image. */
function instanceCrop(): CroppedMask {
  const cropWidth = 400;
  const cropHeight = 300;
  const data = new Uint8Array(cropWidth * cropHeight);
  for (let y = 0; y < cropHeight; y++) {
    for (let x = 0; x < cropWidth; x++) {
      data[y * cropWidth + x] = ((x - 200) / 195) ** 2 + ((y - 150) / 145) ** 2 <= 1 ? 1 : 0;
    }
  }
  return { width: WIDTH, height: HEIGHT, left: 700, top: 400, cropWidth, cropHeight, data };
}

/** A semantic class map: horizontal bands of sky/buildings/road with a few objects, 5 classes. */
function classMap(): Uint8Array {
  const map = new Uint8Array(WIDTH * HEIGHT);
  for (let y = 0; y < HEIGHT; y++) {
    for (let x = 0; x < WIDTH; x++) {
      let c = y < 300 + 40 * Math.sin(x / 90) ? 1 : y < 700 ? 2 : 3;
      if (((x - 1300) / 150) ** 2 + ((y - 720) / 260) ** 2 <= 1) c = 4;
      map[y * WIDTH + x] = c;
    }
  }
  return map;
}

export async function benchMasks(): Promise<CaseTiming[]> {
  const full = blob();
  const crop = instanceCrop();
  const cropCounts = encodeCroppedMask(crop);
  const map = classMap();
  const palette = classPalette(5, { background: [0, 0, 0] });
  const cases: Array<[string, () => unknown]> = [
    ['encodeMask 1920x1080 blob', () => encodeMask(full)],
    ['encodeCroppedMask 400x300 crop in 1920x1080', () => encodeCroppedMask(crop)],
    [`countsToString of that crop (${cropCounts.length} counts)`, () => countsToString(cropCounts)],
    ['maskToPolygons 1920x1080 blob', () => maskToPolygons(full)],
    ['maskToPolygons 1920x1080 blob, tolerance 1', () => maskToPolygons(full, { tolerance: 1 })],
    ['maskToPolygons 400x300 crop', () => maskToPolygons(crop)],
    ['cropToContent 1920x1080 blob', () => cropToContent(full)],
    ['encodeClassMapPng 1920x1080, 5 classes', () => encodeClassMapPng(map, WIDTH, HEIGHT, palette)],
  ];
  return measureCases(cases, ITERATIONS, WARMUP);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const rows = await benchMasks();
  console.log(
    table(
      ['operation (ms)', 'p50', 'p95'],
      rows.map((r) => [r.name, r.p50Ms, r.p95Ms]),
    ),
  );
}
