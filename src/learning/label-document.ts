/**
 * The label document: how segserve stores a prediction kept for labelling and the label a person submits for it,
 * whatever form it came in (an accepted prediction, a mask PNG, COCO RLE, polygons). One JSON shape for every
 * task, stored content-addressed in the BlobStore, so equal labels have equal hashes (a dataset manifest lists
 * label hashes) and every export (COCO, mask PNGs, Label Studio, CVAT) reads one format.
 *
 * - semantic and binary: one segment per class present other than 0 (background), the segments disjoint; a
 *   pixel in no segment is background.
 * - instance: one segment per instance, overlaps allowed (COCO's instances overlap too).
 *
 * Masks are COCO RLE strings (size [height, width], column-major runs, as pycocotools writes them).
 */
import { z } from 'zod';
import { SegserveError } from '../errors.js';
import type { CompressedRle } from '../masks/index.js';
import { decodeRle, toCompressedRle } from '../masks/index.js';
import { rleCounts } from '../masks/rle.js';
import type { SegmentationResult } from '../tasks/types.js';

export const LABEL_FORMAT = 'segserve-label';

export interface LabelSegment {
  class_id: number;
  rle: CompressedRle;
  /** The model's score, on segments of a prediction's instances; absent on labels a person made. */
  score?: number;
}

export interface LabelDocument {
  format: typeof LABEL_FORMAT;
  format_version: 1;
  task: 'semantic' | 'binary' | 'instance';
  width: number;
  height: number;
  /** Class names by class id; id 0 is the background for semantic and binary labels. */
  labels: string[];
  segments: LabelSegment[];
}

const LabelDocumentSchema = z
  .object({
    format: z.literal(LABEL_FORMAT),
    format_version: z.literal(1),
    task: z.enum(['semantic', 'binary', 'instance']),
    width: z.number().int().positive().max(100_000),
    height: z.number().int().positive().max(100_000),
    labels: z.array(z.string().min(1)).min(1).max(10_000),
    segments: z
      .array(
        z
          .object({
            class_id: z.number().int().nonnegative(),
            rle: z
              .object({ size: z.tuple([z.number().int(), z.number().int()]), counts: z.string() })
              .strict(),
            score: z.number().min(0).max(1).optional(),
          })
          .strict(),
      )
      .max(10_000),
  })
  .strict();

function invalid(reason: string): never {
  throw new SegserveError('LABEL_INVALID', { reason });
}

/** The prediction of `result` as a label document: what an annotator starts from. */
export function labelFromResult(result: SegmentationResult, labels: readonly string[]): LabelDocument {
  const { width, height } = result;
  if (result.task === 'instance') {
    return makeDocument(
      'instance',
      width,
      height,
      labels,
      result.instances.map((instance) => ({
        class_id: instance.classId,
        rle: toCompressedRle(instance.mask),
        score: instance.score,
      })),
    );
  }
  if (result.task === 'classification') invalid('a classification has no mask to label');
  return documentFromClassMap(result.task, width, height, labels, result.classMap);
}

/**
 * The semantic or binary document of a class map (the class id of every pixel, row-major): one segment per
 * class present other than 0, in class order. Every form a semantic label arrives in goes through here, so the
 * same map always gives the same document, and the same hash.
 */
export function documentFromClassMap(
  task: 'semantic' | 'binary',
  width: number,
  height: number,
  labels: readonly string[],
  map: ArrayLike<number>,
): LabelDocument {
  const present = new Set<number>();
  for (let i = 0; i < map.length; i++) if (map[i] !== 0) present.add(map[i]);
  const segments: LabelSegment[] = [...present]
    .sort((a, b) => a - b)
    .map((classId) => {
      const data = new Uint8Array(width * height);
      for (let i = 0; i < data.length; i++) data[i] = map[i] === classId ? 1 : 0;
      return { class_id: classId, rle: toCompressedRle({ width, height, data }) };
    });
  return makeDocument(task, width, height, labels, segments);
}

/** A document with its fields in the canonical order (the order encodeLabelDocument writes them in). */
export function makeDocument(
  task: LabelDocument['task'],
  width: number,
  height: number,
  labels: readonly string[],
  segments: readonly LabelSegment[],
): LabelDocument {
  return {
    format: LABEL_FORMAT,
    format_version: 1,
    task,
    width,
    height,
    labels: [...labels],
    segments: segments.map(({ class_id, rle, score }) =>
      score === undefined
        ? { class_id, rle: { size: [rle.size[0], rle.size[1]], counts: rle.counts } }
        : { class_id, rle: { size: [rle.size[0], rle.size[1]], counts: rle.counts }, score },
    ),
  };
}

/** The bytes stored for a document: canonical JSON, so the same label always has the same SHA-256. */
export function encodeLabelDocument(document: LabelDocument): Uint8Array {
  const { task, width, height, labels, segments } = document;
  return new TextEncoder().encode(JSON.stringify(makeDocument(task, width, height, labels, segments)));
}

/**
 * Validates a document from outside (a stored file, an import): its shape, every segment's RLE covering exactly
 * width x height, class ids within the labels and, for semantic and binary labels, no class 0 segment and no
 * pixel in two segments. Throws LABEL_INVALID saying what is wrong.
 */
export function parseLabelDocument(value: unknown): LabelDocument {
  const parsed = LabelDocumentSchema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    invalid(`${issue.path.map(String).join('.') || '(root)'}: ${issue.message}`);
  }
  const { task, width, height, labels, segments } = parsed.data;
  const covered = task === 'instance' ? undefined : new Uint8Array(width * height);
  segments.forEach((segment, index) => {
    const where = `segments.${index}`;
    if (segment.class_id >= labels.length) {
      invalid(
        `${where}.class_id: ${segment.class_id} is not a class of this label (${labels.length} classes)`,
      );
    }
    if (segment.rle.size[0] !== height || segment.rle.size[1] !== width) {
      invalid(`${where}.rle.size: [${segment.rle.size.join(', ')}] is not the label's [${height}, ${width}]`);
    }
    try {
      rleCounts(segment.rle);
    } catch (error) {
      invalid(`${where}.rle: ${(error as Error).message}`);
    }
    if (!covered) return;
    if (segment.class_id === 0) invalid(`${where}.class_id: background (0) is what no segment covers`);
    const mask = decodeRle(segment.rle).data;
    for (let i = 0; i < mask.length; i++) {
      if (mask[i] === 0) continue;
      if (covered[i]) invalid(`${where}: overlaps another segment (semantic classes are disjoint)`);
      covered[i] = 1;
    }
  });
  return makeDocument(task, width, height, labels, segments);
}

/** Reads stored bytes back (parseLabelDocument's checks included). */
export function decodeLabelDocument(bytes: Uint8Array): LabelDocument {
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder().decode(bytes));
  } catch (error) {
    invalid(`not JSON: ${(error as Error).message}`);
  }
  return parseLabelDocument(value);
}

/** The class id of every pixel (row-major) of a semantic or binary document; 0 where no segment is. */
export function classMapOf(document: LabelDocument): Uint8Array {
  if (document.task === 'instance') throw new TypeError('an instance label has no class map');
  const map = new Uint8Array(document.width * document.height);
  for (const segment of document.segments) {
    const mask = decodeRle(segment.rle).data;
    for (let i = 0; i < mask.length; i++) if (mask[i]) map[i] = segment.class_id;
  }
  return map;
}
