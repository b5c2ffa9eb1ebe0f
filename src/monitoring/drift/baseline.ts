/**
 * Baseline files: the reference distributions of a model's drift signals, written by `segserve monitor
 * baseline` from a folder of representative images, so that a freshly loaded version compares with known-good
 * traffic instead of whatever its first predictions happen to be. A baseline records the model it was made for
 * (name, task, labels, input size) and is refused for any other (DRIFT_BASELINE_INVALID); the model still serves.
 */
import { randomUUID } from 'node:crypto';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, isAbsolute, join } from 'node:path';
import { z } from 'zod';
import { SegserveError } from '../../errors.js';
import { DEFAULT_DRIFT_REFERENCE_SIZE, TASKS, type Task } from '../../models/config.js';
import type { LoadedVersion } from '../../models/index.js';
import { DriftMonitor } from './monitor.js';
import { NONE_CATEGORY, NUMERIC_SIGNALS, type ReferenceDistributions } from './reference.js';

export const BASELINE_FORMAT = 'segserve-drift-baseline';

/** What a baseline must match: the model as the repository loaded it. */
export interface BaselineTarget {
  name: string;
  version: number;
  task: Task;
  labels: readonly string[];
  input: { width: number; height: number };
}

const count = z.number().finite().nonnegative();

const NumericReferenceSchema = z
  .object({ edges: z.array(z.number().finite()), counts: z.array(count) })
  .strict()
  .refine((r) => r.counts.length === r.edges.length + 2, 'counts must have edges + 2 entries')
  .refine((r) => r.edges.every((e, i) => i === 0 || e > r.edges[i - 1]), 'edges must ascend');

/**
 * 2: input signals measured on the pixels the model saw (a strided sample of the model input), where version 1
 * measured a 64 px thumbnail: their distributions differ a little, so a version 1 file is refused, not compared.
 */
export const BASELINE_FORMAT_VERSION = 2;

export const DriftBaselineSchema = z
  .object({
    format: z.literal(BASELINE_FORMAT),
    format_version: z.literal(BASELINE_FORMAT_VERSION),
    model: z.string().min(1),
    version: z.number().int().positive(),
    task: z.enum(TASKS),
    labels: z.array(z.string()).min(1),
    input: z.object({ width: z.number().int().positive(), height: z.number().int().positive() }).strict(),
    created: z.string(),
    /** Images the reference was made from. */
    size: z.number().int().positive(),
    numeric: z.partialRecord(z.enum(NUMERIC_SIGNALS), NumericReferenceSchema),
    class_mix: z.object({ categories: z.array(z.string()), mass: z.array(count) }).strict(),
  })
  .strict();

export type DriftBaseline = z.infer<typeof DriftBaselineSchema>;

export function targetOf(loaded: LoadedVersion): BaselineTarget {
  return {
    name: loaded.name,
    version: loaded.version,
    task: loaded.config.task,
    labels: loaded.labels,
    input: { width: loaded.config.input.width, height: loaded.config.input.height },
  };
}

export function makeBaseline(target: BaselineTarget, reference: ReferenceDistributions): DriftBaseline {
  return {
    format: BASELINE_FORMAT,
    format_version: BASELINE_FORMAT_VERSION,
    model: target.name,
    version: target.version,
    task: target.task,
    labels: [...target.labels],
    input: { ...target.input },
    created: new Date().toISOString(),
    size: reference.size,
    numeric: reference.numeric,
    class_mix: { categories: reference.classMix.categories, mass: reference.classMix.mass },
  };
}

/** Writes the file whole or not at all: a staging file beside it, then a rename. */
export async function writeBaseline(file: string, baseline: DriftBaseline): Promise<void> {
  await mkdir(dirname(file), { recursive: true });
  const staging = join(dirname(file), `.${randomUUID()}.tmp`);
  try {
    await writeFile(staging, `${JSON.stringify(baseline, null, 2)}\n`);
    await rename(staging, file);
  } finally {
    await rm(staging, { force: true });
  }
}

/**
 * Why `baseline` does not fit `target`, or undefined. Another version of the same model is accepted: its inputs
 * are the same population, and a retrained version that segments differently is what the output signals should
 * show.
 */
export function baselineMismatch(baseline: DriftBaseline, target: BaselineTarget): string | undefined {
  if (baseline.model !== target.name) return `it was made for model "${baseline.model}"`;
  if (baseline.task !== target.task)
    return `it was made for a ${baseline.task} model, this one is ${target.task}`;
  const same =
    baseline.labels.length === target.labels.length &&
    baseline.labels.every((l, i) => l === target.labels[i]);
  if (!same) {
    const shown = (labels: readonly string[]) =>
      labels.length > 6 ? `${labels.slice(0, 6).join(', ')}, ... (${labels.length})` : labels.join(', ');
    return `its labels [${shown(baseline.labels)}] differ from the model's [${shown(target.labels)}]`;
  }
  if (baseline.input.width !== target.input.width || baseline.input.height !== target.input.height) {
    return `it was made for input ${baseline.input.width}x${baseline.input.height}, the model takes ${target.input.width}x${target.input.height}`;
  }
  const categories = [...target.labels, NONE_CATEGORY];
  if (
    baseline.class_mix.categories.length !== categories.length ||
    baseline.class_mix.mass.length !== categories.length
  ) {
    return 'its class mix does not list one entry per label plus "(none)"';
  }
  return undefined;
}

/** Reads, validates and matches a baseline file; DRIFT_BASELINE_INVALID says what is wrong. */
export async function readBaseline(file: string, target: BaselineTarget): Promise<ReferenceDistributions> {
  const refuse = (reason: string, cause?: unknown) =>
    new SegserveError('DRIFT_BASELINE_INVALID', { file, model: target.name, reason }, { cause });
  let document: unknown;
  try {
    document = JSON.parse(await readFile(file, 'utf8'));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw refuse(
      code === 'ENOENT' ? 'no such file' : `not readable JSON: ${(error as Error).message}`,
      error,
    );
  }
  const formatVersion = (document as { format_version?: unknown } | null)?.format_version;
  if (typeof formatVersion === 'number' && formatVersion < BASELINE_FORMAT_VERSION) {
    throw refuse(
      `it is a version ${formatVersion} baseline from an older segserve, whose input signals were measured differently: write it again with segserve monitor baseline`,
    );
  }
  const parsed = DriftBaselineSchema.safeParse(document);
  if (!parsed.success) {
    const issues = parsed.error.issues
      .slice(0, 5)
      .map((i) => `${i.path.map(String).join('.') || '(root)'}: ${i.message}`);
    throw refuse(`not a segserve drift baseline (${issues.join('; ')})`);
  }
  const mismatch = baselineMismatch(parsed.data, target);
  if (mismatch) throw refuse(mismatch);
  const { size, numeric, class_mix } = parsed.data;
  return { size, numeric, classMix: { categories: class_mix.categories, mass: class_mix.mass } };
}

/**
 * The drift monitor a loaded version's config asks for: undefined when `monitoring.drift.enabled` is false.
 * `modelDir` is the model's folder, which a relative `baseline` path is read from. Throws
 * DRIFT_BASELINE_INVALID for a baseline that cannot serve; the caller logs it and serves without a monitor.
 */
export async function openDriftMonitor(
  loaded: LoadedVersion,
  modelDir: string,
): Promise<DriftMonitor | undefined> {
  const drift = loaded.config.monitoring.drift;
  if (!drift.enabled) return undefined;
  const common = {
    model: loaded.name,
    version: loaded.version,
    task: loaded.config.task,
    labels: loaded.labels,
    window: drift.window,
    threshold: drift.threshold,
    bins: drift.bins,
  };
  if (drift.baseline === undefined) {
    return new DriftMonitor({
      ...common,
      referenceSize: drift.reference_size ?? DEFAULT_DRIFT_REFERENCE_SIZE,
    });
  }
  const file = isAbsolute(drift.baseline) ? drift.baseline : join(modelDir, drift.baseline);
  return new DriftMonitor({ ...common, reference: await readBaseline(file, targetOf(loaded)) });
}
