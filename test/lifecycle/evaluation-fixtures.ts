/**
 * Evaluation datasets for the tiny models of test/helpers/tiny-models.ts, written to temporary folders: a mask
 * folder of the semantic scene (the softmax model's classes) and a COCO file of the YOLO scene, each with ground
 * truth whose relation to the model's output is known exactly.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { encodeGreyPng } from '../../src/masks/index.js';
import { semanticScene, yoloScene } from '../helpers/tiny-models.js';
import { png } from '../http/helpers.js';

export const SCENE = 16;

/**
 * The class map tinySoftmaxModel gives on semanticScene(): 1 (red) x[2,8) y[2,8), 2 (green) x[10,14) y[2,6),
 * 3 (blue) x[4,12) y[10,14), 0 elsewhere.
 */
export function sceneClassMap(): Uint8Array {
  const map = new Uint8Array(SCENE * SCENE);
  const fill = (x0: number, y0: number, x1: number, y1: number, id: number) => {
    for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) map[y * SCENE + x] = id;
  };
  fill(2, 2, 8, 8, 1);
  fill(10, 2, 14, 6, 2);
  fill(4, 10, 12, 14, 3);
  return map;
}

/** `map` (size x size) at half the size, every other pixel: what a mask saved smaller looks like. */
export function halved(map: Uint8Array, size = SCENE): Uint8Array {
  const half = size / 2;
  const out = new Uint8Array(half * half);
  for (let y = 0; y < half; y++) for (let x = 0; x < half; x++) out[y * half + x] = map[2 * y * size + 2 * x];
  return out;
}

export interface MaskRow {
  image: string;
  mask: string;
  /** Mask values and size (default the scene's). */
  values: Uint8Array;
  width?: number;
  height?: number;
}

/**
 * A mask folder in `dir`: each row's image is semanticScene() as PNG, its mask the given values; `labels`
 * written as labels.txt when given. Answers the folder.
 */
export async function writeMaskFolder(
  dir: string,
  rows: readonly MaskRow[],
  labels?: readonly string[],
  /** More manifest lines, written as given (rows naming files that are not there). */
  extraLines: readonly string[] = [],
): Promise<string> {
  await mkdir(join(dir, 'images'), { recursive: true });
  await mkdir(join(dir, 'masks'), { recursive: true });
  const scene = await png(semanticScene());
  for (const row of rows) {
    await writeFile(join(dir, row.image), scene);
    await writeFile(join(dir, row.mask), encodeGreyPng(row.values, row.width ?? SCENE, row.height ?? SCENE));
  }
  const lines = [...rows.map((r) => `${r.image},${r.mask}`), ...extraLines];
  await writeFile(join(dir, 'manifest.csv'), `image,mask\n${lines.map((line) => `${line}\n`).join('')}`);
  if (labels) await writeFile(join(dir, 'labels.txt'), `${labels.join('\n')}\n`);
  return dir;
}

/**
 * A COCO dataset of the YOLO scene in `dir`: `annotations/instances.json` and `images/scene.png` (image id 7),
 * with a cat where tinyYoloSegModel finds its cat (the red band within x[16,32) y[8,40)) and a dog where it finds
 * its first dog (x[10,34) y[16,32)), as polygons; categories `categories` (default cat 17, dog 18: COCO's ids).
 */
export async function writeCocoFolder(
  dir: string,
  categories: Array<{ id: number; name: string }> = [
    { id: 17, name: 'cat' },
    { id: 18, name: 'dog' },
  ],
): Promise<string> {
  await mkdir(join(dir, 'annotations'), { recursive: true });
  await mkdir(join(dir, 'images'), { recursive: true });
  await writeFile(join(dir, 'images', 'scene.png'), await png(yoloScene()));
  const box = (x0: number, y0: number, x1: number, y1: number) => [x0, y0, x1 - x0, y1 - y0];
  const polygon = (x0: number, y0: number, x1: number, y1: number) => [[x0, y0, x1, y0, x1, y1, x0, y1]];
  const idOf = (name: string) => categories.find((c) => c.name === name)?.id ?? 999;
  const annotations = [
    {
      id: 1,
      image_id: 7,
      category_id: idOf('cat'),
      iscrowd: 0,
      area: 512,
      bbox: box(16, 8, 32, 40),
      segmentation: polygon(16, 8, 32, 40),
    },
    {
      id: 2,
      image_id: 7,
      category_id: idOf('dog'),
      iscrowd: 0,
      area: 384,
      bbox: box(10, 16, 34, 32),
      segmentation: polygon(10, 16, 34, 32),
    },
  ];
  const document = {
    images: [{ id: 7, file_name: 'scene.png', width: 64, height: 64 }],
    annotations,
    categories,
  };
  await writeFile(join(dir, 'annotations', 'instances.json'), JSON.stringify(document));
  return dir;
}
