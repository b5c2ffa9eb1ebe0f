/**
 * Importing a COCO instances dataset (an `instances.json` and its images folder) as an instance dataset: one
 * dataset item per image, one instance segment per annotation. Polygons are rasterised as pycocotools does
 * (polygonsToMask); RLE segmentations, compressed or not, must be of the image's size.
 *
 * - Classes: `labels` when given, else those of the dataset when it exists, else the file's category names in the
 *   file's order (a dataset that exists with other classes is refused, DATASET_MISMATCH). Each category is found
 *   among them by name; an annotation whose category is missing from the file or from the classes is a problem,
 *   not skipped.
 * - Crowd annotations (`iscrowd: 1`) are skipped and counted: a crowd region is many objects under one mask,
 *   which a label document, whose instance segments are single objects, cannot say.
 * - Images without annotations are imported with an empty label: negative examples are labels too.
 */
import { readFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { z } from 'zod';
import type { CompressedRle, UncompressedRle } from '../../../masks/index.js';
import { decodeRle, maskArea, polygonsToMask, toCompressedRle } from '../../../masks/index.js';
import type { Queryable } from '../../../storage/index.js';
import { type LabelSegment, makeDocument } from '../../label-document.js';
import { noProgress, type ProgressFactory } from '../progress.js';
import {
  checkDefinition,
  checkDuplicates,
  existingDataset,
  type ImportPlan,
  insideFolder,
  type PlannedItem,
  Problems,
  plannedItem,
  readImageFacts,
} from './plan.js';

export interface CocoImportOptions {
  /** The dataset to add to (created when missing). */
  dataset: string;
  /** The COCO instances JSON file. */
  annotations: string;
  /** Where `file_name`s are found; default: `images/` beside the `annotations/` folder holding the file. */
  images?: string;
  /** Class names of a new dataset (default: the file's category names). */
  labels?: readonly string[];
  progress?: ProgressFactory;
}

const positive = z.number().int().positive();

const CocoFileSchema = z.object({
  images: z.array(
    z.object({ id: z.number().int(), file_name: z.string().min(1), width: positive, height: positive }),
  ),
  annotations: z.array(
    z.object({
      id: z.number().int().optional(),
      image_id: z.number().int(),
      category_id: z.number().int(),
      iscrowd: z.union([z.literal(0), z.literal(1)]).optional(),
      segmentation: z.union([
        z.array(z.array(z.number())),
        z.object({
          size: z.tuple([z.number().int(), z.number().int()]),
          counts: z.union([z.string(), z.array(z.number())]),
        }),
      ]),
    }),
  ),
  categories: z.array(z.object({ id: z.number().int(), name: z.string().min(1) })).min(1),
});

type CocoFile = z.infer<typeof CocoFileSchema>;
type CocoAnnotation = CocoFile['annotations'][number];

/** `<root>/annotations/instances.json` has its images in `<root>/images`; any other file, beside it. */
export function defaultImagesFolder(annotations: string): string {
  const folder = dirname(annotations);
  return basename(folder) === 'annotations' ? join(dirname(folder), 'images') : folder;
}

async function readCocoFile(path: string, problems: Problems): Promise<CocoFile | undefined> {
  let json: unknown;
  try {
    json = JSON.parse(await readFile(path, 'utf8'));
  } catch (error) {
    problems.add(
      error instanceof SyntaxError
        ? `not JSON: ${error.message}`
        : `cannot be read: ${(error as Error).message}`,
    );
    return undefined;
  }
  const parsed = CocoFileSchema.safeParse(json);
  if (!parsed.success) {
    for (const issue of parsed.error.issues.slice(0, 10)) {
      problems.add(`${issue.path.map(String).join('.') || '(root)'}: ${issue.message}`);
    }
    return undefined;
  }
  return parsed.data;
}

/** One annotation's mask, or a problem. */
function maskOf(
  annotation: CocoAnnotation,
  width: number,
  height: number,
  where: string,
  problems: Problems,
) {
  const { segmentation } = annotation;
  try {
    if (Array.isArray(segmentation)) return polygonsToMask(segmentation, width, height);
    const [h, w] = segmentation.size;
    if (h !== height || w !== width) {
      problems.add(`${where}: its RLE mask is ${w}x${h}, its image ${width}x${height}`);
      return undefined;
    }
    return decodeRle(segmentation as CompressedRle | UncompressedRle);
  } catch (error) {
    problems.add(`${where}: ${error instanceof Error ? error.message : String(error)}`);
    return undefined;
  }
}

/** Reads and checks the whole import; throws DATASET_IMPORT_INVALID (or DATASET_MISMATCH) before storing. */
export async function planCocoImport(db: Queryable, options: CocoImportOptions): Promise<ImportPlan> {
  const problems = new Problems(options.annotations);
  const file = await readCocoFile(options.annotations, problems);
  problems.throwIfAny();
  const coco = file!;
  const existing = await existingDataset(db, options.dataset);
  const labels = [...(options.labels ?? existing?.labels ?? coco.categories.map((c) => c.name))];
  const definition = { name: options.dataset, task: 'instance' as const, labels };
  await checkDefinition(db, definition);

  const classOf = new Map<number, number>();
  const categoryName = new Map(coco.categories.map((c) => [c.id, c.name]));
  for (const category of coco.categories) {
    const classId = labels.indexOf(category.name);
    if (classId >= 0) classOf.set(category.id, classId);
  }
  const byImage = new Map<number, CocoAnnotation[]>(coco.images.map((image) => [image.id, []]));
  const skipped: Record<string, number> = {};
  /** Why an annotation cannot be placed, or undefined when it can. */
  const problemOf = (annotation: CocoAnnotation): string | undefined => {
    if (!byImage.has(annotation.image_id)) return `image_id ${annotation.image_id} is not among the images`;
    const name = categoryName.get(annotation.category_id);
    if (name === undefined) return `category_id ${annotation.category_id} is not among the categories`;
    if (!classOf.has(annotation.category_id))
      return `category "${name}" is not a class of dataset "${options.dataset}"`;
    return undefined;
  };
  coco.annotations.forEach((annotation, index) => {
    const problem = problemOf(annotation);
    if (problem) problems.add(`annotation ${annotation.id ?? `#${index}`}: ${problem}`);
    else if (annotation.iscrowd === 1) skipped['crowd annotations'] = (skipped['crowd annotations'] ?? 0) + 1;
    else byImage.get(annotation.image_id)!.push(annotation);
  });

  const folder = options.images ?? defaultImagesFolder(options.annotations);
  const items: PlannedItem[] = [];
  const bar = (options.progress ?? noProgress)(coco.images.length, 'check');
  try {
    for (const image of coco.images) {
      bar.tick(image.file_name);
      const path = insideFolder(folder, image.file_name);
      if (!path) {
        problems.add(`image ${image.file_name}: file_name must be a path inside the images folder`);
        continue;
      }
      const facts = await readImageFacts(path, image.file_name, problems);
      if (!facts) continue;
      if (facts.width !== image.width || facts.height !== image.height) {
        problems.add(
          `image ${image.file_name} is ${facts.width}x${facts.height}, the file says ${image.width}x${image.height}`,
        );
        continue;
      }
      const segments: LabelSegment[] = [];
      for (const annotation of byImage.get(image.id) ?? []) {
        const where = `annotation ${annotation.id ?? '?'} of ${image.file_name}`;
        const mask = maskOf(annotation, image.width, image.height, where, problems);
        if (!mask) continue;
        if (maskArea(mask) === 0) {
          skipped['empty annotations'] = (skipped['empty annotations'] ?? 0) + 1;
          continue;
        }
        segments.push({ class_id: classOf.get(annotation.category_id)!, rle: toCompressedRle(mask) });
      }
      items.push(plannedItem(facts, makeDocument('instance', image.width, image.height, labels, segments)));
    }
  } finally {
    bar.stop();
  }
  checkDuplicates(items, problems);
  problems.throwIfAny();
  return { dataset: definition, source: 'import:coco', items, skipped };
}
