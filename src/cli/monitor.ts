/**
 * `segserve monitor baseline`: segments every image of a folder through the InferenceService and writes the
 * drift signals' reference distributions as a baseline file, for `monitoring.drift.baseline` in config.yaml.
 * One bad image is reported and skipped, as in `predict`.
 */
import { SegserveError } from '../errors.js';
import {
  type DriftBaseline,
  driftBins,
  driftObservation,
  makeBaseline,
  ReferenceBuilder,
  targetOf,
  writeBaseline,
} from '../monitoring/drift/index.js';
import { InferenceService } from '../serving/service.js';
import { readRegularFile } from '../sources/files.js';
import { itemErrorCode } from './errors.js';
import { collectImages } from './inputs.js';
import { READ_TIMEOUT_MS } from './predict.js';
import { createProgress } from './progress.js';

/** Fewer images than this give quantile bins of a handful of values each (see DriftConfigSchema). */
export const MIN_BASELINE_IMAGES = 20;

export interface BaselineOptions {
  service: InferenceService;
  model: string;
  version?: number;
  images: string;
  out: string;
  recursive: boolean;
  /** Quantile bins; default as a monitor with this many reference predictions and the model's window. */
  bins?: number;
}

export interface BaselineSummary {
  baseline: DriftBaseline;
  images: number;
  failed: Array<{ file: string; code: string; message: string }>;
  wallSeconds: number;
}

export async function monitorBaseline(options: BaselineOptions): Promise<BaselineSummary> {
  if (options.bins !== undefined && (options.bins < 2 || options.bins > 50)) {
    throw new SegserveError('INVALID_ARGUMENT', { reason: `--bins must be 2 to 50, not ${options.bins}` });
  }
  const { images: files } = await collectImages([options.images], { recursive: options.recursive });
  if (files.length < MIN_BASELINE_IMAGES) {
    throw new SegserveError('INVALID_ARGUMENT', {
      reason: `a baseline needs at least ${MIN_BASELINE_IMAGES} images; ${options.images} has ${files.length}`,
    });
  }
  const target = { model: options.model, version: options.version };
  const loaded = options.service.resolve(target);
  const builder = new ReferenceBuilder(loaded.config.task, loaded.labels);
  const failed: BaselineSummary['failed'] = [];
  const progress = createProgress(files.length, `baseline ${options.model}`);
  const started = performance.now();
  const processOne = async (index: number): Promise<void> => {
    const image = files[index];
    const ticket = options.service.admit(target, { source: 'cli' });
    try {
      const bytes = await readRegularFile(image.path, { timeoutMs: READ_TIMEOUT_MS, label: image.path });
      const seg = await options.service.segment(ticket, bytes);
      builder.add(driftObservation(seg, loaded.labels.length));
      progress.tick(image.relative);
    } catch (error) {
      const code = itemErrorCode(error);
      failed.push({
        file: image.path,
        code,
        message: error instanceof Error ? error.message : String(error),
      });
      progress.tick(`${image.relative}: ${code}`);
    } finally {
      ticket.release();
    }
  };
  // As predict: one more image in flight than workers keeps decoding overlapped with inference.
  const concurrency = Math.min(loaded.config.instances + 1, InferenceService.capacity(loaded), files.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < files.length) await processOne(next++);
    }),
  );
  progress.stop();
  if (builder.size < MIN_BASELINE_IMAGES) {
    throw new SegserveError('INVALID_ARGUMENT', {
      reason: `only ${builder.size} of ${files.length} images could be segmented; a baseline needs ${MIN_BASELINE_IMAGES}`,
    });
  }
  const drift = loaded.config.monitoring.drift;
  const bins = options.bins ?? driftBins(builder.size, drift.window, drift.threshold, drift.bins);
  const baseline = makeBaseline(targetOf(loaded), builder.build(bins));
  try {
    await writeBaseline(options.out, baseline);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? String(error);
    throw new SegserveError('OUTPUT_NOT_WRITABLE', { path: options.out, reason: code }, { cause: error });
  }
  return { baseline, images: files.length, failed, wallSeconds: (performance.now() - started) / 1000 };
}

export function formatBaselineSummary(summary: BaselineSummary, out: string): string {
  const { baseline } = summary;
  const lines = [
    `baseline of ${baseline.size}/${summary.images} images for ${baseline.model} version ${baseline.version} ` +
      `written to ${out} in ${summary.wallSeconds.toFixed(1)} s`,
    `use it with monitoring: { drift: { baseline: <path relative to the model folder> } } in config.yaml`,
  ];
  for (const f of summary.failed) lines.push(`FAILED ${f.file}: ${f.code} ${f.message}`);
  return lines.join('\n');
}
