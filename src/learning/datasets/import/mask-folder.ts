/**
 * Importing a mask folder, the layout the `masks` export writes (export/mask-folder.ts): `manifest.csv` with at
 * least the columns `image` and `mask` (paths relative to the folder; other columns, such as `split`, are
 * ignored: splits follow from the image hash), optional `labels.txt`, and masks as greyscale or indexed PNGs
 * (1-8 bits) whose pixel values, or palette indices, are class ids (src/masks/png-read.ts). It makes semantic
 * and binary datasets (a class map holds no instances).
 *
 * - Classes: `labels` when given, else `labels.txt`, else those of the dataset when it exists. Task: `task` when
 *   given, else the dataset's, else binary for two classes and semantic for more.
 * - Binary masks may mark the foreground 1 or 255 (the common black-and-white mask); any other value that is not a
 *   class id is a problem.
 * - A mask must have its image's size (as the image is seen, EXIF orientation applied). `resizeMasks` resizes one
 *   of another size with nearest-neighbour sampling instead, for datasets whose masks were saved smaller (the
 *   human-segmentation set: 157 of 232 masks).
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { decodeMaskPng } from '../../../masks/index.js';
import type { Queryable } from '../../../storage/index.js';
import type { DatasetDefinition } from '../../dataset-items.js';
import { documentFromClassMap } from '../../label-document.js';
import { MASK_LABELS, MASK_MANIFEST } from '../export/mask-folder.js';
import { noProgress, type ProgressFactory } from '../progress.js';
import {
  checkDefinition,
  checkDuplicates,
  existingDataset,
  type ImageFacts,
  type ImportPlan,
  insideFolder,
  MAX_IMPORT_PIXELS,
  type PlannedItem,
  Problems,
  plannedItem,
  readImageFacts,
} from './plan.js';

export interface MaskFolderImportOptions {
  dataset: string;
  folder: string;
  labels?: readonly string[];
  task?: 'semantic' | 'binary';
  resizeMasks?: boolean;
  progress?: ProgressFactory;
}

export interface ManifestRow {
  line: number;
  image: string;
  mask: string;
}

/** The rows of manifest.csv: a header naming `image` and `mask`, then one line per image (no quoting). */
export function parseMaskManifest(text: string, problems: Problems): ManifestRow[] {
  const lines = text.split(/\r?\n/);
  const header = lines[0].split(',').map((cell) => cell.trim());
  const imageColumn = header.indexOf('image');
  const maskColumn = header.indexOf('mask');
  if (imageColumn < 0 || maskColumn < 0) {
    problems.add(`${MASK_MANIFEST}: the first line must name the columns "image" and "mask"`);
    return [];
  }
  const rows: ManifestRow[] = [];
  lines.slice(1).forEach((line, index) => {
    if (line.trim() === '') return;
    const cells = line.split(',').map((cell) => cell.trim());
    const image = cells[imageColumn] ?? '';
    const mask = cells[maskColumn] ?? '';
    if (!image || !mask) problems.add(`${MASK_MANIFEST} line ${index + 2}: it needs an image and a mask`);
    else rows.push({ line: index + 2, image, mask });
  });
  if (rows.length === 0 && problems.count === 0) problems.add(`${MASK_MANIFEST} lists no image`);
  return rows;
}

async function readOptional(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

/**
 * How a mask of another size than its image is treated: refused (`false`), resized with nearest-neighbour
 * sampling (`true`), or resized only when it has the image's aspect ratio (`'same-aspect'`, within 1 %: a mask
 * saved smaller, as the human-segmentation set's are, not a mask of another picture).
 */
export type MaskResize = boolean | 'same-aspect';

/** Aspect ratios this close are the same picture saved at another size (433x577 vs 480x640 differ by 0.05 %). */
const ASPECT_TOLERANCE = 0.01;

/** What is wrong with a mask, worded to follow its name: `mask m.png is 3x2, its image a.png 4x3`. */
export class MaskProblem extends Error {}

/**
 * The pixel values of a mask PNG (greyscale values or palette indices, see src/masks/png-read.ts) at
 * `width` x `height`, the size of its image `imageName`. Throws a MaskProblem for a mask of another size, and
 * the PNG reader's error for bytes it cannot read.
 */
export async function readMaskValues(
  bytes: Uint8Array,
  width: number,
  height: number,
  resize: MaskResize,
  imageName: string,
): Promise<Uint8Array> {
  // Read directly, not through an image library: an indexed (VOC-style) mask would come back as colours.
  const png = decodeMaskPng(bytes, MAX_IMPORT_PIXELS);
  if (png.width === width && png.height === height) return png.values;
  const sameAspect = Math.abs((png.width * height) / (png.height * width) - 1) <= ASPECT_TOLERANCE;
  if (resize === false || (resize === 'same-aspect' && !sameAspect)) {
    const why = resize === false ? '' : ' (another aspect ratio, so not the same picture saved smaller)';
    throw new MaskProblem(`is ${png.width}x${png.height}, its image ${imageName} ${width}x${height}${why}`);
  }
  const raw = { width: png.width, height: png.height, channels: 1 as const };
  const resized = await sharp(png.values, { raw })
    .resize(width, height, { fit: 'fill', kernel: 'nearest' })
    .extractChannel(0)
    .raw()
    .toBuffer();
  return new Uint8Array(resized);
}

/**
 * The class id of each mask value for a dataset of `classes` classes: values below it are class ids; a binary
 * mask may also mark the foreground 255. Throws a MaskProblem naming the first other value and where it is.
 */
export function maskClassIds(values: Uint8Array, classes: number, binary: boolean): Uint8Array {
  const map = new Uint8Array(values.length);
  for (let i = 0; i < map.length; i++) {
    const value = values[i];
    if (value < classes) map[i] = value;
    else if (binary && value === 255) map[i] = 1;
    else {
      const expected = binary ? '0, 1 or 255' : `class ids 0..${classes - 1}`;
      throw new MaskProblem(`holds value ${value} at pixel ${i}; expected ${expected}`);
    }
  }
  return map;
}

/** A problem of mask `name` as one line: `mask m.png is 3x2, ...`, or `mask m.png: <the reader's error>`. */
export function maskProblemText(name: string, error: unknown): string {
  if (error instanceof MaskProblem) return `mask ${name} ${error.message}`;
  return `mask ${name}: ${error instanceof Error ? error.message : String(error)}`;
}

/** The class map of one mask at its image's size, or a problem. */
async function classMapOf(
  path: string,
  row: ManifestRow,
  image: ImageFacts,
  definition: DatasetDefinition,
  resize: boolean,
  problems: Problems,
): Promise<Uint8Array | undefined> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    problems.add(
      code === 'ENOENT' ? `mask ${row.mask} is missing` : `mask ${row.mask} cannot be read (${code})`,
    );
    return undefined;
  }
  try {
    const values = await readMaskValues(bytes, image.width, image.height, resize, row.image);
    return maskClassIds(values, definition.labels.length, definition.task === 'binary');
  } catch (error) {
    problems.add(maskProblemText(row.mask, error));
    return undefined;
  }
}

/** Reads and checks the whole import; throws DATASET_IMPORT_INVALID (or DATASET_MISMATCH) before storing. */
export async function planMaskFolderImport(
  db: Queryable,
  options: MaskFolderImportOptions,
): Promise<ImportPlan> {
  const { folder } = options;
  const problems = new Problems(folder);
  const manifestText = await readOptional(join(folder, MASK_MANIFEST));
  if (manifestText === undefined) problems.add(`${MASK_MANIFEST} is missing`);
  const labelsText = await readOptional(join(folder, MASK_LABELS));
  const existing = await existingDataset(db, options.dataset);
  const fileLabels = labelsText
    ?.split(/\r?\n/)
    .map((line) => line.trim())
    .filter(Boolean);
  const labels = options.labels ?? fileLabels ?? existing?.labels;
  if (!labels) problems.add(`no class names: give labels, or a ${MASK_LABELS} with one class name per line`);
  else if (labels.length < 2 || labels.length > 256) {
    problems.add(`${labels.length} classes; a class map holds 2 to 256 (class 0 is the background)`);
  }
  // An instance dataset has no task a class map can give: the definition below differs, and is refused.
  const existingTask = existing?.task === 'instance' ? undefined : existing?.task;
  const task = options.task ?? existingTask ?? (labels?.length === 2 ? 'binary' : 'semantic');
  // A dataset that exists says what it takes: a mismatch is its refusal, whatever else is wrong.
  const definition: DatasetDefinition = { name: options.dataset, task, labels: [...(labels ?? [])] };
  if (existing && labels) await checkDefinition(db, definition);
  if (task === 'binary' && labels && labels.length !== 2) {
    problems.add(`a binary dataset has 2 classes (background and one other), not ${labels.length}`);
  }
  problems.throwIfAny();

  const rows = parseMaskManifest(manifestText!, problems);
  const items: PlannedItem[] = [];
  const bar = (options.progress ?? noProgress)(rows.length, 'check');
  try {
    for (const row of rows) {
      bar.tick(row.image);
      const imagePath = insideFolder(folder, row.image);
      const maskPath = insideFolder(folder, row.mask);
      if (!imagePath || !maskPath) {
        problems.add(`${MASK_MANIFEST} line ${row.line}: paths must lie inside the folder`);
        continue;
      }
      const image = await readImageFacts(imagePath, row.image, problems);
      if (!image) continue;
      const map = await classMapOf(maskPath, row, image, definition, options.resizeMasks ?? false, problems);
      if (!map) continue;
      const label = documentFromClassMap(task, image.width, image.height, definition.labels, map);
      items.push(plannedItem(image, label));
    }
  } finally {
    bar.stop();
  }
  checkDuplicates(items, problems);
  problems.throwIfAny();
  return { dataset: definition, source: 'import:masks', items, skipped: {} };
}
