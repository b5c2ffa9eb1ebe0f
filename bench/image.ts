/**
 * Image-layer costs, stage by stage: `npx tsx bench/image.ts` prints a table for the COCO photo with
 * yolov8n-seg's input settings (320x320 letterbox, pad 114, RGB, /255, NCHW), then for a 12-megapixel JPEG
 * made from it (a phone photo's size: full decode, as OpenCV-compatible resizing has no shrink-on-load).
 * `benchImage()` returns the same rows for any image and input settings.
 */
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { type ImageSource, probeImage } from '../src/image/decode.js';
import { computeTransform } from '../src/image/geometry.js';
import { preprocess, preprocessForModel } from '../src/image/preprocess.js';
import { resampleToContent } from '../src/image/resample.js';
import { fillTensor } from '../src/image/tensor.js';
import { type InputConfig, InputConfigSchema } from '../src/models/config.js';
import { type CaseTiming, measureCases, table } from './stats.js';

const ITERATIONS = Number(process.env.BENCH_ITERATIONS ?? 50);
const WARMUP = 5;
const MAX_PIXELS = 40_000_000;

export async function benchImage(bytes: Uint8Array, input: InputConfig): Promise<CaseTiming[]> {
  const info = await probeImage(bytes, MAX_PIXELS);
  const transform = computeTransform(info.orientedWidth, info.orientedHeight, input);
  const source: ImageSource = { kind: 'encoded', bytes, info, maxPixels: MAX_PIXELS };
  const content = await resampleToContent(source, transform);
  const size = `${info.orientedWidth}x${info.orientedHeight} -> ${input.width}x${input.height}`;
  const cases: Array<[string, () => unknown]> = [
    ['probe (header only)', () => probeImage(bytes, MAX_PIXELS)],
    [`decode+resize (libvips) ${size}`, () => resampleToContent(source, transform)],
    ['tensor fill (pad, normalise, layout)', () => fillTensor(content, transform, input)],
    ['preprocess (all of the above)', () => preprocess(bytes, input, { maxPixels: MAX_PIXELS })],
    [
      'preprocessForModel keepImage (+ full RGB)',
      () => preprocessForModel(bytes, input, { maxPixels: MAX_PIXELS, keepImage: true }),
    ],
  ];
  return measureCases(cases, ITERATIONS, WARMUP);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const projectRoot = resolve(import.meta.dirname, '..');
  const shared = process.env.SEGSERVE_SHARED ?? resolve(projectRoot, '..', 'shared');
  const photo = await readFile(resolve(shared, 'datasets/coco-val2017-mini/images/000000397133.jpg'));
  const yolo = InputConfigSchema.parse({ width: 320, height: 320, resize: 'letterbox', pad_value: 114 });
  const phone = await sharp(photo).resize(4032, 3024, { fit: 'fill' }).jpeg({ quality: 90 }).toBuffer();
  for (const [label, bytes] of [
    ['COCO 000000397133.jpg (640x427)', photo],
    ['the same photo as a 4032x3024 JPEG', phone],
  ] as const) {
    const rows = await benchImage(bytes, yolo);
    console.log(`\n${label}, yolov8n-seg input, ${ITERATIONS} runs`);
    console.log(
      table(
        ['stage (ms)', 'p50', 'p95'],
        rows.map((r) => [r.name, r.p50Ms, r.p95Ms]),
      ),
    );
  }
}
