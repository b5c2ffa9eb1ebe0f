/** Expands the file and folder arguments of `segserve predict` into a sorted list of image files. */
import { readdir, stat } from 'node:fs/promises';
import { basename, extname, join } from 'node:path';
import { SegserveError } from '../errors.js';

const IMAGE_EXTENSIONS = new Set([
  '.jpg',
  '.jpeg',
  '.png',
  '.webp',
  '.gif',
  '.tif',
  '.tiff',
  '.avif',
  '.heic',
]);

async function listFolder(dir: string, recursive: boolean): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  const files: string[] = [];
  for (const entry of entries) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      if (recursive) files.push(...(await listFolder(path, true)));
    } else if (IMAGE_EXTENSIONS.has(extname(entry.name).toLowerCase())) {
      files.push(path);
    }
  }
  return files;
}

/**
 * Files named directly are kept whatever their extension (the content decides); folders contribute the files
 * with image extensions. Duplicates are dropped, order is stable (sorted per folder).
 */
export async function collectImages(args: string[], recursive: boolean): Promise<string[]> {
  const found: string[] = [];
  for (const arg of args) {
    const info = await stat(arg).catch(() => undefined);
    if (!info) throw new SegserveError('INVALID_ARGUMENT', { reason: `no such file or folder: ${arg}` });
    if (info.isDirectory()) found.push(...(await listFolder(arg, recursive)).sort());
    else found.push(arg);
  }
  return [...new Set(found)];
}

/** COCO image ids come from numeric file names such as `000000397133.jpg`; other names get none. */
export function numericImageId(file: string): number | undefined {
  const stem = basename(file, extname(file));
  return /^\d{1,15}$/.test(stem) ? Number(stem) : undefined;
}

export function fileStem(file: string): string {
  return basename(file, extname(file));
}
