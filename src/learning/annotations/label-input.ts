/**
 * Turns a submitted label, in whichever form it came (the prediction accepted, a mask PNG, COCO RLE segments,
 * polygons), into the label document it is stored as, checking it against the item it labels: the image's size,
 * the model's classes (those of the prediction's document, i.e. of the model version that made it) and well-formed
 * masks. Every refusal is LABEL_INVALID naming the field at fault, raised before anything is stored.
 *
 * Semantic and binary labels all pass through a class map (documentFromClassMap), so the same pixels give the same
 * document whatever form they came in; instance labels keep the instances in the order given.
 */
import { SegserveError } from '../../errors.js';
import {
  type CompressedRle,
  decodeMaskPng,
  decodeRle,
  polygonsToMask,
  readPngHeader,
  toCompressedRle,
  type UncompressedRle,
} from '../../masks/index.js';
import {
  documentFromClassMap,
  type LabelDocument,
  type LabelSegment,
  makeDocument,
  parseLabelDocument,
} from '../label-document.js';
import type { SubmittedAs } from './types.js';

/** A class by name (`label`) or by id (`class_id`); both may be given if they agree. */
export interface ClassRef {
  label?: string;
  class_id?: number;
}

export interface RleSegmentInput extends ClassRef {
  rle: CompressedRle | UncompressedRle;
}

export interface PolygonSegmentInput extends ClassRef {
  /** COCO polygons: flat [x0, y0, x1, y1, ...] lists in pixel-border coordinates, united. */
  polygons: number[][];
}

/**
 * A label as submitted. `png`: pixel values are class ids (0/255 also read as 0/1 for binary models); for
 * instance models, instance numbers 1..N whose classes `instances` gives in order.
 */
export type LabelSubmission =
  | { format: 'accept' }
  | { format: 'png'; png: Uint8Array; instances?: ClassRef[] }
  | { format: 'rle'; segments: RleSegmentInput[] }
  | { format: 'polygons'; segments: PolygonSegmentInput[] };

export const SUBMITTED_AS: Record<LabelSubmission['format'], SubmittedAs> = {
  accept: 'accepted',
  png: 'png',
  rle: 'rle',
  polygons: 'polygons',
};

function invalid(reason: string): never {
  throw new SegserveError('LABEL_INVALID', { reason });
}

/** Runs `fn`, turning the mask layer's INVALID_ARGUMENT into LABEL_INVALID about `where`. */
function asLabelProblem<T>(where: string, fn: () => T): T {
  try {
    return fn();
  } catch (error) {
    if (error instanceof SegserveError && error.code === 'INVALID_ARGUMENT') {
      invalid(`${where}: ${error.details.reason ?? error.message}`);
    }
    throw error;
  }
}

/** The class id `ref` names among `labels`; `where` says which field, for the message. */
export function resolveClass(ref: ClassRef, labels: readonly string[], where: string): number {
  const known = `the model's classes are ${labels.map((l, i) => `${i} ${JSON.stringify(l)}`).join(', ')}`;
  let byName: number | undefined;
  if (ref.label !== undefined) {
    byName = labels.indexOf(ref.label);
    if (byName < 0)
      invalid(`${where}.label: ${JSON.stringify(ref.label)} is not a class of the model (${known})`);
  }
  if (ref.class_id !== undefined) {
    const id = ref.class_id;
    if (!Number.isInteger(id) || id < 0 || id >= labels.length) {
      invalid(`${where}.class_id: ${id} is not a class of the model (${known})`);
    }
    if (byName !== undefined && byName !== id) {
      invalid(`${where}: label ${JSON.stringify(ref.label)} is class ${byName}, not class_id ${id}`);
    }
    return id;
  }
  if (byName === undefined) invalid(`${where}: name its class with label or class_id`);
  return byName;
}

/** The item a label is for: its image size and the prediction whose task and classes the label must share. */
export interface LabelTarget {
  width: number;
  height: number;
  prediction: LabelDocument;
}

export function labelDocumentFor(target: LabelTarget, submission: LabelSubmission): LabelDocument {
  const { prediction } = target;
  if (prediction.width !== target.width || prediction.height !== target.height) {
    // A stored prediction that disagrees with its own sample row: not the submitter's fault.
    throw new Error(
      `the stored prediction is ${prediction.width}x${prediction.height}, its image ${target.width}x${target.height}`,
    );
  }
  const document = build(prediction, submission);
  // The last word on shape, ids and overlaps: the same checks as any stored label.
  return parseLabelDocument(document);
}

function build(prediction: LabelDocument, submission: LabelSubmission): LabelDocument {
  switch (submission.format) {
    case 'accept':
      return accepted(prediction);
    case 'png':
      return fromPng(prediction, submission.png, submission.instances);
    case 'rle':
      return fromMasks(prediction, checkList(submission.segments, 'segments'), (segment, where) =>
        rleMask(segment, prediction, where),
      );
    case 'polygons':
      return fromMasks(prediction, checkList(submission.segments, 'segments'), (segment, where) =>
        polygonMask(segment, prediction, where),
      );
  }
}

function checkList<T>(list: T[] | undefined, name: string): T[] {
  if (!Array.isArray(list)) invalid(`${name}: this format needs a list of ${name}`);
  return list;
}

/** The prediction as a person's label: scores dropped (a label is not a guess), empty instances left out. */
function accepted(prediction: LabelDocument): LabelDocument {
  const { task, width, height, labels } = prediction;
  if (task === 'instance') {
    const kept = prediction.segments
      .filter((segment) => decodeRle(segment.rle).data.some((v) => v !== 0))
      .map(({ class_id, rle }) => ({ class_id, rle }));
    return makeDocument(task, width, height, labels, kept);
  }
  const map = new Uint16Array(width * height);
  for (const segment of prediction.segments) {
    const mask = decodeRle(segment.rle).data;
    for (let i = 0; i < mask.length; i++) if (mask[i]) map[i] = segment.class_id;
  }
  return documentFromClassMap(task, width, height, labels, map);
}

type Mask = Uint8Array;

/** One whole-image mask per segment, each naming a class: semantic ones merge into a class map, instances stay. */
function fromMasks<T extends ClassRef>(
  prediction: LabelDocument,
  segments: T[],
  maskOf: (segment: T, where: string) => Mask,
): LabelDocument {
  const { task, width, height, labels } = prediction;
  const masks = segments.map((segment, index) => {
    const where = `segments.${index}`;
    const classId = resolveClass(segment, labels, where);
    const mask = maskOf(segment, where);
    if (!mask.some((v) => v !== 0)) invalid(`${where}: its mask covers no pixel`);
    return { classId, mask, where };
  });
  if (task === 'instance') {
    return makeDocument(
      task,
      width,
      height,
      labels,
      masks.map(({ classId, mask }) => ({
        class_id: classId,
        rle: toCompressedRle({ width, height, data: mask }),
      })),
    );
  }
  const map = new Uint16Array(width * height);
  for (const { classId, mask, where } of masks) {
    if (classId === 0) invalid(`${where}: class 0 (${labels[0]}) is the background, what no segment covers`);
    for (let i = 0; i < mask.length; i++) {
      if (mask[i] === 0) continue;
      if (map[i] !== 0) {
        invalid(
          `${where} overlaps another segment at (${i % width}, ${Math.floor(i / width)}); ` +
            `the classes of a ${task} label are disjoint`,
        );
      }
      map[i] = classId;
    }
  }
  return documentFromClassMap(task, width, height, labels, map);
}

function rleMask(segment: RleSegmentInput, prediction: LabelDocument, where: string): Mask {
  const { rle } = segment;
  if (typeof rle !== 'object' || rle === null) invalid(`${where}.rle: a COCO RLE {size, counts} is needed`);
  const { width, height } = prediction;
  const size = rle.size;
  if (!Array.isArray(size) || size[0] !== height || size[1] !== width) {
    invalid(
      `${where}.rle.size: ${JSON.stringify(size)} is not the image's [${height}, ${width}] ([height, width])`,
    );
  }
  return asLabelProblem(`${where}.rle`, () => decodeRle(rle).data);
}

function polygonMask(segment: PolygonSegmentInput, prediction: LabelDocument, where: string): Mask {
  const { width, height } = prediction;
  const polygons = checkList(segment.polygons, `${where}.polygons`);
  if (polygons.length === 0) invalid(`${where}.polygons: at least one polygon is needed`);
  polygons.forEach((polygon, p) => {
    const at = `${where}.polygons.${p}`;
    if (!Array.isArray(polygon) || polygon.length < 6 || polygon.length % 2 !== 0) {
      invalid(`${at}: a polygon is a flat [x0, y0, x1, y1, ...] list of at least 3 points`);
    }
    polygon.forEach((value, k) => {
      const limit = k % 2 === 0 ? width : height;
      if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || value > limit) {
        invalid(
          `${at}.${k}: ${JSON.stringify(value)} is not a ${k % 2 === 0 ? 'x' : 'y'} coordinate inside the ` +
            `${width}x${height} image (0 to ${limit})`,
        );
      }
    });
  });
  return asLabelProblem(`${where}.polygons`, () => polygonsToMask(polygons, width, height).data);
}

function fromPng(
  prediction: LabelDocument,
  png: Uint8Array,
  instances: ClassRef[] | undefined,
): LabelDocument {
  const { task, width, height, labels } = prediction;
  const header = asLabelProblem('mask_png', () => readPngHeader(png));
  if (header.width !== width || header.height !== height) {
    invalid(`mask_png: it is ${header.width}x${header.height}, the image is ${width}x${height}`);
  }
  const { values } = asLabelProblem('mask_png', () => decodeMaskPng(png, width * height));
  const badPixel = (i: number, what: string): never =>
    invalid(`mask_png: pixel (${i % width}, ${Math.floor(i / width)}) holds ${values[i]}, ${what}`);
  if (task === 'instance') {
    const classes = checkList(instances, 'instances').map((ref, i) =>
      resolveClass(ref, labels, `instances.${i}`),
    );
    const masks = classes.map(() => new Uint8Array(width * height));
    for (let i = 0; i < values.length; i++) {
      const v = values[i];
      if (v === 0) continue;
      if (v > masks.length)
        badPixel(i, `but instances lists ${masks.length} (pixel values are instance numbers)`);
      masks[v - 1][i] = 1;
    }
    const segments: LabelSegment[] = masks.map((data, i) => {
      if (!data.some((v) => v !== 0)) invalid(`instances.${i}: no pixel holds its number ${i + 1}`);
      return { class_id: classes[i], rle: toCompressedRle({ width, height, data }) };
    });
    return makeDocument(task, width, height, labels, segments);
  }
  if (instances !== undefined) invalid(`instances: a ${task} mask holds class ids, not instances`);
  // Binary masks are often saved 0/255 (black and white) rather than as class ids 0/1.
  const white = task === 'binary' && labels.length === 2 ? 1 : undefined;
  const map = new Uint8Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const v = values[i] === 255 && white !== undefined ? white : values[i];
    if (v >= labels.length) badPixel(i, `not a class id of the model (0 to ${labels.length - 1})`);
    map[i] = v;
  }
  return documentFromClassMap(task, width, height, labels, map);
}
