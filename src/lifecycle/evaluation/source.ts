/**
 * The `--dataset` text of `segserve eval`, the `dataset` of the evaluation API and the `evaluation.dataset` of a
 * model's config.yaml, read one way for all three:
 *
 * - `dataset:<name>[@<version>][#<split>]`: a version of a stored dataset (src/learning/datasets), by id, unique
 *   prefix or `latest` (the default), optionally only its `train` or `validation` images; read through the
 *   dataset export code from the database and the blob store.
 * - a path to a COCO instances JSON file; its images are in `images/` beside the `annotations/` folder holding
 *   it, else beside it, or in the folder given as `images`.
 * - a path to a folder with `manifest.csv` (columns `image,mask`) and optionally `labels.txt`: a mask folder, as
 *   `segserve datasets import masks` reads it; or a folder with `annotations/instances.json` and `images/`.
 *
 * Opening reads the annotation file or manifest and checks that every image (and mask) is there, so a broken
 * dataset is refused before the first image is run; images and masks themselves are read one at a time later.
 */
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { SegserveError } from '../../errors.js';
import {
  cocoDocument,
  defaultImagesFolder,
  getDataset,
  imageFileOf,
  imageKeyOf,
  insideFolder,
  loadVersion,
  maskClassIds,
  maskProblemText,
  Problems,
  parseMaskManifest,
  readLabel,
  readMaskValues,
  readVersionEntries,
  resolveVersion,
  type Split,
} from '../../learning/datasets/index.js';
import { classMapOf } from '../../learning/label-document.js';
import { parseDatasetReference } from '../../models/index.js';
import type { StorageAccess } from '../../storage/index.js';
import type {
  ClassMapDataset,
  CocoGroundTruth,
  DatasetSourceSpec,
  EvaluationDataset,
  InstanceDataset,
} from './dataset.js';
import type { DatasetFiles } from './files.js';

const DATASET_PREFIX = 'dataset:';
const NO_FILES =
  'dataset paths are not read here: the server reads them inside its evaluation root only (segserve serve --eval-root); name a stored dataset as dataset:<name>';
const MASK_MANIFEST = 'manifest.csv';
const MASK_LABELS = 'labels.txt';
const COCO_IN_FOLDER = join('annotations', 'instances.json');

/** EVAL_INPUT_INVALID for the dataset at `shown`. */
function invalid(shown: string, reason: string): SegserveError {
  return new SegserveError('EVAL_INPUT_INVALID', { source: `dataset ${shown}`, reason });
}

/** Reads the `--dataset` text; INVALID_ARGUMENT for an empty one or a malformed `dataset:` reference. */
export function parseDatasetSource(text: string): DatasetSourceSpec {
  if (text.trim() === '')
    throw new SegserveError('INVALID_ARGUMENT', { reason: 'the dataset source is empty' });
  const reference = parseDatasetReference(text);
  if (reference === undefined) return { kind: 'path', path: text };
  if ('problem' in reference) {
    throw new SegserveError('INVALID_ARGUMENT', {
      reason: `"${text.slice(0, 80)}" is not a dataset reference: ${reference.problem}`,
    });
  }
  return { kind: 'dataset', ...reference };
}

export interface SourceContext {
  /**
   * How files of path sources are read: anywhere (the CLI), or inside the evaluation root (the server); without
   * it, paths are refused (PATH_FORBIDDEN) and only `dataset:` sources are read.
   */
  files?: DatasetFiles;
  /** The stores holding dataset versions; `dataset:` sources are refused without them. */
  storage?: StorageAccess;
  /** The images folder of a COCO file, when not the default (`--images`). */
  images?: string;
}

/** Opens the dataset `text` names (see the top of this file). */
export async function openDatasetSource(text: string, context: SourceContext): Promise<EvaluationDataset> {
  const spec = parseDatasetSource(text);
  if (spec.kind === 'dataset') {
    if (context.images !== undefined) {
      throw new SegserveError('INVALID_ARGUMENT', { reason: 'an images folder goes with a COCO file only' });
    }
    if (!context.storage) {
      throw new SegserveError('INVALID_ARGUMENT', {
        reason: `${DATASET_PREFIX} sources need the data store, which is not configured here`,
      });
    }
    return openDatasetVersion(text, spec, context.storage);
  }
  const { files } = context;
  if (!files) {
    throw new SegserveError('PATH_FORBIDDEN', { path: spec.path, reason: NO_FILES });
  }
  const real = await files.real(spec.path);
  const info = await stat(real);
  if (info.isFile()) return openCoco(text, spec.path, { ...context, files });
  if (!info.isDirectory()) throw invalid(files.label(spec.path), 'it is neither a file nor a folder');
  const inFolder = (name: string) => join(spec.path, name);
  if (await files.exists(inFolder(MASK_MANIFEST))) {
    if (context.images !== undefined) {
      throw new SegserveError('INVALID_ARGUMENT', { reason: 'an images folder goes with a COCO file only' });
    }
    return openMaskFolder(text, spec.path, files);
  }
  if (await files.exists(inFolder(COCO_IN_FOLDER)))
    return openCoco(text, inFolder(COCO_IN_FOLDER), { ...context, files });
  throw invalid(
    files.label(spec.path),
    `a dataset folder holds ${MASK_MANIFEST} (a mask folder) or ${COCO_IN_FOLDER} (COCO)`,
  );
}

// --- COCO instances file ---------------------------------------------------------------------------------

const CocoShape = z.object({
  images: z.array(
    z.object({
      id: z.number().int(),
      file_name: z.string().min(1),
      width: z.number().int().positive(),
      height: z.number().int().positive(),
    }),
  ),
  annotations: z.array(z.unknown()),
  categories: z.array(z.object({ id: z.number().int(), name: z.string().min(1) })).min(1),
});

async function openCoco(
  source: string,
  annotations: string,
  context: SourceContext & { files: DatasetFiles },
): Promise<InstanceDataset> {
  const { files } = context;
  const shown = files.label(annotations);
  let json: unknown;
  try {
    json = JSON.parse((await files.read(annotations, shown)).toString('utf8'));
  } catch (error) {
    if (error instanceof SegserveError) throw error;
    throw invalid(shown, `not JSON: ${(error as Error).message}`);
  }
  const parsed = CocoShape.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw invalid(
      shown,
      `not a COCO instances file: ${issue.path.map(String).join('.') || '(root)'}: ${issue.message}`,
    );
  }
  const groundTruth = { ...(json as object), ...parsed.data } as CocoGroundTruth;
  const folder = context.images ?? defaultImagesFolder(files.resolve(annotations));
  const paths: string[] = [];
  const problems = new Problems(shown);
  for (const image of groundTruth.images) {
    const path = insideFolder(folder, image.file_name);
    if (!path) problems.add(`image ${image.file_name}: file_name must be a path inside the images folder`);
    else if (!(await files.exists(path, image.file_name)))
      problems.add(`image ${image.file_name} is missing`);
    paths.push(path ?? '');
  }
  const reason = problems.summary();
  if (reason !== undefined) throw invalid(shown, reason);
  const classes = groundTruth.categories.map((c) => c.name);
  return {
    kind: 'instances',
    source,
    reportName: shown,
    description: `COCO file ${shown} (${groundTruth.images.length} images, ${groundTruth.annotations.length} annotations)`,
    size: groundTruth.images.length,
    groundTruth,
    classes,
    image(index) {
      const image = groundTruth.images[index];
      return {
        name: image.file_name,
        imageId: image.id,
        bytes: () => files.read(paths[index], image.file_name),
      };
    },
  };
}

// --- Mask folder -------------------------------------------------------------------------------------------

async function openMaskFolder(source: string, folder: string, files: DatasetFiles): Promise<ClassMapDataset> {
  const shown = files.label(folder);
  const problems = new Problems(shown);
  const manifest = await files.read(join(folder, MASK_MANIFEST), join(shown, MASK_MANIFEST));
  const labelsText = await files.readOptional(join(folder, MASK_LABELS), join(shown, MASK_LABELS));
  const classes = labelsText
    ?.toString('utf8')
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter(Boolean);
  if (classes && (classes.length < 2 || classes.length > 256)) {
    problems.add(
      `${MASK_LABELS}: ${classes.length} classes; a class map holds 2 to 256 (class 0 is the background)`,
    );
  }
  const rows = parseMaskManifest(manifest.toString('utf8'), problems);
  const entries: Array<{ name: string; mask: string; imagePath: string; maskPath: string }> = [];
  for (const row of rows) {
    const imagePath = insideFolder(folder, row.image);
    const maskPath = insideFolder(folder, row.mask);
    if (!imagePath || !maskPath) {
      problems.add(`${MASK_MANIFEST} line ${row.line}: paths must lie inside the folder`);
      continue;
    }
    if (!(await files.exists(imagePath, row.image))) problems.add(`image ${row.image} is missing`);
    else if (!(await files.exists(maskPath, row.mask))) problems.add(`mask ${row.mask} is missing`);
    else entries.push({ name: row.image, mask: row.mask, imagePath, maskPath });
  }
  // parseMaskManifest calls a manifest without rows a problem; here it is an empty dataset, said as such.
  if (rows.length === 0 && problems.count === 1) {
    throw new SegserveError('EVAL_DATASET_EMPTY', { reason: `dataset ${shown} lists no image` });
  }
  const reason = problems.summary();
  if (reason !== undefined) throw invalid(shown, reason);
  return {
    kind: 'class-maps',
    source,
    reportName: shown,
    description: `mask folder ${shown} (${entries.length} images${classes ? `, classes ${classes.join(', ')}` : ''})`,
    size: entries.length,
    classes,
    binary: classes?.length === 2,
    image(index) {
      const entry = entries[index];
      return {
        name: entry.name,
        imageId: index + 1,
        bytes: () => files.read(entry.imagePath, entry.name),
        async classMap(width, height, format) {
          const bytes = await files.read(entry.maskPath, entry.mask);
          try {
            const values = await readMaskValues(bytes, width, height, 'same-aspect', entry.name);
            return maskClassIds(values, format.classes, format.binary);
          } catch (error) {
            throw invalid(shown, maskProblemText(entry.mask, error));
          }
        },
      };
    },
  };
}

// --- Dataset version ---------------------------------------------------------------------------------------

async function openDatasetVersion(
  source: string,
  spec: Extract<DatasetSourceSpec, { kind: 'dataset' }>,
  storage: StorageAccess,
): Promise<EvaluationDataset> {
  const [db, blobs] = await Promise.all([storage.database(), storage.blobs()]);
  const { name, ref, split } = spec;
  const inSplit = <T extends { split: Split }>(entry: T) => split === undefined || entry.split === split;
  const splitText = split === undefined ? '' : `, ${split} split`;
  const fullName = (id: string) => `dataset:${name}@${id}${split === undefined ? '' : `#${split}`}`;
  if ((await getDataset(db, name)).task === 'instance') {
    // COCO's evaluation needs every annotation first: the export code reads the labels into one document.
    const { dataset, version, items: all } = await loadVersion(db, blobs, name, ref);
    const items = all.filter((item) => inSplit(item.entry));
    const groundTruth = cocoDocument(dataset, version.id, items, split) as unknown as CocoGroundTruth;
    return {
      kind: 'instances',
      source,
      reportName: fullName(version.id),
      description: `dataset ${name} version ${version.id.slice(0, 12)} (${items.length} images${splitText})`,
      size: items.length,
      groundTruth,
      classes: groundTruth.categories.map((c) => c.name),
      image(index) {
        const item = items[index];
        return { name: item.fileName, imageId: index + 1, bytes: () => blobs.get(imageKeyOf(item.entry)) };
      },
    };
  }
  const version = await resolveVersion(db, name, ref);
  const dataset = await getDataset(db, name);
  const entries = (await readVersionEntries(blobs, version)).filter(inSplit);
  return {
    kind: 'class-maps',
    source,
    reportName: fullName(version.id),
    description: `dataset ${name} version ${version.id.slice(0, 12)} (${entries.length} images${splitText})`,
    size: entries.length,
    classes: [...dataset.labels],
    binary: dataset.task === 'binary',
    image(index) {
      const entry = entries[index];
      const fileName = imageFileOf(entry);
      return {
        name: fileName,
        imageId: index + 1,
        bytes: () => blobs.get(imageKeyOf(entry)),
        async classMap(width, height) {
          const label = await readLabel(blobs, entry);
          if (label.width !== width || label.height !== height) {
            throw invalid(
              source,
              `the label of ${fileName} is ${label.width}x${label.height}, its image ${width}x${height}`,
            );
          }
          return classMapOf(label);
        },
      };
    },
  };
}
