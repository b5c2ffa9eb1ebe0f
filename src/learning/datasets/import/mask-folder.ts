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

interface ManifestRow {
  line: number;
  image: string;
  mask: string;
}

/** The rows of manifest.csv: a header naming `image` and `mask`, then one line per image (no quoting). */
function parseMaskManifest(text: string, problems: Problems): ManifestRow[] {
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
  let values: Uint8Array;
  try {
    // Read directly, not through an image library: an indexed (VOC-style) mask would come back as colours.
    const png = decodeMaskPng(bytes, MAX_IMPORT_PIXELS);
    values = png.values;
    if (png.width !== image.width || png.height !== image.height) {
      if (!resize) {
        problems.add(
          `mask ${row.mask} is ${png.width}x${png.height}, its image ${row.image} ${image.width}x${image.height}`,
        );
        return undefined;
      }
      const raw = { width: png.width, height: png.height, channels: 1 as const };
      const resized = await sharp(png.values, { raw })
        .resize(image.width, image.height, { fit: 'fill', kernel: 'nearest' })
        .extractChannel(0)
        .raw()
        .toBuffer();
      values = new Uint8Array(resized);
    }
  } catch (error) {
    problems.add(`mask ${row.mask}: ${error instanceof Error ? error.message : String(error)}`);
    return undefined;
  }
  const classes = definition.labels.length;
  const binary = definition.task === 'binary';
  const map = new Uint8Array(values.length);
  for (let i = 0; i < map.length; i++) {
    const value = values[i];
    if (value < classes) map[i] = value;
    else if (binary && value === 255) map[i] = 1;
    else {
      const expected = binary ? '0, 1 or 255' : `class ids 0..${classes - 1}`;
      problems.add(`mask ${row.mask} holds value ${value} at pixel ${i}; expected ${expected}`);
      return undefined;
    }
  }
  return map;
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
