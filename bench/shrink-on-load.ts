/**
 * `input.shrink_on_load` on against off, in one run: the shared datasets are small (COCO mini 640x480,
 * human-segmentation down to 276x183), so both are first enlarged 4x (Lanczos, JPEG quality 90, the ground truth
 * scaled with them) to stand for the camera-size photos a server receives. On those, per model:
 * - decode time: probe + decode + resize to the model's content, CPU milliseconds per image (libvips' threads
 *   included), off and on alternating over the same photos;
 * - quality: mask AP (yolov8n-seg on COCO mini) or mIoU (selfie and SINet on human-segmentation) through the
 *   serving core, off against on.
 * COCO's 5 crowd annotations (RLE) are left out of the enlarged ground truth; both sides are scored on the same.
 * `npx tsx bench/shrink-on-load.ts` prints the report; `benchShrinkOnLoad()` returns it.
 */
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { decodeForModel, probeImage } from '../src/image/index.js';
import type { InputSpec } from '../src/image/types.js';
import {
  DatasetFiles,
  evaluateModel,
  metricValue,
  openDatasetSource,
} from '../src/lifecycle/evaluation/index.js';
import type { EvaluationMetric } from '../src/models/evaluation-config.js';
import { ModelRepository } from '../src/models/index.js';
import { InferenceService } from '../src/serving/service.js';
import { writeScratchRepository } from '../test/helpers/batched-model.js';
import { table } from './stats.js';

const projectRoot = resolve(import.meta.dirname, '..');
const shared = process.env.SEGSERVE_SHARED ?? resolve(projectRoot, '..', 'shared');
const FACTOR = 4;
/** Photos per model in the decode timing. */
const TIMED = Number(process.env.BENCH_SHRINK_TIMED ?? 24);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);

const CASES: { model: string; dataset: 'coco' | 'people'; metric: EvaluationMetric }[] = [
  { model: 'yolov8n-seg', dataset: 'coco', metric: 'mask_ap' },
  { model: 'mediapipe-selfie', dataset: 'people', metric: 'miou' },
  { model: 'sinet-portrait', dataset: 'people', metric: 'miou' },
];

async function enlargeJpeg(from: string, to: string): Promise<void> {
  const { width, height } = await sharp(from).metadata();
  await sharp(from)
    .resize(width * FACTOR, height * FACTOR, { kernel: 'lanczos3' })
    .jpeg({ quality: 90 })
    .toFile(to);
}

interface CocoFile {
  images: { width: number; height: number }[];
  annotations: { segmentation: unknown; bbox: number[]; area: number; iscrowd?: number }[];
}

/** COCO mini, 4x: images, polygons, boxes and areas scaled; crowd (RLE) annotations dropped. */
async function enlargeCoco(dir: string): Promise<string[]> {
  const source = join(shared, 'datasets/coco-val2017-mini');
  const coco = JSON.parse(await readFile(join(source, 'annotations/instances.json'), 'utf8')) as CocoFile &
    Record<string, unknown>;
  await mkdir(join(dir, 'images'), { recursive: true });
  await mkdir(join(dir, 'annotations'));
  const files: string[] = [];
  for (const image of coco.images as (CocoFile['images'][number] & { file_name: string })[]) {
    image.width *= FACTOR;
    image.height *= FACTOR;
    await enlargeJpeg(join(source, 'images', image.file_name), join(dir, 'images', image.file_name));
    files.push(join(dir, 'images', image.file_name));
  }
  coco.annotations = coco.annotations
    .filter((a) => Array.isArray(a.segmentation))
    .map((a) => ({
      ...a,
      segmentation: (a.segmentation as number[][]).map((polygon) => polygon.map((v) => v * FACTOR)),
      bbox: a.bbox.map((v) => v * FACTOR),
      area: a.area * FACTOR * FACTOR,
    }));
  await writeFile(join(dir, 'annotations/instances.json'), JSON.stringify(coco));
  return files;
}

/** human-segmentation, 4x: each mask resized (nearest) to its enlarged image. */
async function enlargePeople(dir: string): Promise<string[]> {
  const source = join(shared, 'datasets/human-segmentation');
  const manifest = (await readFile(join(source, 'manifest.csv'), 'utf8')).trim().split('\n');
  await mkdir(join(dir, 'images'), { recursive: true });
  await mkdir(join(dir, 'masks'));
  const files: string[] = [];
  for (const line of manifest.slice(1)) {
    const [image, mask] = line.split(',');
    await enlargeJpeg(join(source, image), join(dir, image));
    const { width, height } = await sharp(join(dir, image)).metadata();
    await sharp(join(source, mask))
      .resize(width, height, { kernel: 'nearest', fit: 'fill' })
      .extractChannel(0)
      .toColourspace('b-w')
      .toFile(join(dir, mask));
    files.push(join(dir, image));
  }
  await writeFile(join(dir, 'manifest.csv'), `${manifest.join('\n')}\n`);
  return files;
}

/** CPU milliseconds per image of probe + decode + resize to the content, off and on in alternating rounds. */
async function decodeCost(photos: Uint8Array[], input: InputSpec): Promise<{ off: number; on: number }> {
  const sides = { off: { ...input, shrink_on_load: false }, on: { ...input, shrink_on_load: true } };
  const cpu = { off: 0, on: 0 };
  const once = async (side: InputSpec) => {
    for (const bytes of photos) {
      const info = await probeImage(bytes, 100_000_000);
      await decodeForModel(bytes, info, side, { maxPixels: 100_000_000 });
    }
  };
  await once(sides.off);
  await once(sides.on);
  for (let round = 0; round < ROUNDS; round++) {
    for (const key of ['off', 'on'] as const) {
      const before = process.cpuUsage();
      await once(sides[key]);
      const used = process.cpuUsage(before);
      cpu[key] += (used.user + used.system) / 1000;
    }
  }
  const runs = ROUNDS * photos.length;
  return { off: cpu.off / runs, on: cpu.on / runs };
}

const format = (value: number | null) => (value === null ? 'n/a' : value.toFixed(4));

export async function benchShrinkOnLoad(): Promise<string> {
  if (!existsSync(join(shared, 'datasets'))) {
    return `SKIPPED shrink-on-load benchmark: ${join(shared, 'datasets')} is missing (set SEGSERVE_SHARED)`;
  }
  const scratch = await mkdtemp(join(tmpdir(), 'segserve-shrink-'));
  const shipped = await ModelRepository.open(join(projectRoot, 'model-repository'), {
    models: CASES.map((c) => c.model),
  });
  let repository: ModelRepository | undefined;
  try {
    const datasets = {
      coco: { dir: join(scratch, 'coco'), photos: await enlargeCoco(join(scratch, 'coco')) },
      people: { dir: join(scratch, 'people'), photos: await enlargePeople(join(scratch, 'people')) },
    };
    const models = CASES.flatMap(({ model }) => {
      const loaded = shipped.resolve(model);
      const side = (on: boolean) => ({
        name: `${model}-${on ? 'on' : 'off'}`,
        shipped: model,
        onnx: loaded.modelPath,
        overrides: { input: { ...loaded.config.input, shrink_on_load: on } },
      });
      return [side(false), side(true)];
    });
    await writeScratchRepository(join(scratch, 'repository'), shared, models);
    repository = await ModelRepository.open(join(scratch, 'repository'));
    const service = new InferenceService(repository);
    const rows: string[][] = [];
    for (const c of CASES) {
      const { dir, photos } = datasets[c.dataset];
      const input = shipped.resolve(c.model).config.input;
      const bytes = await Promise.all(photos.slice(0, TIMED).map((p) => readFile(p)));
      const cost = await decodeCost(bytes, input);
      const dataset = await openDatasetSource(dir, { files: DatasetFiles.unconfined() });
      const quality: Record<'off' | 'on', number | null> = { off: null, on: null };
      for (const side of ['off', 'on'] as const) {
        const evaluation = await evaluateModel({ service, model: `${c.model}-${side}`, dataset });
        quality[side] = metricValue(evaluation.report, c.metric);
      }
      const lost =
        quality.off === null || quality.on === null ? 'n/a' : ((quality.off - quality.on) * 100).toFixed(2);
      rows.push([
        c.model,
        `${input.width}x${input.height}`,
        cost.off.toFixed(2),
        cost.on.toFixed(2),
        `${(cost.off / cost.on).toFixed(2)}x`,
        c.metric,
        format(quality.off),
        format(quality.on),
        lost,
      ]);
    }
    return [
      `# input.shrink_on_load off against on, photos enlarged ${FACTOR}x (COCO mini 2560x1704 and the like; ` +
        `human-segmentation 1104x732 to 1920x2560)`,
      table(
        ['model', 'input', 'decode CPU ms off', 'on', 'off / on', 'metric', 'off', 'on', 'points lost'],
        rows,
      ),
      '',
    ].join('\n');
  } finally {
    await repository?.close();
    await shipped.close();
    await rm(scratch, { recursive: true, force: true });
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  console.log(await benchShrinkOnLoad());
}
