/** Readers for the labelled datasets in ../shared/datasets, used by the real-model tests and benchmarks. */
import { readFile } from 'node:fs/promises';
import sharp from 'sharp';
import { sharedPath } from './shared.js';

export interface CocoImage {
  id: number;
  file_name: string;
  width: number;
  height: number;
}

export interface CocoAnnotation {
  id: number;
  image_id: number;
  category_id: number;
  iscrowd: 0 | 1;
  area: number;
  bbox: [number, number, number, number];
  segmentation: number[][] | { size: [number, number]; counts: number[] | string };
}

export interface CocoDataset {
  images: CocoImage[];
  annotations: CocoAnnotation[];
  categories: Array<{ id: number; name: string }>;
}

export const COCO_MINI = sharedPath('datasets', 'coco-val2017-mini');
export const HUMAN_SEG = sharedPath('datasets', 'human-segmentation');

export async function readCocoMini(): Promise<CocoDataset> {
  return JSON.parse(
    await readFile(sharedPath('datasets', 'coco-val2017-mini', 'annotations', 'instances.json'), 'utf8'),
  );
}

export interface HumanSample {
  image: string;
  mask: string;
}

export async function readHumanManifest(): Promise<HumanSample[]> {
  const text = await readFile(sharedPath('datasets', 'human-segmentation', 'manifest.csv'), 'utf8');
  return text
    .trim()
    .split('\n')
    .slice(1)
    .map((line) => {
      const [image, mask] = line.split(',');
      return {
        image: sharedPath('datasets', 'human-segmentation', image),
        mask: sharedPath('datasets', 'human-segmentation', mask),
      };
    });
}

/**
 * The person mask (0/1) at the image's size. Many masks are smaller than their image (same aspect ratio),
 * so they are resized with nearest-neighbour as the dataset's README prescribes.
 */
export async function readPersonMask(maskPath: string, width: number, height: number): Promise<Uint8Array> {
  const { data } = await sharp(maskPath)
    .greyscale()
    .resize(width, height, { fit: 'fill', kernel: 'nearest' })
    .raw()
    .toBuffer({ resolveWithObject: true });
  const out = new Uint8Array(width * height);
  for (let i = 0; i < out.length; i++) out[i] = data[i] >= 128 ? 1 : 0;
  return out;
}
