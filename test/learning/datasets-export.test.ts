/**
 * Exports of a dataset version, to a folder and to a blob-store prefix, in every format: each is read back as its
 * consumers read it (test/helpers/dataset-exports.ts) and equals the stored labels pixel for pixel, with the
 * stored image bytes beside it. A format that cannot hold the dataset, a target that is not empty, and a
 * reserved prefix are refused with nothing written. Re-importing an export gives back the very same version.
 */
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureDataset, upsertDatasetItem } from '../../src/learning/dataset-items.js';
import {
  blobTarget,
  EXPORT_FORMATS,
  type ExportFormat,
  exportVersion,
  folderTarget,
  importCoco,
  importMaskFolder,
  readVersionEntries,
  resolveVersion,
  snapshotDataset,
} from '../../src/learning/datasets/index.js';
import { decodeLabelDocument, encodeLabelDocument, makeDocument } from '../../src/learning/label-document.js';
import { decodeRle, toCompressedRle } from '../../src/masks/index.js';
import { contentKeyOfHash } from '../../src/storage/index.js';
import { codeOf } from '../helpers/caught.js';
import {
  type DecodedExport,
  readCocoExport,
  readCvatExport,
  readLabelStudioExport,
  readMaskFolderExport,
} from '../helpers/dataset-exports.js';
import {
  addItem,
  classMapLabel,
  openTestStores,
  type TestStores,
  tinyImage,
} from '../helpers/dataset-stores.js';

const STREET = ['background', 'sky', 'road', 'car'];
const W = 8;
const H = 6;
let stores: TestStores;
let streets: string;

/** A semantic 8x6 map whose classes depend on the seed, so labels differ between images. */
function streetMap(seed: number): number[] {
  return Array.from({ length: W * H }, (_, i) => {
    const x = i % W;
    const y = Math.floor(i / W);
    if (y < 2) return 1;
    if (y >= 4) return 2;
    return x >= seed % W && x < (seed % W) + 3 ? 3 : 0;
  });
}

beforeAll(async () => {
  stores = await openTestStores();
  for (let seed = 0; seed < 12; seed++) {
    await addItem(
      stores,
      'streets',
      tinyImage(seed, W, H),
      classMapLabel('semantic', STREET, W, H, streetMap(seed)),
    );
  }
  streets = (await snapshotDataset(stores.db, stores.blobs, 'streets')).version.id;
});

afterAll(async () => {
  await stores?.close();
});

/** The stored version as the readers give exports back: image sha256 to segments. */
async function storedLabels(dataset: string, ref: string): Promise<DecodedExport> {
  const version = await resolveVersion(stores.db, dataset, ref);
  const out: DecodedExport = new Map();
  for (const entry of await readVersionEntries(stores.blobs, version)) {
    const label = decodeLabelDocument(await stores.blobs.get(contentKeyOfHash(entry.labelSha256, 'json')));
    out.set(entry.imageSha256, {
      width: label.width,
      height: label.height,
      segments: label.segments.map((s) => ({ classId: s.class_id, data: decodeRle(s.rle).data })),
    });
  }
  return out;
}

const READERS: Record<ExportFormat, (dir: string, labels: readonly string[]) => Promise<DecodedExport>> = {
  coco: readCocoExport,
  masks: (dir) => readMaskFolderExport(dir),
  'label-studio': readLabelStudioExport,
  cvat: readCvatExport,
};

describe('exports to a folder', () => {
  for (const format of EXPORT_FORMATS) {
    it(`${format}: decodes back to the stored labels pixel for pixel, with the stored images`, async () => {
      const dir = join(stores.dir, `export-${format}`);
      const result = await exportVersion(
        stores.db,
        stores.blobs,
        'streets',
        'latest',
        format,
        await folderTarget(dir),
      );
      expect(result.written).toBe(true);
      expect(result.record).toMatchObject({ format, dataset: 'streets', version: streets, images: 12 });
      expect(result.record.installation).toMatch(/^[0-9a-f-]{36}$/);
      const expected = await storedLabels('streets', streets);
      const decoded = await READERS[format](dir, STREET);
      expect(decoded).toEqual(expected);
      // The images are the stored bytes, named by their hash.
      const images = await readdir(join(dir, 'images'));
      expect(images).toHaveLength(12);
      for (const name of images) {
        const bytes = await readFile(join(dir, 'images', name));
        const stored = await stores.blobs.get(contentKeyOfHash(name.replace('.png', ''), 'png'));
        expect(Buffer.from(stored).equals(bytes)).toBe(true);
      }
      const record = JSON.parse(await readFile(join(dir, 'export.json'), 'utf8'));
      expect(record.files).toEqual(result.record.files);
      // No staging folder is left beside it.
      expect((await readdir(stores.dir)).filter((n) => n.includes('.partial-'))).toEqual([]);
    });
  }

  it('refuses a folder that is not empty, and leaves it as it was', async () => {
    const dir = join(stores.dir, 'occupied');
    await mkdir(dir);
    await writeFile(join(dir, 'keep.txt'), 'mine');
    expect(await codeOf(folderTarget(dir))).toBe('OUTPUT_NOT_WRITABLE');
    expect(await readdir(dir)).toEqual(['keep.txt']);
  });

  it('refuses a mask folder of an instance dataset before writing anything', async () => {
    const rle = toCompressedRle({ width: 2, height: 2, data: Uint8Array.from([1, 1, 0, 0]) });
    await addItem(
      stores,
      'pets',
      tinyImage(70, 2, 2),
      makeDocument('instance', 2, 2, ['cat', 'dog'], [{ class_id: 1, rle }]),
    );
    await snapshotDataset(stores.db, stores.blobs, 'pets');
    const dir = join(stores.dir, 'pets-masks');
    const target = await folderTarget(dir);
    expect(await codeOf(exportVersion(stores.db, stores.blobs, 'pets', 'latest', 'masks', target))).toBe(
      'INVALID_ARGUMENT',
    );
    expect(
      (await readdir(stores.dir)).filter((n) => n.startsWith('pets-masks') || n.includes('.partial-')),
    ).toEqual([]);
  });
});

describe('an image stored without an extension', () => {
  it('is listed with "-" and exported under its bare hash', async () => {
    // The blob store names no extension for some formats (HEIF by content type): such keys must still work.
    const image = tinyImage(400);
    const label = classMapLabel('binary', ['background', 'person'], 4, 3, new Array(12).fill(1));
    await ensureDataset(stores.db, { name: 'bare', task: 'binary', labels: label.labels });
    const imageKey = (await stores.blobs.putContent(image)).key;
    const labelKey = (await stores.blobs.putContent(encodeLabelDocument(label), { ext: 'json' })).key;
    const sha = (key: string) => key.split('/').slice(1).join('').replace(/\..*$/, '');
    await upsertDatasetItem(stores.db, {
      dataset: 'bare',
      imageSha256: sha(imageKey),
      imageKey,
      labelSha256: sha(labelKey),
      labelKey,
      width: 4,
      height: 3,
      source: 'test',
    });
    const { version } = await snapshotDataset(stores.db, stores.blobs, 'bare');
    const manifest = new TextDecoder().decode(await stores.blobs.get(version.manifestKey));
    expect(manifest.trimEnd().split('\n')[1]).toBe(
      `${sha(imageKey)} ${sha(labelKey)} ${version.train ? 'train' : 'validation'} -`,
    );
    const dir = join(stores.dir, 'bare-coco');
    await exportVersion(stores.db, stores.blobs, 'bare', 'latest', 'coco', await folderTarget(dir));
    expect(await readdir(join(dir, 'images'))).toEqual([sha(imageKey)]);
    expect(await readCocoExport(dir, label.labels)).toEqual(await storedLabels('bare', 'latest'));
  });
});

describe('exports to a blob-store prefix', () => {
  it('writes the same files under the prefix, the record last; a repeat writes nothing', async () => {
    const target = await blobTarget(stores.blobs, 'exports/streets-coco');
    const result = await exportVersion(
      stores.db,
      stores.blobs,
      'streets',
      streets.slice(0, 10),
      'coco',
      target,
    );
    expect(result.written).toBe(true);
    const keys: string[] = [];
    for await (const blob of stores.blobs.list('exports/streets-coco/')) keys.push(blob.key);
    expect(keys.sort()).toEqual(
      [
        'exports/streets-coco/annotations/instances_train.json',
        'exports/streets-coco/annotations/instances_validation.json',
        'exports/streets-coco/export.json',
        ...(await readdir(join(stores.dir, 'export-coco', 'images'))).map(
          (n) => `exports/streets-coco/images/${n}`,
        ),
      ].sort(),
    );
    // The same export again: already there, nothing written.
    const again = await exportVersion(
      stores.db,
      stores.blobs,
      'streets',
      'latest',
      'coco',
      await blobTarget(stores.blobs, 'exports/streets-coco/'),
    );
    expect(again.written).toBe(false);
    // Another format into that prefix: refused, and the prefix keeps the first export only.
    const other = await blobTarget(stores.blobs, 'exports/streets-coco');
    expect(await codeOf(exportVersion(stores.db, stores.blobs, 'streets', 'latest', 'cvat', other))).toBe(
      'OUTPUT_NOT_WRITABLE',
    );
    let count = 0;
    for await (const _ of stores.blobs.list('exports/streets-coco/')) count++;
    expect(count).toBe(keys.length);
  });

  it("refuses segserve's own areas and malformed prefixes", async () => {
    expect(await codeOf(blobTarget(stores.blobs, 'sha256/ab'))).toBe('INVALID_ARGUMENT');
    expect(await codeOf(blobTarget(stores.blobs, 'datasets'))).toBe('INVALID_ARGUMENT');
    expect(await codeOf(blobTarget(stores.blobs, '../outside'))).toBe('BLOB_KEY_INVALID');
  });
});

describe('an export imported again', () => {
  it('mask folder -> import gives the same version id (the same images, labels and splits)', async () => {
    const result = await importMaskFolder(stores.db, stores.blobs, {
      dataset: 'streets-again',
      folder: join(stores.dir, 'export-masks'),
    });
    expect(result).toMatchObject({ task: 'semantic', labels: STREET, images: 12, added: 12 });
    const { version } = await snapshotDataset(stores.db, stores.blobs, 'streets-again');
    expect(version.id).toBe(streets);
  });

  it('COCO of an instance dataset -> import gives the same version id', async () => {
    const labels = ['cat', 'dog'];
    for (let seed = 0; seed < 5; seed++) {
      const a = toCompressedRle({
        width: 4,
        height: 3,
        data: Uint8Array.from({ length: 12 }, (_, i) => (i < 4 + seed ? 1 : 0)),
      });
      const b = toCompressedRle({
        width: 4,
        height: 3,
        data: Uint8Array.from({ length: 12 }, (_, i) => (i % 3 === 0 ? 1 : 0)),
      });
      const label = makeDocument('instance', 4, 3, labels, [
        { class_id: seed % 2, rle: a },
        { class_id: 1, rle: b },
      ]);
      await addItem(stores, 'animals', tinyImage(200 + seed), label);
    }
    const { version } = await snapshotDataset(stores.db, stores.blobs, 'animals');
    const dir = join(stores.dir, 'animals-coco');
    await exportVersion(stores.db, stores.blobs, 'animals', version.id, 'coco', await folderTarget(dir));
    for (const split of ['train', 'validation']) {
      const result = await importCoco(stores.db, stores.blobs, {
        dataset: 'animals-again',
        annotations: join(dir, 'annotations', `instances_${split}.json`),
        labels,
      });
      expect(result.skipped).toEqual({});
    }
    const again = await snapshotDataset(stores.db, stores.blobs, 'animals-again');
    expect(again.version.id).toBe(version.id);
  });
});
