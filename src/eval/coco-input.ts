/**
 * The two inputs of a COCO instance evaluation, as COCO's files write them: a ground truth (`instances.json`:
 * images, annotations, categories) and a results list (`[{image_id, category_id, score, bbox, segmentation}]`).
 * The parsers check the JSON shapes and say which field is wrong (EVAL_INPUT_INVALID); they take `unknown`, so a
 * caller hands over whatever JSON.parse gave. The library never reads files itself: it is the pure layer, and
 * the same evaluator serves the command line, the HTTP API and a model run.
 */
import { SegserveError } from '../errors.js';
import type { CompressedRle, UncompressedRle } from '../masks/index.js';

/** [x, y, width, height] in pixels, as COCO writes boxes. */
export type CocoBox = [number, number, number, number];

/** Polygons (each a flat [x1, y1, x2, y2, ...]) or RLE, compressed or not. */
export type CocoSegmentation = number[][] | CompressedRle | UncompressedRle;

export interface CocoImage {
  id: number;
  width: number;
  height: number;
  file_name?: string;
}

export interface CocoCategory {
  id: number;
  name: string;
}

export interface CocoAnnotation {
  id: number;
  image_id: number;
  category_id: number;
  /** 1: a crowd region (many objects under one mask); absent counts as 0. */
  iscrowd?: number;
  /** COCO's area (for polygons the polygon's area, not its pixel count): what the area ranges are judged by. */
  area?: number;
  bbox?: CocoBox;
  segmentation?: CocoSegmentation;
}

export interface CocoDataset {
  images: CocoImage[];
  annotations: CocoAnnotation[];
  categories: CocoCategory[];
}

/** One detection in COCO's results format. `category_name`, when given, decides the category (by name). */
export interface CocoResult {
  image_id: number;
  category_id?: number;
  category_name?: string;
  score: number;
  bbox?: CocoBox;
  segmentation?: CocoSegmentation;
}

function invalid(source: string, reason: string): never {
  throw new SegserveError('EVAL_INPUT_INVALID', { source, reason });
}

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

const isFiniteNumber = (value: unknown): value is number =>
  typeof value === 'number' && Number.isFinite(value);

function checkBox(value: unknown, where: string, source: string): CocoBox {
  if (!Array.isArray(value) || value.length !== 4 || !value.every(isFiniteNumber)) {
    invalid(source, `${where}.bbox must be [x, y, width, height], 4 numbers`);
  }
  return value as CocoBox;
}

/** Checks the form only; the runs are checked against the size when the mask is used. */
function checkSegmentation(value: unknown, where: string, source: string): CocoSegmentation {
  if (Array.isArray(value)) {
    for (const polygon of value) {
      if (!Array.isArray(polygon) || polygon.length % 2 !== 0 || !polygon.every(isFiniteNumber)) {
        invalid(source, `${where}.segmentation: a polygon must be a flat list of x, y numbers`);
      }
    }
    return value as number[][];
  }
  if (
    isRecord(value) &&
    Array.isArray(value.size) &&
    (typeof value.counts === 'string' || Array.isArray(value.counts))
  ) {
    const size = value.size;
    if (size.length !== 2 || !size.every((v) => Number.isInteger(v) && (v as number) >= 0)) {
      invalid(source, `${where}.segmentation.size must be [height, width]`);
    }
    return value as unknown as CompressedRle | UncompressedRle;
  }
  invalid(source, `${where}.segmentation must be polygons or RLE ({size, counts})`);
}

function checkId(value: unknown, where: string, source: string): number {
  if (!isFiniteNumber(value)) invalid(source, `${where} must be a number`);
  return value;
}

/** Checks the shape of a COCO instances file (`images`, `annotations`, `categories`). */
export function parseCocoDataset(json: unknown, source = 'ground truth'): CocoDataset {
  if (!isRecord(json))
    invalid(source, 'expected a COCO instances object with images, annotations, categories');
  const { images, annotations, categories } = json;
  if (!Array.isArray(images)) invalid(source, 'images must be a list');
  if (!Array.isArray(annotations)) invalid(source, 'annotations must be a list');
  if (!Array.isArray(categories)) invalid(source, 'categories must be a list');
  images.forEach((image: unknown, i) => {
    const where = `images[${i}]`;
    if (!isRecord(image)) invalid(source, `${where} must be an object`);
    checkId(image.id, `${where}.id`, source);
    for (const key of ['width', 'height'] as const) {
      if (!Number.isInteger(image[key]) || (image[key] as number) <= 0) {
        invalid(source, `${where}.${key} must be a positive integer`);
      }
    }
  });
  categories.forEach((category: unknown, i) => {
    const where = `categories[${i}]`;
    if (!isRecord(category)) invalid(source, `${where} must be an object`);
    checkId(category.id, `${where}.id`, source);
    if (typeof category.name !== 'string') invalid(source, `${where}.name must be a string`);
  });
  annotations.forEach((annotation: unknown, i) => {
    const where = `annotations[${i}]`;
    if (!isRecord(annotation)) invalid(source, `${where} must be an object`);
    checkId(annotation.id, `${where}.id`, source);
    checkId(annotation.image_id, `${where}.image_id`, source);
    checkId(annotation.category_id, `${where}.category_id`, source);
    if (annotation.iscrowd !== undefined && annotation.iscrowd !== 0 && annotation.iscrowd !== 1) {
      invalid(source, `${where}.iscrowd must be 0 or 1`);
    }
    if (annotation.area !== undefined && !isFiniteNumber(annotation.area)) {
      invalid(source, `${where}.area must be a number`);
    }
    if (annotation.bbox !== undefined) checkBox(annotation.bbox, where, source);
    if (annotation.segmentation !== undefined) checkSegmentation(annotation.segmentation, where, source);
  });
  return json as unknown as CocoDataset;
}

/** Checks the shape of a COCO results list; each result needs a score and a bbox or a segmentation. */
export function parseCocoResults(json: unknown, source = 'results'): CocoResult[] {
  if (!Array.isArray(json)) invalid(source, 'expected a list of results (COCO results format)');
  json.forEach((result: unknown, i) => {
    const where = `[${i}]`;
    if (!isRecord(result)) invalid(source, `result ${where} must be an object`);
    checkId(result.image_id, `${where}.image_id`, source);
    if (result.category_id !== undefined) checkId(result.category_id, `${where}.category_id`, source);
    if (result.category_name !== undefined && typeof result.category_name !== 'string') {
      invalid(source, `${where}.category_name must be a string`);
    }
    if (result.category_id === undefined && result.category_name === undefined) {
      invalid(source, `${where} has neither category_id nor category_name`);
    }
    if (!isFiniteNumber(result.score)) invalid(source, `${where}.score must be a number`);
    const hasBox = result.bbox !== undefined && !(Array.isArray(result.bbox) && result.bbox.length === 0);
    if (hasBox) checkBox(result.bbox, where, source);
    if (result.segmentation !== undefined) checkSegmentation(result.segmentation, where, source);
    if (!hasBox && result.segmentation === undefined)
      invalid(source, `${where} has neither bbox nor segmentation`);
  });
  return json as CocoResult[];
}
