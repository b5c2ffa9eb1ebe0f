/**
 * COCO instances JSON (what pycocotools' `COCO(file)`, Detectron2, MMDetection and torchvision read), one file per
 * split: `annotations/instances_train.json` and `annotations/instances_validation.json`, the images in `images/`.
 *
 * - Annotations: one per instance of instance labels, one per class present of semantic and binary labels
 *   (the class's pixels, connected or not). `segmentation` is compressed RLE (`{size: [h, w], counts}`, the
 *   label's own RLE, byte-compatible with pycocotools), `area` its pixel count, `bbox` its tight [x, y, w, h].
 * - `iscrowd` is 0 on every annotation. COCO's evaluation ignores crowd regions (a detection on one counts neither
 *   way) and training code commonly skips them; every segment here is a labelled object or class region meant to
 *   be learnt and scored. pycocotools reads RLE segmentation whatever `iscrowd` says (`annToRLE` takes any dict).
 * - Categories by name. Instance datasets number them as `segserve predict --format coco` does (category-ids.ts):
 *   COCO's official ids when the labels include COCO's 80 names, else class index + 1. Semantic and binary ones
 *   leave the background out and keep the class id as the category id (1..n-1).
 * - Image and annotation ids count from 1 in manifest order, so exporting a version twice gives the same bytes.
 */
import { rleArea, rleBbox, stringToCounts } from '../../../masks/index.js';
import { categoryMapping } from '../../../serving/category-ids.js';
import type { DatasetDefinition } from '../../dataset-items.js';
import { SPLITS, type Split } from '../manifest.js';
import { type ExportFile, type ExportItem, foregroundClasses, jsonFile } from './items.js';

export interface CocoCategory {
  id: number;
  name: string;
  supercategory: string;
}

export interface CocoImageEntry {
  id: number;
  file_name: string;
  width: number;
  height: number;
}

export interface CocoAnnotationEntry {
  id: number;
  image_id: number;
  category_id: number;
  segmentation: { size: [number, number]; counts: string };
  area: number;
  bbox: [number, number, number, number];
  iscrowd: 0;
}

export interface CocoInstances {
  info: { description: string; version: string };
  images: CocoImageEntry[];
  annotations: CocoAnnotationEntry[];
  categories: CocoCategory[];
}

/** The category id of each class id of the dataset (undefined for a semantic dataset's background). */
export function cocoCategoryIds(dataset: Pick<DatasetDefinition, 'task' | 'labels'>): Map<number, number> {
  if (dataset.task === 'instance') {
    const { categoryId } = categoryMapping(dataset.labels);
    return new Map(dataset.labels.map((label, classId) => [classId, categoryId(label, classId)]));
  }
  return new Map(foregroundClasses(dataset).map(([classId]) => [classId, classId]));
}

export function cocoPathOf(split: Split): string {
  return `annotations/instances_${split}.json`;
}

/** The COCO documents of the items, by split. */
export function cocoDocuments(
  dataset: Pick<DatasetDefinition, 'name' | 'task' | 'labels'>,
  versionId: string,
  items: readonly ExportItem[],
): Record<Split, CocoInstances> {
  const ids = cocoCategoryIds(dataset);
  const categories = foregroundClasses(dataset).map(([classId, name]) => ({
    id: ids.get(classId)!,
    name,
    supercategory: dataset.name,
  }));
  const documentOf = (split: Split): CocoInstances => ({
    info: { description: `segserve dataset ${dataset.name} (${split})`, version: versionId },
    images: [],
    annotations: [],
    categories,
  });
  const documents: Record<Split, CocoInstances> = {
    train: documentOf('train'),
    validation: documentOf('validation'),
  };
  let annotationId = 0;
  items.forEach((item, index) => {
    const document = documents[item.entry.split];
    const { width, height } = item.label;
    document.images.push({ id: index + 1, file_name: item.fileName, width, height });
    for (const segment of item.label.segments) {
      const counts = stringToCounts(segment.rle.counts);
      document.annotations.push({
        id: ++annotationId,
        image_id: index + 1,
        category_id: ids.get(segment.class_id)!,
        segmentation: { size: [height, width], counts: segment.rle.counts },
        area: rleArea(counts),
        bbox: rleBbox(counts, height, width),
        iscrowd: 0,
      });
    }
  });
  return documents;
}

export function cocoFiles(
  dataset: Pick<DatasetDefinition, 'name' | 'task' | 'labels'>,
  versionId: string,
  items: readonly ExportItem[],
): ExportFile[] {
  const documents = cocoDocuments(dataset, versionId, items);
  return SPLITS.map((split) => jsonFile(cocoPathOf(split), documents[split]));
}
