/**
 * A tiny mask-folder dataset (the trainer's input, as `segserve datasets export --format mask-folder` writes it)
 * that the reference trainer fits in a few iterations: for the tests that run `segserve train`.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { encodeGreyPng } from '../../src/masks/index.js';

export const SQUARES_SIZE = 32;

/** Trainer options that fit the squares in seconds: a tiny U-Net, a few iterations. */
export const SQUARES_UNET_OPTIONS: readonly string[] = [
  '--base',
  '4',
  '--depth',
  '2',
  '--crop',
  '16',
  '--iterations',
  '8',
  '--epochs',
  '2',
];

/**
 * `count` images of SQUARES_SIZE² pixels: a bright square (class 1) on a dark ground, the last one in the `val`
 * split. `maskSize` and `maskValue` make broken datasets (masks of another size, class ids beyond the labels).
 */
export async function squaresMaskFolder(
  dir: string,
  options: { maskSize?: number; maskValue?: number; count?: number } = {},
): Promise<void> {
  const size = SQUARES_SIZE;
  await mkdir(join(dir, 'images'), { recursive: true });
  await mkdir(join(dir, 'masks'));
  const lines = ['image,mask,split'];
  const count = options.count ?? 4;
  for (let i = 0; i < count; i++) {
    const image = Buffer.alloc(size * size * 3, 30);
    const maskSize = options.maskSize ?? size;
    const mask = Buffer.alloc(maskSize * maskSize, 0);
    for (let y = 8; y < 24; y++) {
      for (let x = 8 + i; x < 24; x++) {
        image.fill(220, (y * size + x) * 3, (y * size + x) * 3 + 3);
        if (y < maskSize && x < maskSize) mask[y * maskSize + x] = options.maskValue ?? 1;
      }
    }
    await sharp(image, { raw: { width: size, height: size, channels: 3 } })
      .png()
      .toFile(join(dir, 'images', `${i}.png`));
    await writeFile(join(dir, 'masks', `${i}.png`), encodeGreyPng(mask, maskSize, maskSize));
    lines.push(`images/${i}.png,masks/${i}.png,${i < count - 1 ? 'train' : 'val'}`);
  }
  await writeFile(join(dir, 'manifest.csv'), `${lines.join('\n')}\n`);
  await writeFile(join(dir, 'labels.txt'), 'background\nsquare\n');
}
