/**
 * ISBI 2012's labelled membrane slices of ../shared as segserve reads them: the class map of a slice (membrane,
 * the 0 pixels of the original masks, is class 1) and mask folders of chosen slices, the layout
 * `segserve datasets export --format masks` writes and the reference trainer reads.
 */
import { copyFile, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { encodeGreyPng } from '../../src/masks/index.js';
import { sharedPath } from './shared-paths.js';

export const ISBI = 'datasets/isbi2012-membrane';

export const isbiSlicePath = (slice: number) => sharedPath(ISBI, 'labeled/images', `${slice}.png`);

export async function membraneMask(
  slice: number,
): Promise<{ classes: Uint8Array; width: number; height: number }> {
  const { data, info } = await sharp(sharedPath(ISBI, 'labeled/masks', `${slice}.png`))
    .greyscale()
    .raw()
    .toBuffer({ resolveWithObject: true });
  return {
    classes: Uint8Array.from(data, (value) => (value < 128 ? 1 : 0)),
    width: info.width,
    height: info.height,
  };
}

/** A mask folder of `slices`, each in the split `splitOf` gives it. Answers `target`. */
export async function isbiMaskFolder(
  target: string,
  slices: readonly number[],
  splitOf: (slice: number) => 'train' | 'val',
): Promise<string> {
  await mkdir(join(target, 'images'), { recursive: true });
  await mkdir(join(target, 'masks'));
  const lines = ['image,mask,split'];
  for (const slice of slices) {
    await copyFile(isbiSlicePath(slice), join(target, 'images', `${slice}.png`));
    const { classes, width, height } = await membraneMask(slice);
    // The export's own grey PNG writer: what `segserve datasets export --format masks` writes.
    await writeFile(join(target, 'masks', `${slice}.png`), encodeGreyPng(classes, width, height));
    lines.push(`images/${slice}.png,masks/${slice}.png,${splitOf(slice)}`);
  }
  await writeFile(join(target, 'manifest.csv'), `${lines.join('\n')}\n`);
  await writeFile(join(target, 'labels.txt'), 'background\nmembrane\n');
  return target;
}
