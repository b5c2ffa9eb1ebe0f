/**
 * A mask PNG folder: the layout `segserve datasets import --masks` reads back, and most semantic-segmentation
 * trainers load (a folder of images, a folder of class-index masks, a list pairing them):
 *
 *     images/<sha256>.<ext>    the images
 *     masks/<sha256>.png       8-bit grey PNGs, each pixel's value its class id (0 = background)
 *     manifest.csv             image,mask,split (paths relative to the folder), one line per image
 *     labels.txt               class names, line n = class id n
 *
 * Grey rather than palette PNGs: every image library reads a grey value back as the class id, where a palette
 * PNG comes back as colours from most (sharp, OpenCV) and needs the palette to be mapped back.
 * Class maps hold one class per pixel, so instance labels (which may overlap) have no mask folder: export them
 * as COCO, Label Studio or CVAT.
 */
import { SegserveError } from '../../../errors.js';
import { encodeGreyPng } from '../../../masks/index.js';
import type { DatasetDefinition } from '../../dataset-items.js';
import { classMapOf } from '../../label-document.js';
import { type ExportFile, type ExportItem, textFile } from './items.js';

export const MASK_MANIFEST = 'manifest.csv';
export const MASK_LABELS = 'labels.txt';
export const MASK_MANIFEST_HEADER = 'image,mask,split';

export function maskPathOf(item: Pick<ExportItem, 'entry'>): string {
  return `masks/${item.entry.imageSha256}.png`;
}

export function maskFolderFiles(
  dataset: Pick<DatasetDefinition, 'name' | 'task' | 'labels'>,
  items: readonly ExportItem[],
): ExportFile[] {
  if (dataset.task === 'instance') {
    throw new SegserveError('INVALID_ARGUMENT', {
      reason: `dataset "${dataset.name}" holds instance labels, which may overlap and so have no class-index mask; export it as coco, label-studio or cvat`,
    });
  }
  const files: ExportFile[] = items.map((item) => ({
    path: maskPathOf(item),
    bytes: encodeGreyPng(classMapOf(item.label), item.label.width, item.label.height),
    contentType: 'image/png',
  }));
  const lines = items.map((item) => `images/${item.fileName},${maskPathOf(item)},${item.entry.split}`);
  files.push(textFile(MASK_LABELS, `${dataset.labels.join('\n')}\n`));
  files.push(textFile(MASK_MANIFEST, `${[MASK_MANIFEST_HEADER, ...lines].join('\n')}\n`, 'text/csv'));
  return files;
}
