/**
 * Expands the file and folder arguments of `segserve predict` into the image files to segment, each with its
 * path relative to the folder argument it came from (outputs mirror that tree).
 */
import type { Dirent } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { basename, extname, join, relative, resolve, sep } from 'node:path';
import { SegserveError } from '../errors.js';
import { describeNonRegular } from '../sources/files.js';

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

export interface InputImage {
  /** The path to read, as found (relative to the working directory or absolute). */
  path: string;
  /**
   * The path under the folder argument it came from, with `/` separators (`sub/x.jpg`); a file named
   * directly is its own base name. Outputs, the JSON `file` field and COCO `file_name` use it.
   */
  relative: string;
}

export interface CollectedInputs {
  images: InputImage[];
  /** Entries of the folders that have an image name but are not regular files (FIFOs, sockets, devices). */
  skipped: string[];
}

export interface CollectOptions {
  recursive: boolean;
  /** A folder never descended into: the output folder, so a rerun does not segment its own masks. */
  exclude?: string;
}

function isImageName(name: string): boolean {
  return IMAGE_EXTENSIONS.has(extname(name).toLowerCase());
}

/** The type of what a directory entry points to; symbolic links are followed (to a file) but not descended. */
async function entryKind(path: string, entry: Dirent): Promise<'file' | 'folder' | 'other' | 'link-folder'> {
  if (entry.isFile()) return 'file';
  if (entry.isDirectory()) return 'folder';
  if (!entry.isSymbolicLink()) return 'other';
  const target = await stat(path).catch(() => undefined);
  if (!target) return 'other';
  if (target.isFile()) return 'file';
  // Linked folders are not followed: a link to a parent would loop forever.
  return target.isDirectory() ? 'link-folder' : 'other';
}

async function listFolder(
  root: string,
  dir: string,
  options: CollectOptions,
  skipped: string[],
): Promise<InputImage[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  const images: InputImage[] = [];
  for (const entry of entries) {
    const path = join(dir, entry.name);
    const kind = await entryKind(path, entry);
    if (kind === 'folder') {
      const excluded = options.exclude !== undefined && resolve(path) === resolve(options.exclude);
      if (options.recursive && !excluded) images.push(...(await listFolder(root, path, options, skipped)));
    } else if (isImageName(entry.name)) {
      // A FIFO, socket or device named like an image would block the read that tries it: never read one.
      if (kind === 'file') images.push({ path, relative: relative(root, path).split(sep).join('/') });
      else if (kind === 'other') skipped.push(path);
    }
  }
  return images;
}

/**
 * Files named directly are kept whatever their extension (the content decides), but must be regular files;
 * folders contribute their regular files with image extensions. Duplicates are dropped; order is stable
 * (arguments in order, each folder's images sorted by relative path).
 */
export async function collectImages(args: string[], options: CollectOptions): Promise<CollectedInputs> {
  const found: InputImage[] = [];
  const skipped: string[] = [];
  for (const arg of args) {
    const info = await stat(arg).catch(() => undefined);
    if (!info) throw new SegserveError('INVALID_ARGUMENT', { reason: `no such file or folder: ${arg}` });
    if (info.isDirectory()) {
      const images = await listFolder(arg, arg, options, skipped);
      found.push(...images.sort((a, b) => (a.relative < b.relative ? -1 : a.relative > b.relative ? 1 : 0)));
    } else {
      const refusal = describeNonRegular(info);
      if (refusal) throw new SegserveError('PATH_FORBIDDEN', { path: arg, reason: refusal });
      found.push({ path: arg, relative: basename(arg) });
    }
  }
  const seen = new Set<string>();
  const images = found.filter((image) => {
    const key = resolve(image.path);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
  return { images, skipped };
}

/** COCO image ids come from numeric file names such as `000000397133.jpg`; other names get none. */
export function fileStem(file: string): string {
  return basename(file, extname(file));
}
