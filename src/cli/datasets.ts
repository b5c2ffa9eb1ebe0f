/**
 * `segserve datasets list|show|snapshot|diff|export|import`: the datasets of src/learning/datasets on the same
 * storage as `segserve serve` (the same flags and environment variables). Long work (imports, exports, the
 * first `show` of a version) shows progress bars on stderr; results go to stdout, as text or with --json as the
 * HTTP API's JSON.
 */
import { type Command, Option } from 'commander';
import { SegserveError } from '../errors.js';
import {
  blobTarget,
  type DatasetJson,
  datasetJson,
  describeVersion,
  diffJson,
  diffVersions,
  EXPORT_FORMATS,
  type ExportResult,
  exportVersion,
  folderTarget,
  getDataset,
  type ImportResult,
  importCoco,
  importMaskFolder,
  listDatasets,
  listVersions,
  parseExportFormat,
  snapshotDataset,
  type VersionDetailJson,
  type VersionJson,
  versionJson,
} from '../learning/datasets/index.js';
import { type BlobStore, type Database, openBlobStore, openDatabase } from '../storage/index.js';
import { createProgress } from './progress.js';
import { addStorageOptions, storageSettingsOf } from './storage-options.js';
import { formatTable } from './table.js';

type Options = Record<string, unknown>;

/** Opens the configured database and blob store for one command, and closes both after it. */
async function withStores<T>(
  options: Options,
  use: (db: Database, blobs: BlobStore) => Promise<T>,
): Promise<T> {
  const settings = storageSettingsOf(options);
  const db = await openDatabase(settings.database);
  try {
    const blobs = await openBlobStore(settings.blobs);
    try {
      return await use(db, blobs);
    } finally {
      await blobs.close();
    }
  } finally {
    await db.close();
  }
}

function print(options: Options, value: unknown, text: () => string): void {
  process.stdout.write(`${options.json ? JSON.stringify(value, null, 2) : text()}\n`);
}

const short = (id: string | null) => (id === null ? '-' : id.slice(0, 12));

export function formatDatasetList(datasets: DatasetJson[]): string {
  if (datasets.length === 0) return 'no datasets';
  const rows = datasets.map((d) => [
    d.name,
    d.task,
    String(d.labels.length),
    String(d.items),
    String(d.versions),
    short(d.latest),
  ]);
  return formatTable(['NAME', 'TASK', 'CLASSES', 'ITEMS', 'VERSIONS', 'LATEST'], rows);
}

export function formatDataset(dataset: DatasetJson, versions: VersionJson[]): string {
  const lines = [
    `${dataset.name}: ${dataset.task}, classes ${dataset.labels.join(', ')}${dataset.model ? `, model ${dataset.model}` : ''}`,
    `working set: ${dataset.items} image(s)`,
    versions.length === 0 ? 'no versions yet (segserve datasets snapshot)' : 'versions, newest first:',
  ];
  for (const v of versions) {
    lines.push(
      `  ${short(v.id)}  ${v.created_at}  ${v.items} images (${v.train} train, ${v.validation} validation)` +
        `${v.note ? `  "${v.note}"` : ''}`,
    );
  }
  return lines.join('\n');
}

export function formatVersion(detail: VersionDetailJson): string {
  const lines = [
    `${detail.dataset} version ${detail.id}`,
    `created ${detail.created_at}, parent ${short(detail.parent)}${detail.note ? `, note "${detail.note}"` : ''}`,
    `${detail.items} images: ${detail.train} train, ${detail.validation} validation; ${detail.unlabelled_images} with no segment`,
    'class                      images  train  validation  segments      pixels',
  ];
  for (const c of detail.classes) {
    if (detail.task !== 'instance' && c.class_id === 0) continue;
    lines.push(
      `${`${c.class_id} ${c.label}`.padEnd(25)} ${String(c.images).padStart(7)} ${String(c.images_by_split.train).padStart(6)} ` +
        `${String(c.images_by_split.validation).padStart(11)} ${String(c.segments).padStart(9)} ${String(c.pixels).padStart(11)}`,
    );
  }
  return lines.join('\n');
}

function formatImport(result: ImportResult): string {
  const skipped = Object.entries(result.skipped).map(([what, n]) => `${n} ${what}`);
  return [
    `imported ${result.images} image(s) into ${result.dataset} (${result.task}: ${result.labels.join(', ')})`,
    `  ${result.added} added, ${result.replaced} relabelled, ${result.unchanged} unchanged`,
    ...(skipped.length > 0 ? [`  skipped: ${skipped.join(', ')}`] : []),
    'the working set changed: segserve datasets snapshot makes it a version',
  ].join('\n');
}

function formatExport(result: ExportResult): string {
  const { record } = result;
  if (!result.written) return `${result.target} already holds this export; nothing written`;
  // A mask folder has a file per image: name the others, count them all.
  const named = record.files.filter((file) => !file.startsWith('masks/'));
  return (
    `exported ${record.dataset} version ${short(record.version)} as ${record.format} to ${result.target}: ` +
    `${record.images} image(s), ${record.files.length} annotation file(s) (${named.join(', ')}${named.length < record.files.length ? ', masks/...' : ''})`
  );
}

function labelList(value: string): string[] {
  return value.split(',').map((label) => label.trim());
}

export function addDatasetCommands(program: Command): void {
  const datasets = program
    .command('datasets')
    .description('versioned datasets: snapshot, diff, export, import');
  const command = (name: string, description: string) =>
    addStorageOptions(datasets.command(name).description(description)).option(
      '--json',
      'machine-readable output',
      false,
    );

  command('list', 'every dataset with its task, classes, working set and newest version').action(
    async (opts) =>
      withStores(opts, async (db) => {
        const list = (await listDatasets(db)).map(datasetJson);
        print(opts, { datasets: list }, () => formatDatasetList(list));
      }),
  );

  command('show', 'a dataset and its versions; with a version: its counts per class and split')
    .argument('<dataset>', 'dataset name')
    .argument('[version]', 'version id, unique prefix of one, or latest')
    .action(async (name: string, ref: string | undefined, opts) =>
      withStores(opts, async (db, blobs) => {
        if (ref !== undefined) {
          const detail = await describeVersion(db, blobs, name, ref);
          return print(opts, detail, () => formatVersion(detail));
        }
        const dataset = datasetJson(await getDataset(db, name));
        const versions = (await listVersions(db, name)).map(versionJson);
        print(opts, { ...dataset, history: versions }, () => formatDataset(dataset, versions));
      }),
    );

  command(
    'snapshot',
    "freeze the dataset's working set into a version (the same version when nothing changed)",
  )
    .argument('<dataset>', 'dataset name')
    .option('--note <text>', 'kept with a new version')
    .action(async (name: string, opts) =>
      withStores(opts, async (db, blobs) => {
        const { version, created } = await snapshotDataset(db, blobs, name, opts.note);
        const json = { created, version: versionJson(version) };
        print(opts, json, () =>
          created
            ? `${name} version ${version.id}: ${version.items} images (${version.train} train, ${version.validation} validation)`
            : `${name} is unchanged since version ${version.id}; nothing recorded`,
        );
      }),
    );

  command('diff', 'images added, removed and relabelled between two versions')
    .argument('<dataset>', 'dataset name')
    .option('--from <version>', "version to compare from (default: the --to version's parent)")
    .option('--to <version>', 'version to compare to', 'latest')
    .action(async (name: string, opts) =>
      withStores(opts, async (db, blobs) => {
        const diff = diffJson(await diffVersions(db, blobs, name, opts.to, opts.from));
        print(opts, diff, () =>
          [
            `${name}: ${diff.from ? short(diff.from.id) : '(nothing)'} -> ${short(diff.to.id)}`,
            `  ${diff.added.length} added, ${diff.removed.length} removed, ${diff.changed.length} relabelled, ${diff.unchanged} unchanged`,
            ...diff.added.map((e) => `  + ${e.image_sha256} ${e.split}`),
            ...diff.removed.map((e) => `  - ${e.image_sha256} ${e.split}`),
            ...diff.changed.map((e) => `  ~ ${e.image_sha256} ${e.split}`),
          ].join('\n'),
        );
      }),
    );

  command(
    'export',
    'write a version as COCO, a mask PNG folder, Label Studio tasks or CVAT XML, with its images',
  )
    .argument('<dataset>', 'dataset name')
    .argument('[version]', 'version id, unique prefix of one, or latest', 'latest')
    .addOption(
      new Option('-f, --format <format>', 'export format').choices([...EXPORT_FORMATS]).makeOptionMandatory(),
    )
    .option('-o, --out <dir>', 'a new (or empty) folder to write to')
    .option('--prefix <prefix>', 'or: a prefix in the blob store to write under')
    .option('--image-root <url>', 'Label Studio: what data.image starts with (default images/)')
    .action(async (name: string, ref: string, opts) => {
      if ((opts.out === undefined) === (opts.prefix === undefined)) {
        throw new SegserveError('INVALID_ARGUMENT', {
          reason: 'give one of --out <dir> and --prefix <prefix>',
        });
      }
      return withStores(opts, async (db, blobs) => {
        const target =
          opts.out === undefined ? await blobTarget(blobs, opts.prefix) : await folderTarget(opts.out);
        const result = await exportVersion(db, blobs, name, ref, parseExportFormat(opts.format), target, {
          imageRoot: opts.imageRoot,
          progress: createProgress,
        });
        print(opts, result, () => formatExport(result));
      });
    });

  command('import', "add a COCO dataset's or a mask folder's images and labels to a dataset's working set")
    .argument('<dataset>', 'dataset name (created when missing)')
    .option('--coco <instances.json>', 'a COCO instances file')
    .option('--images <dir>', 'with --coco: the images folder (default: images/ beside annotations/)')
    .option(
      '--masks <dir>',
      'or: a mask folder (manifest.csv image,mask; grey PNGs of class ids; labels.txt)',
    )
    .option(
      '--labels <names>',
      'class names, comma-separated (default: the import’s own, or the dataset’s)',
      labelList,
    )
    .addOption(
      new Option('--task <task>', 'with --masks: the task (default binary for 2 classes)').choices([
        'binary',
        'semantic',
      ]),
    )
    .option(
      '--resize-masks',
      'with --masks: resize masks of another size to their image (nearest-neighbour)',
      false,
    )
    .action(async (name: string, opts) => {
      if ((opts.coco === undefined) === (opts.masks === undefined)) {
        throw new SegserveError('INVALID_ARGUMENT', {
          reason: 'give one of --coco <instances.json> and --masks <dir>',
        });
      }
      return withStores(opts, async (db, blobs) => {
        const common = { dataset: name, labels: opts.labels, progress: createProgress };
        const result =
          opts.coco === undefined
            ? await importMaskFolder(db, blobs, {
                ...common,
                folder: opts.masks,
                task: opts.task,
                resizeMasks: opts.resizeMasks,
              })
            : await importCoco(db, blobs, { ...common, annotations: opts.coco, images: opts.images });
        print(opts, result, () => formatImport(result));
      });
    });
}
