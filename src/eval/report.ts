/**
 * The one evaluation report: what `segserve eval` prints and writes, what the admin API will answer and what a
 * promotion gate compares (`mainMetric`). Plain JSON (numbers, strings, null; no typed arrays, no Dates), so a
 * report written today can be read back and compared with one written later.
 *
 * Per-image rows are sorted worst first, since those are the images a person looks at:
 * - semantic and binary: by the image's mIoU (images with no counted pixel last);
 * - instance: by the image's F1 at IoU .5 (mask matching when masks were evaluated, else boxes), from the very
 *   matching the AP uses, then by the number of errors (false positives + misses).
 */
import {
  COCO_SUMMARY_KEYS,
  type CocoEvaluation,
  type CocoImageRow,
  type CocoSummary,
  type IouType,
} from './coco-eval.js';
import type { ClassScores, ConfusionMatrix, SemanticImageRow, SemanticScores } from './semantic.js';
import { confusionRows } from './semantic.js';

export const REPORT_FORMAT = 'segserve-eval';
export const REPORT_FORMAT_VERSION = 1;

export interface ReportModel {
  name: string;
  version: number | string | null;
}

/** What the evaluation was of: given by the caller, the evaluators do not know it. */
export interface ReportMeta {
  /** The dataset: a file path, a dataset name or name@version. */
  dataset: string;
  model?: ReportModel | null;
  /** A results file scored without a model. */
  results?: string | null;
  createdAt?: Date;
}

interface ReportBase {
  format: typeof REPORT_FORMAT;
  format_version: typeof REPORT_FORMAT_VERSION;
  dataset: string;
  model: ReportModel | null;
  results: string | null;
  /** ISO 8601. */
  created_at: string;
  images: number;
  warnings: string[];
}

export interface SemanticReport extends ReportBase {
  kind: 'semantic';
  task: 'semantic' | 'binary';
  ignore_index: number | null;
  summary: {
    miou: number | null;
    mdice: number | null;
    pixel_accuracy: number | null;
    mean_accuracy: number | null;
    mean_precision: number | null;
    pixels: number;
  };
  classes: ClassScores[];
  confusion: {
    /** Rows are ground truth classes, columns predicted classes, in class id order. */
    labels: string[];
    matrix: number[][];
  };
  per_image: SemanticImageRow[];
}

export interface InstanceClassRow {
  category_id: number;
  name: string;
  instances: number;
  crowd: number;
  detections: number;
  box_ap: number | null;
  box_ap50: number | null;
  mask_ap: number | null;
  mask_ap50: number | null;
}

export interface InstanceReport extends ReportBase {
  kind: 'instance';
  iou_types: IouType[];
  categories: number;
  instances: number;
  detections: number;
  /** COCO's 12 numbers for boxes and for masks (null when that type was not evaluated; -1 as COCO prints it). */
  summary: { box: CocoSummary | null; mask: CocoSummary | null };
  classes: InstanceClassRow[];
  per_image_measure: 'mask F1 at IoU 0.5' | 'box F1 at IoU 0.5';
  per_image: CocoImageRow[];
}

export type EvaluationReport = SemanticReport | InstanceReport;

function base(meta: ReportMeta, images: number, warnings: string[]): ReportBase {
  return {
    format: REPORT_FORMAT,
    format_version: REPORT_FORMAT_VERSION,
    dataset: meta.dataset,
    model: meta.model ?? null,
    results: meta.results ?? null,
    created_at: (meta.createdAt ?? new Date()).toISOString(),
    images,
    warnings,
  };
}

export function instanceReport(evaluation: CocoEvaluation, meta: ReportMeta): InstanceReport {
  const { bbox, segm } = evaluation;
  const rows = new Map<number, InstanceClassRow>();
  for (const row of (segm ?? bbox)?.categories ?? []) {
    rows.set(row.category_id, {
      category_id: row.category_id,
      name: row.name,
      instances: row.instances,
      crowd: row.crowd,
      detections: row.detections,
      box_ap: null,
      box_ap50: null,
      mask_ap: null,
      mask_ap50: null,
    });
  }
  for (const row of bbox?.categories ?? []) {
    const out = rows.get(row.category_id)!;
    out.box_ap = row.ap;
    out.box_ap50 = row.ap50;
  }
  for (const row of segm?.categories ?? []) {
    const out = rows.get(row.category_id)!;
    out.mask_ap = row.ap;
    out.mask_ap50 = row.ap50;
  }
  const perImage = [...((segm ?? bbox)?.images ?? [])].sort(
    (a, b) => a.f1 - b.f1 || b.fp + b.fn - (a.fp + a.fn) || a.image_id - b.image_id,
  );
  return {
    kind: 'instance',
    ...base(meta, evaluation.images, evaluation.warnings),
    iou_types: [...(bbox ? ['bbox' as const] : []), ...(segm ? ['segm' as const] : [])],
    categories: evaluation.categories,
    instances: evaluation.instances,
    detections: evaluation.detections,
    summary: { box: bbox?.summary ?? null, mask: segm?.summary ?? null },
    classes: [...rows.values()],
    per_image_measure: segm ? 'mask F1 at IoU 0.5' : 'box F1 at IoU 0.5',
    per_image: perImage,
  };
}

export interface SemanticReportInput {
  task: 'semantic' | 'binary';
  matrix: ConfusionMatrix;
  scores: SemanticScores;
  perImage: SemanticImageRow[];
  ignoreIndex: number | null;
  warnings?: string[];
}

/** Worst mIoU first; images without a counted pixel (no mIoU) last, then by name. */
export function sortImagesWorstFirst(rows: SemanticImageRow[]): SemanticImageRow[] {
  return [...rows].sort((a, b) => {
    if (a.miou === null || b.miou === null) {
      return a.miou === b.miou ? a.image.localeCompare(b.image) : a.miou === null ? 1 : -1;
    }
    return a.miou - b.miou || a.image.localeCompare(b.image);
  });
}

export function semanticReport(input: SemanticReportInput, meta: ReportMeta): SemanticReport {
  const { scores } = input;
  return {
    kind: 'semantic',
    ...base(meta, input.perImage.length, input.warnings ?? []),
    task: input.task,
    ignore_index: input.ignoreIndex,
    summary: {
      miou: scores.miou,
      mdice: scores.mdice,
      pixel_accuracy: scores.pixel_accuracy,
      mean_accuracy: scores.mean_accuracy,
      mean_precision: scores.mean_precision,
      pixels: scores.pixels,
    },
    classes: scores.classes,
    confusion: { labels: scores.classes.map((c) => c.label), matrix: confusionRows(input.matrix) },
    per_image: sortImagesWorstFirst(input.perImage),
  };
}

export interface MainMetric {
  /** mIoU for semantic and binary models, COCO mask AP (.50:.95) for instance models. */
  name: 'miou' | 'mask_ap';
  /** null when the report cannot give it (no mask evaluation, no ground truth for any class). */
  value: number | null;
}

/** The one number a promotion gate compares between two versions. */
export function mainMetric(report: EvaluationReport): MainMetric {
  if (report.kind === 'semantic') return { name: 'miou', value: report.summary.miou };
  const ap = report.summary.mask?.AP;
  return { name: 'mask_ap', value: ap === undefined || ap < 0 ? null : ap };
}

// ---- the terminal table ----

export interface TableOptions {
  /** Worst images listed (default 10). */
  worst?: number;
}

const fixed = (v: number | null | undefined, digits = 3) =>
  v === null || v === undefined || v < 0 ? '-' : v.toFixed(digits);

function table(header: string[], rows: string[][], rightAligned: (column: number) => boolean): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  return [header, ...rows].map((row) =>
    row
      .map((cell, i) => (rightAligned(i) ? cell.padStart(widths[i]) : cell.padEnd(widths[i])))
      .join('  ')
      .trimEnd(),
  );
}

function describeSubject(report: EvaluationReport): string {
  const what = report.model
    ? `model ${report.model.name}${report.model.version === null ? '' : `:${report.model.version}`}`
    : report.results
      ? `results ${report.results}`
      : 'predictions';
  return `${what} on ${report.dataset}`;
}

/** What each of COCO's 12 numbers is: measure, IoU thresholds, object area, detections per image. */
const COCO_LINES: Record<keyof CocoSummary, [string, string, string, string]> = {
  AP: ['AP', '.50:.95', 'all', '100'],
  AP50: ['AP', '.50', 'all', '100'],
  AP75: ['AP', '.75', 'all', '100'],
  APs: ['AP', '.50:.95', 'small', '100'],
  APm: ['AP', '.50:.95', 'medium', '100'],
  APl: ['AP', '.50:.95', 'large', '100'],
  AR1: ['AR', '.50:.95', 'all', '1'],
  AR10: ['AR', '.50:.95', 'all', '10'],
  AR100: ['AR', '.50:.95', 'all', '100'],
  ARs: ['AR', '.50:.95', 'small', '100'],
  ARm: ['AR', '.50:.95', 'medium', '100'],
  ARl: ['AR', '.50:.95', 'large', '100'],
};

function instanceTable(report: InstanceReport, worst: number): string[] {
  const { box, mask } = report.summary;
  const lines = [
    `instance evaluation of ${describeSubject(report)}`,
    `${report.images} images, ${report.categories} categories, ${report.instances} instances, ${report.detections} detections`,
    '',
  ];
  const columns = [...(box ? ['box'] : []), ...(mask ? ['mask'] : [])];
  const header = ['', 'IoU', 'area', 'max dets', ...columns];
  const rows = COCO_SUMMARY_KEYS.map((key) => [
    ...COCO_LINES[key],
    ...(box ? [fixed(box[key])] : []),
    ...(mask ? [fixed(mask[key])] : []),
  ]);
  lines.push(...table(header, rows, (i) => i > 2), '');

  const withTruth = report.classes.filter((c) => c.instances > 0 || c.detections > 0);
  const key = (c: InstanceClassRow) => (mask ? c.mask_ap : c.box_ap) ?? Number.POSITIVE_INFINITY;
  withTruth.sort((a, b) => key(a) - key(b) || a.name.localeCompare(b.name));
  lines.push(
    `categories, lowest ${mask ? 'mask' : 'box'} AP first (- where a category has no ground truth):`,
  );
  lines.push(
    ...table(
      [
        'category',
        'instances',
        'crowd',
        'dets',
        ...(box ? ['box AP', 'AP50'] : []),
        ...(mask ? ['mask AP', 'AP50'] : []),
      ],
      withTruth.map((c) => [
        c.name,
        String(c.instances),
        String(c.crowd),
        String(c.detections),
        ...(box ? [fixed(c.box_ap), fixed(c.box_ap50)] : []),
        ...(mask ? [fixed(c.mask_ap), fixed(c.mask_ap50)] : []),
      ]),
      (i) => i > 0,
    ),
  );
  if (worst > 0) {
    lines.push('', `worst images by ${report.per_image_measure} (every detection, any score):`);
    lines.push(
      ...table(
        ['image', 'instances', 'dets', 'tp', 'fp', 'fn', 'F1'],
        report.per_image
          .slice(0, worst)
          .map((r) => [
            r.file_name ?? String(r.image_id),
            String(r.instances),
            String(r.detections),
            String(r.tp),
            String(r.fp),
            String(r.fn),
            fixed(r.f1),
          ]),
        (i) => i > 0,
      ),
    );
  }
  return lines;
}

/** Confusion matrices wider than this are left to the JSON report. */
const MAX_PRINTED_CONFUSION = 12;

function semanticTable(report: SemanticReport, worst: number): string[] {
  const s = report.summary;
  const lines = [
    `${report.task} evaluation of ${describeSubject(report)}`,
    `${report.images} images, ${s.pixels} pixels counted${report.ignore_index === null ? '' : ` (truth ${report.ignore_index} ignored)`}`,
    '',
    `mIoU ${fixed(s.miou)}   mean Dice ${fixed(s.mdice)}   pixel accuracy ${fixed(s.pixel_accuracy)}   ` +
      `mean accuracy ${fixed(s.mean_accuracy)}   mean precision ${fixed(s.mean_precision)}`,
    '',
  ];
  lines.push(
    ...table(
      ['class', 'IoU', 'Dice', 'recall', 'precision', 'truth px', 'predicted px'],
      report.classes.map((c) => [
        `${c.class_id} ${c.label}`,
        fixed(c.iou),
        fixed(c.dice),
        fixed(c.recall),
        fixed(c.precision),
        String(c.truth_pixels),
        String(c.predicted_pixels),
      ]),
      (i) => i > 0,
    ),
  );
  const { labels, matrix } = report.confusion;
  if (labels.length <= MAX_PRINTED_CONFUSION) {
    lines.push('', 'confusion matrix (rows: truth, columns: prediction, pixels):');
    lines.push(
      ...table(
        ['', ...labels],
        matrix.map((row, t) => [labels[t], ...row.map(String)]),
        (i) => i > 0,
      ),
    );
  }
  if (worst > 0) {
    lines.push('', 'worst images by mIoU:');
    lines.push(
      ...table(
        ['image', 'mIoU', 'mean Dice', 'pixel accuracy'],
        report.per_image
          .slice(0, worst)
          .map((r) => [r.image, fixed(r.miou), fixed(r.mdice), fixed(r.pixel_accuracy)]),
        (i) => i > 0,
      ),
    );
  }
  return lines;
}

/** A readable table of a report for a terminal. */
export function formatReportTable(report: EvaluationReport, options: TableOptions = {}): string {
  const worst = options.worst ?? 10;
  const lines = report.kind === 'instance' ? instanceTable(report, worst) : semanticTable(report, worst);
  for (const warning of report.warnings) lines.push(`warning: ${warning}`);
  return lines.join('\n');
}
