/**
 * `segserve predict`: segment files and folders with one model and write JSON, COCO results, mask PNGs or
 * overlays, mirroring the input tree under the output folder (see output-names.ts). One bad image is reported
 * and skipped; the rest still run.
 */
import { constants } from 'node:fs';
import { access, mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { SegserveError } from '../errors.js';
// A batch job writes the same outputs as predict.
import { JOB_FORMATS as OUTPUT_FORMATS, type JobFormat as OutputFormat } from '../jobs/wire-types.js';
import type { Task } from '../models/config.js';
import {
  type CategoryMapping,
  categoryMapping,
  cocoImageIds,
  parseDatasetCategories,
} from '../serving/category-ids.js';
import { checkMaskAnswer, type MaskAnswer } from '../serving/encode.js';
import { InferenceService } from '../serving/service.js';
import type { CocoResult, StageTimings } from '../serving/types.js';
import { readRegularFile } from '../sources/files.js';
import { itemErrorCode } from './errors.js';
import { collectImages, type InputImage } from './inputs.js';
import { OUTPUT_SUFFIXES, type PerImageFormat, planOutputBases } from './output-names.js';
import { createProgress } from './progress.js';
import { countFound, describeResult, describeTotal } from './summary.js';

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
  /** Longest wait for one image file's bytes (a stalled mount must not hang the run). */
  readTimeoutMs?: number;
}

/** The output formats made of masks, which classification models cannot write. */
const MASK_OUTPUTS: ReadonlyArray<[OutputFormat, MaskAnswer]> = [
  ['png', 'mask PNG'],
  ['overlay', 'overlay'],
  ['coco', 'COCO results'],
];

/** Reading a local image takes milliseconds; a minute means the file system is stuck, not slow. */
export const READ_TIMEOUT_MS = 60_000;
const COCO_RESULTS = 'results.json';

export interface PredictSummary {
  images: number;
  succeeded: number;
  failed: Array<{ file: string; code: string; message: string }>;
  /** Folder entries named like images that are not regular files (FIFOs, sockets, devices): never read. */
  skipped: string[];
  task?: Task;
  /** How COCO results numbered their categories (with the coco format only). */
  categories?: string;
  /** Instances (instance models) or non-background classes present (semantic, binary), summed over images. */
  found: number;
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

/** The category ids of COCO results: a dataset's categories file when given, else by the model's labels. */
async function cocoCategories(labels: readonly string[], file: string | undefined): Promise<CategoryMapping> {
  if (file === undefined) return categoryMapping(labels);
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(file, 'utf8'));
  } catch (error) {
    throw new SegserveError('INVALID_ARGUMENT', {
      reason: `--categories ${file} cannot be read as JSON: ${(error as Error).message}`,
    });
  }
  return categoryMapping(labels, parseDatasetCategories(parsed, file));
}

/** OUTPUT_NOT_WRITABLE for a file system error while writing an output (a file, or one under the output folder). */
export function notWritable(path: string, error: unknown): SegserveError {
  const code = (error as NodeJS.ErrnoException).code;
  const reason =
    code === 'EACCES' || code === 'EPERM'
      ? 'permission denied'
      : code === 'ENOTDIR'
        ? 'a part of the path is a file, not a folder'
        : code === 'EISDIR'
          ? 'a folder of that name is in the way'
          : code === 'EROFS'
            ? 'the file system is read-only'
            : code === 'ENOSPC'
              ? 'no space left on the device'
              : (code ?? String(error));
  return new SegserveError('OUTPUT_NOT_WRITABLE', { path, reason }, { cause: error });
}

/** Creates the output folder and checks it is writable before any image is read. */
async function prepareOutDir(outDir: string): Promise<void> {
  try {
    await mkdir(outDir, { recursive: true });
    await access(outDir, constants.W_OK);
  } catch (error) {
    throw notWritable(outDir, error);
  }
}

async function writeOutput(path: string, content: string | Buffer): Promise<void> {
  try {
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, content);
  } catch (error) {
    throw notWritable(path, error);
  }
}

export async function predict(options: PredictOptions): Promise<PredictSummary> {
  const { images: files, skipped } = await collectImages(options.inputs, {
    recursive: options.recursive,
    exclude: options.outDir,
  });
  if (files.length === 0)
    throw new SegserveError('INVALID_ARGUMENT', { reason: 'no images found in the inputs' });
  await prepareOutDir(options.outDir);
  const perImage = options.formats.filter((f): f is PerImageFormat => f in OUTPUT_SUFFIXES);
  const wantCoco = options.formats.includes('coco');
  const bases = planOutputBases(files, perImage, options.outDir, wantCoco ? [COCO_RESULTS] : []);
  const ids = cocoImageIds(files.map((f) => f.relative));
  const wantOverlay = options.formats.includes('overlay');
  const modelTarget = { model: options.model, version: options.version };
  // More images in flight than the model admits would only be refused: the CLI waits for its turn instead.
  const loaded = options.service.resolve(modelTarget);
  // A classifier has no masks: say so before any image is read, not once per image.
  for (const [format, answer] of MASK_OUTPUTS) {
    if (options.formats.includes(format)) checkMaskAnswer(loaded.name, loaded.config.task, answer);
  }
  const concurrency = Math.min(
    options.concurrency ?? loaded.config.instances + 1,
    InferenceService.capacity(loaded),
  );
  const timeoutMs = options.readTimeoutMs ?? READ_TIMEOUT_MS;
  // A --categories file is read even without the coco format, so a wrong path is said before any work.
  const mapping =
    wantCoco || options.categoriesFile !== undefined
      ? await cocoCategories(loaded.labels, options.categoriesFile)
      : undefined;
  const categories = wantCoco ? mapping : undefined;

  const summary: PredictSummary = {
    images: files.length,
    succeeded: 0,
    failed: [],
    skipped,
    task: loaded.config.task,
    categories: categories?.description,
    found: 0,
    wallSeconds: 0,
    meanTimings: { decode: 0, preprocess: 0, queue: 0, infer: 0, postprocess: 0, encode: 0, total: 0 },
    written: [],
  };
  const coco: CocoResult[][] = files.map(() => []);
  const progress = createProgress(files.length, `predict ${options.model}`);
  const started = performance.now();
  const target = (index: number, format: PerImageFormat) =>
    join(options.outDir, `${bases[index]}${OUTPUT_SUFFIXES[format]}`);

  const processOne = async (index: number): Promise<void> => {
    const image: InputImage = files[index];
    const ticket = options.service.admit(modelTarget, { source: 'cli' });
    try {
      const bytes = await readRegularFile(image.path, { timeoutMs, label: image.path });
      const seg = await options.service.segment(ticket, bytes, { keepImage: wantOverlay });
      // One job at a time: a segmentation lends its arrays to the encoder worker for each (see encode).
      const { service } = options;
      const writes: Array<[string, string | Buffer]> = [];
      if (options.formats.includes('json')) {
        const json = await service.encode(seg, { kind: 'json' });
        writes.push([target(index, 'json'), `${JSON.stringify({ file: image.relative, ...json })}\n`]);
      }
      if (categories) {
        coco[index] = await service.encode(seg, {
          kind: 'coco',
          imageId: ids[index],
          fileName: image.relative,
          categoryId: categories,
        });
      }
      if (options.formats.includes('png'))
        writes.push([target(index, 'png'), await service.encode(seg, { kind: 'mask' })]);
      if (wantOverlay)
        writes.push([target(index, 'overlay'), await service.encode(seg, { kind: 'overlay' })]);
      for (const [path, content] of writes) {
        await writeOutput(path, content);
        summary.written.push(path);
      }
      summary.succeeded++;
      const found = countFound(seg.result);
      summary.found += found;
      for (const key of Object.keys(seg.timings) as Array<keyof StageTimings>) {
        summary.meanTimings[key] = (summary.meanTimings[key] ?? 0) + (seg.timings[key] ?? 0);
      }
      progress.tick(`${image.relative}: ${describeResult(seg.result)}`);
    } catch (error) {
      const code = itemErrorCode(error);
      const message = error instanceof Error ? error.message : String(error);
      summary.failed.push({ file: image.path, code, message });
      progress.tick(`${image.relative}: ${code}`);
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

  if (wantCoco) {
    const path = join(options.outDir, COCO_RESULTS);
    await writeOutput(path, `${JSON.stringify(coco.flat())}\n`);
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
      `(${(summary.succeeded / Math.max(summary.wallSeconds, 1e-9)).toFixed(2)} img/s), ` +
      describeTotal(summary.task, summary.found, summary.succeeded),
    `mean ms per image: decode ${t.decode.toFixed(1)}, preprocess ${t.preprocess.toFixed(1)}, queue ${t.queue.toFixed(1)}, ` +
      `infer ${t.infer.toFixed(1)}, postprocess ${t.postprocess.toFixed(1)}, encode ${t.encode.toFixed(1)}` +
      (t.gate === undefined ? '' : `, gate ${t.gate.toFixed(1)}`),
    `${summary.written.length} files written`,
  ];
  if (summary.categories) lines.push(`COCO category ids: ${summary.categories}`);
  if (summary.skipped.length > 0) {
    lines.push(`skipped ${summary.skipped.length} folder entries that are not regular files:`);
    for (const path of summary.skipped) lines.push(`  ${path}`);
  }
  for (const f of summary.failed) lines.push(`FAILED ${f.file}: ${f.code} ${f.message}`);
  return lines.join('\n');
}
