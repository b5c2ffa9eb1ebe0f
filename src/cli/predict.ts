/**
 * `segserve predict`: segment files and folders with one model and write JSON, COCO results, mask PNGs or
 * overlays. One bad image is reported and skipped; the rest still run.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { SegserveError } from '../errors.js';
import { toCocoResults, toMaskPng, toOverlay, toSegmentationJson } from '../serving/encode.js';
import type { InferenceService } from '../serving/service.js';
import type { CocoResult, StageTimings } from '../serving/types.js';
import { collectImages, fileStem, numericImageId } from './inputs.js';
import { createProgress } from './progress.js';

export const OUTPUT_FORMATS = ['json', 'coco', 'png', 'overlay'] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

export interface PredictOptions {
  inputs: string[];
  service: InferenceService;
  model: string;
  version?: number;
  outDir: string;
  formats: OutputFormat[];
  recursive: boolean;
  /** COCO instances file whose categories give `category_id` by label name. */
  categoriesFile?: string;
  /** Images in flight at once; a little above the worker count keeps decoding overlapped with inference. */
  concurrency?: number;
}

export interface PredictSummary {
  images: number;
  succeeded: number;
  failed: Array<{ file: string; code: string; message: string }>;
  detections: number;
  wallSeconds: number;
  meanTimings: Omit<StageTimings, 'total'> & { total: number };
  written: string[];
}

export function parseFormats(value: string): OutputFormat[] {
  const formats = value.split(',').map((f) => f.trim().toLowerCase());
  for (const f of formats) {
    if (!(OUTPUT_FORMATS as readonly string[]).includes(f)) {
      throw new SegserveError('INVALID_ARGUMENT', {
        reason: `unknown format "${f}"; choose from ${OUTPUT_FORMATS.join(', ')} (comma-separated for several)`,
      });
    }
  }
  return [...new Set(formats)] as OutputFormat[];
}

async function categoryMap(file: string): Promise<(label: string, classId: number) => number> {
  const parsed: unknown = JSON.parse(await readFile(file, 'utf8'));
  const categories = (parsed as { categories?: Array<{ id: number; name: string }> }).categories;
  if (!Array.isArray(categories)) {
    throw new SegserveError('INVALID_ARGUMENT', { reason: `${file} has no "categories" list` });
  }
  const byName = new Map(categories.map((c) => [c.name, c.id]));
  return (label, classId) => byName.get(label) ?? classId + 1;
}

/** Output names from the image's stem, made unique when two folders hold the same name. */
function uniqueStems(files: string[]): string[] {
  const used = new Map<string, number>();
  return files.map((file) => {
    const stem = fileStem(file);
    const n = used.get(stem) ?? 0;
    used.set(stem, n + 1);
    return n === 0 ? stem : `${stem}-${n + 1}`;
  });
}

/** Sequential ids for files without a numeric name, above every numeric id so none collide. */
function imageIds(files: string[]): number[] {
  const numeric = files.map(numericImageId);
  let next = Math.max(0, ...numeric.filter((id): id is number => id !== undefined)) + 1;
  return numeric.map((id) => id ?? next++);
}

export async function predict(options: PredictOptions): Promise<PredictSummary> {
  const files = await collectImages(options.inputs, options.recursive);
  if (files.length === 0)
    throw new SegserveError('INVALID_ARGUMENT', { reason: 'no images found in the inputs' });
  await mkdir(options.outDir, { recursive: true });
  const categoryId = options.categoriesFile ? await categoryMap(options.categoriesFile) : undefined;
  const stems = uniqueStems(files);
  const ids = imageIds(files);
  const wantOverlay = options.formats.includes('overlay');
  const target = { model: options.model, version: options.version };
  // More images in flight than the model admits would only be refused: the CLI waits for its turn instead.
  const capacity = options.service.capacity(target);
  const concurrency = Math.min(options.concurrency ?? capacity.instances + 1, capacity.inFlight);

  const summary: PredictSummary = {
    images: files.length,
    succeeded: 0,
    failed: [],
    detections: 0,
    wallSeconds: 0,
    meanTimings: { decode: 0, preprocess: 0, queue: 0, infer: 0, postprocess: 0, encode: 0, total: 0 },
    written: [],
  };
  const coco: CocoResult[][] = files.map(() => []);
  const progress = createProgress(files.length, `predict ${options.model}`);
  const started = performance.now();

  const processOne = async (index: number): Promise<void> => {
    const file = files[index];
    const stem = stems[index];
    const ticket = options.service.admit(target);
    try {
      const bytes = await readFile(file);
      const seg = await options.service.segment(ticket, bytes, { keepImage: wantOverlay });
      const encodeStarted = performance.now();
      const writes: Array<[string, string | Buffer]> = [];
      if (options.formats.includes('json')) {
        writes.push([
          `${stem}.json`,
          `${JSON.stringify({ file: basename(file), ...toSegmentationJson(seg) })}\n`,
        ]);
      }
      if (options.formats.includes('coco'))
        coco[index] = toCocoResults(seg, ids[index], basename(file), categoryId);
      if (options.formats.includes('png')) writes.push([`${stem}.png`, toMaskPng(seg)]);
      if (wantOverlay) writes.push([`${stem}.overlay.png`, await toOverlay(seg)]);
      seg.timings.encode += performance.now() - encodeStarted;
      for (const [name, content] of writes) {
        await writeFile(join(options.outDir, name), content);
        summary.written.push(join(options.outDir, name));
      }
      summary.succeeded++;
      const found = seg.result.task === 'instance' ? seg.result.instances.length : seg.result.areas.length;
      summary.detections += found;
      for (const key of Object.keys(summary.meanTimings) as Array<keyof StageTimings>) {
        summary.meanTimings[key] += seg.timings[key];
      }
      progress.tick(
        `${basename(file)}: ${found} ${seg.result.task === 'instance' ? 'instances' : 'classes'}`,
      );
    } catch (error) {
      const code = error instanceof SegserveError ? error.code : 'INTERNAL';
      const message = error instanceof Error ? error.message : String(error);
      summary.failed.push({ file, code, message });
      progress.tick(`${basename(file)}: ${code}`);
    } finally {
      ticket.release();
    }
  };

  let next = 0;
  const runners = Array.from({ length: Math.min(concurrency, files.length) }, async () => {
    while (next < files.length) await processOne(next++);
  });
  await Promise.all(runners);
  progress.stop();

  if (options.formats.includes('coco')) {
    const path = join(options.outDir, 'results.json');
    await writeFile(path, `${JSON.stringify(coco.flat())}\n`);
    summary.written.push(path);
  }
  summary.wallSeconds = (performance.now() - started) / 1000;
  if (summary.succeeded > 0) {
    for (const key of Object.keys(summary.meanTimings) as Array<keyof StageTimings>) {
      summary.meanTimings[key] /= summary.succeeded;
    }
  }
  return summary;
}

export function formatSummary(summary: PredictSummary): string {
  const t = summary.meanTimings;
  const lines = [
    `${summary.succeeded}/${summary.images} images segmented in ${summary.wallSeconds.toFixed(1)} s ` +
      `(${(summary.succeeded / Math.max(summary.wallSeconds, 1e-9)).toFixed(2)} img/s), ${summary.detections} detections`,
    `mean ms per image: decode ${t.decode.toFixed(1)}, preprocess ${t.preprocess.toFixed(1)}, queue ${t.queue.toFixed(1)}, ` +
      `infer ${t.infer.toFixed(1)}, postprocess ${t.postprocess.toFixed(1)}, encode ${t.encode.toFixed(1)}`,
    `${summary.written.length} files written`,
  ];
  for (const f of summary.failed) lines.push(`FAILED ${f.file}: ${f.code} ${f.message}`);
  return lines.join('\n');
}
