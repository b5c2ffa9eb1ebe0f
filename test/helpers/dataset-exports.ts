/**
 * Reading dataset exports back the way their consumers would, independently of the exporters: COCO instances
 * files as pycocotools reads them (RLE decoded, categories matched by name), mask PNG folders as trainers read
 * them (grey values as class ids), Label Studio brush results and CVAT `<mask>` elements. Tests compare what
 * comes back with the stored labels pixel for pixel (also the end-to-end test of the active-learning loop).
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { exportVersion, folderTarget, getDataset } from '../../src/learning/datasets/index.js';
import { brushRleToMask, cvatToMask, decodeRle, parseCvatRle } from '../../src/masks/index.js';
import type { BlobStore, Database } from '../../src/storage/index.js';

/** A mask of one segment with its class id, as an export gives it back. */
export interface DecodedSegment {
  classId: number;
  data: Uint8Array;
}

/** Image sha256 (the export's file names are `<sha256>.<ext>`) to its segments in export order. */
export type DecodedExport = Map<string, { width: number; height: number; segments: DecodedSegment[] }>;

const shaOf = (fileName: string) => fileName.replace(/^.*\//, '').replace(/\..*$/, '');

interface CocoFile {
  images: Array<{ id: number; file_name: string; width: number; height: number }>;
  annotations: Array<{
    image_id: number;
    category_id: number;
    iscrowd: number;
    segmentation: { size: [number, number]; counts: string };
  }>;
  categories: Array<{ id: number; name: string }>;
}

/** Both split files of a COCO export; class ids from category names looked up in `labels`. */
export async function readCocoExport(dir: string, labels: readonly string[]): Promise<DecodedExport> {
  const out: DecodedExport = new Map();
  for (const split of ['train', 'validation']) {
    const coco = JSON.parse(
      await readFile(join(dir, 'annotations', `instances_${split}.json`), 'utf8'),
    ) as CocoFile;
    const classOf = new Map(coco.categories.map((c) => [c.id, labels.indexOf(c.name)]));
    const images = new Map(coco.images.map((image) => [image.id, image]));
    for (const image of coco.images) {
      out.set(shaOf(image.file_name), { width: image.width, height: image.height, segments: [] });
    }
    for (const annotation of coco.annotations) {
      const image = images.get(annotation.image_id)!;
      const mask = decodeRle(annotation.segmentation);
      if (mask.width !== image.width || mask.height !== image.height)
        throw new Error('RLE size is not the image');
      out.get(shaOf(image.file_name))!.segments.push({
        classId: classOf.get(annotation.category_id)!,
        data: mask.data,
      });
    }
  }
  return out;
}

/** A mask PNG folder: its manifest's images with the class map of each mask (one segment per class present). */
export async function readMaskFolderExport(dir: string): Promise<DecodedExport> {
  const out: DecodedExport = new Map();
  const lines = (await readFile(join(dir, 'manifest.csv'), 'utf8')).trim().split('\n').slice(1);
  for (const line of lines) {
    const [image, mask] = line.split(',');
    const { data, info } = await sharp(join(dir, mask))
      .extractChannel(0)
      .raw()
      .toBuffer({ resolveWithObject: true });
    out.set(shaOf(image), {
      width: info.width,
      height: info.height,
      segments: classMapSegments(new Uint8Array(data)),
    });
  }
  return out;
}

/** A class map as one segment per class present other than 0, in class order. */
export function classMapSegments(map: Uint8Array): DecodedSegment[] {
  const classes = [...new Set(map)].filter((c) => c !== 0).sort((a, b) => a - b);
  return classes.map((classId) => ({ classId, data: map.map((v) => (v === classId ? 1 : 0)) }));
}

/** Label Studio tasks: each brushlabels result decoded from Label Studio's brush RLE. */
export async function readLabelStudioExport(dir: string, labels: readonly string[]): Promise<DecodedExport> {
  const tasks = JSON.parse(await readFile(join(dir, 'tasks.json'), 'utf8')) as Array<{
    data: { image: string };
    annotations: Array<{
      result: Array<{
        original_width: number;
        original_height: number;
        value: { rle: number[]; brushlabels: string[] };
      }>;
    }>;
  }>;
  const out: DecodedExport = new Map();
  for (const task of tasks) {
    const results = task.annotations[0].result;
    const entry = { width: 0, height: 0, segments: [] as DecodedSegment[] };
    for (const result of results) {
      entry.width = result.original_width;
      entry.height = result.original_height;
      const mask = brushRleToMask(result.value.rle, result.original_width, result.original_height);
      entry.segments.push({ classId: labels.indexOf(result.value.brushlabels[0]), data: mask.data });
    }
    out.set(shaOf(task.data.image), entry);
  }
  return out;
}

/** CVAT for images 1.1: each `<mask>` of each `<image>`, read with a pattern (the export writes one per line). */
export async function readCvatExport(dir: string, labels: readonly string[]): Promise<DecodedExport> {
  const xml = await readFile(join(dir, 'annotations.xml'), 'utf8');
  const out: DecodedExport = new Map();
  let current: { width: number; height: number; segments: DecodedSegment[] } | undefined;
  for (const line of xml.split('\n')) {
    const image = /<image id="\d+" name="([^"]+)" subset="\w+" width="(\d+)" height="(\d+)">/.exec(line);
    if (image) {
      current = { width: Number(image[2]), height: Number(image[3]), segments: [] };
      out.set(shaOf(image[1]), current);
    }
    const mask =
      /<mask label="([^"]+)" .*rle="([^"]+)" left="(\d+)" top="(\d+)" width="(\d+)" height="(\d+)"/.exec(
        line,
      );
    if (mask && current) {
      const [left, top, width, height] = mask.slice(3, 7).map(Number);
      const decoded = cvatToMask(
        { left, top, width, height, rle: parseCvatRle(mask[2]) },
        current.width,
        current.height,
      );
      current.segments.push({ classId: labels.indexOf(mask[1]), data: decoded.data });
    }
  }
  return out;
}

/**
 * Exports version `ref` of `dataset` as COCO and as a mask PNG folder under `dir`, reads both back, and returns
 * each one's class map per image sha256 (semantic and binary datasets), for a test to compare with the masks it
 * submitted.
 */
export async function exportAndDecodeClassMaps(
  stores: { db: Database; blobs: BlobStore },
  dataset: string,
  ref: string,
  dir: string,
): Promise<{ coco: Map<string, Uint8Array>; masks: Map<string, Uint8Array> }> {
  const { labels } = await getDataset(stores.db, dataset);
  const out = { coco: new Map<string, Uint8Array>(), masks: new Map<string, Uint8Array>() };
  for (const format of ['coco', 'masks'] as const) {
    const folder = join(dir, `${dataset}-${format}`);
    await exportVersion(stores.db, stores.blobs, dataset, ref, format, await folderTarget(folder));
    const decoded =
      format === 'coco' ? await readCocoExport(folder, labels) : await readMaskFolderExport(folder);
    for (const [sha, { width, height, segments }] of decoded) {
      const map = new Uint8Array(width * height);
      for (const segment of segments) {
        for (let i = 0; i < map.length; i++) if (segment.data[i]) map[i] = segment.classId;
      }
      out[format].set(sha, map);
    }
  }
  return out;
}
