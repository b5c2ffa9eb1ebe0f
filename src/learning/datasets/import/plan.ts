/**
 * What an import does before it stores anything: it reads every image and label, checks them all, and gathers
 * every problem (a missing image, an unknown category, a mask of the wrong size...) into one refusal
 * (DATASET_IMPORT_INVALID), so a user fixes them in one go and a refused import stores nothing.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { isAbsolute, join, normalize, sep } from 'node:path';
import { SegserveError } from '../../../errors.js';
import { IMAGE_EXTENSIONS, probeImage } from '../../../image/index.js';
import type { Queryable } from '../../../storage/index.js';
import { type DatasetDefinition, datasetMismatch } from '../../dataset-items.js';
import { encodeLabelDocument, type LabelDocument } from '../../label-document.js';

/** Problems listed in the refusal; the rest are counted. */
const LISTED_PROBLEMS = 10;

/** Images up to 100 megapixels: their labels are decoded whole (one byte per pixel per mask). */
export const MAX_IMPORT_PIXELS = 100_000_000;

export class Problems {
  private readonly list: string[] = [];

  constructor(readonly source: string) {}

  add(problem: string): void {
    this.list.push(problem);
  }

  get count(): number {
    return this.list.length;
  }

  /** The first problems in one line, and how many more there are; undefined when there are none. */
  summary(): string | undefined {
    if (this.list.length === 0) return undefined;
    const more = this.list.length - LISTED_PROBLEMS;
    const listed = this.list.slice(0, LISTED_PROBLEMS).join('; ');
    return `${this.list.length} problem(s): ${listed}${more > 0 ? `; and ${more} more` : ''}`;
  }

  /** DATASET_IMPORT_INVALID listing the first problems, when there are any. */
  throwIfAny(): void {
    const reason = this.summary();
    if (reason !== undefined)
      throw new SegserveError('DATASET_IMPORT_INVALID', { source: this.source, reason });
  }
}

export interface PlannedItem {
  /** The image as the import names it (a file name of the COCO file or the manifest), for messages. */
  name: string;
  /** The image file, re-read when the import is stored (and checked to be the bytes validated). */
  imagePath: string;
  imageSha256: string;
  imageExt: string;
  label: Uint8Array;
  labelSha256: string;
  width: number;
  height: number;
}

export interface ImportPlan {
  dataset: DatasetDefinition;
  /** Recorded as each item's `source`: `import:coco` or `import:masks`. */
  source: string;
  items: PlannedItem[];
  /** What was read but not imported, by reason (e.g. `crowd annotations`), for the summary. */
  skipped: Record<string, number>;
}

export function sha256Of(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

export function plannedItem(image: ImageFacts, label: LabelDocument): PlannedItem {
  const bytes = encodeLabelDocument(label);
  return { ...image, label: bytes, labelSha256: sha256Of(bytes) };
}

/** `relative` inside `root`, or undefined when it is absolute or climbs out (`../x`). */
export function insideFolder(root: string, relative: string): string | undefined {
  if (relative === '' || isAbsolute(relative)) return undefined;
  const path = normalize(relative);
  if (path === '..' || path.startsWith(`..${sep}`)) return undefined;
  return join(root, path);
}

export interface ImageFacts {
  name: string;
  imagePath: string;
  imageSha256: string;
  imageExt: string;
  /** As a person sees it (EXIF orientation applied): the space labels live in. */
  width: number;
  height: number;
}

/** Reads and probes an image file; a problem (and undefined) when it is missing or not an image. */
export async function readImageFacts(
  path: string,
  name: string,
  problems: Problems,
): Promise<ImageFacts | undefined> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    problems.add(code === 'ENOENT' ? `image ${name} is missing` : `image ${name} cannot be read (${code})`);
    return undefined;
  }
  try {
    const info = await probeImage(bytes, MAX_IMPORT_PIXELS);
    return {
      name,
      imagePath: path,
      imageSha256: sha256Of(bytes),
      imageExt: IMAGE_EXTENSIONS[info.format],
      width: info.orientedWidth,
      height: info.orientedHeight,
    };
  } catch (error) {
    problems.add(`image ${name}: ${error instanceof Error ? error.message : String(error)}`);
    return undefined;
  }
}

/** The dataset as it is defined now, or undefined when it does not exist yet. */
export async function existingDataset(
  db: Queryable,
  name: string,
): Promise<{ task: DatasetDefinition['task']; labels: string[] } | undefined> {
  const { rows } = await db.query<{ task: DatasetDefinition['task']; labels: string[] }>(
    'SELECT task, labels FROM datasets WHERE name = $1',
    [name],
  );
  return rows[0];
}

/** Throws DATASET_MISMATCH before anything is stored, as ensureDataset would while storing. */
export async function checkDefinition(db: Queryable, definition: DatasetDefinition): Promise<void> {
  const existing = await existingDataset(db, definition.name);
  const mismatch = existing && datasetMismatch(existing, definition);
  if (mismatch) throw mismatch;
}

/** Refuses two files of the same image: their labels would compete for one dataset item. */
export function checkDuplicates(items: readonly PlannedItem[], problems: Problems): void {
  const seen = new Map<string, string>();
  for (const item of items) {
    const first = seen.get(item.imageSha256);
    if (first !== undefined)
      problems.add(`images ${first} and ${item.name} are the same image (identical bytes)`);
    else seen.set(item.imageSha256, item.name);
  }
}
