/**
 * Imports seeding datasets: the shared COCO val2017 subset (instances, polygons and crowd RLE) and the shared
 * human-segmentation masks (binary, 0/255, many smaller than their image), and bad input of every kind refused
 * as a whole (DATASET_IMPORT_INVALID listing each problem, DATASET_MISMATCH) with nothing stored.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isSegserveError, type SegserveError } from '../../src/errors.js';
import { ensureDataset } from '../../src/learning/dataset-items.js';
import {
  exportVersion,
  folderTarget,
  getDataset,
  importCoco,
  importMaskFolder,
  snapshotDataset,
} from '../../src/learning/datasets/index.js';
import { classMapOf, decodeLabelDocument } from '../../src/learning/label-document.js';
import { encodeGreyPng, polygonsToMask } from '../../src/masks/index.js';
import { openTestStores, type TestStores, tinyImage } from '../helpers/dataset-stores.js';
import {
  COCO_MINI,
  HUMAN_SEG,
  readCocoMini,
  readHumanManifest,
  readPersonMask,
} from '../helpers/datasets.js';
import { describeWithShared } from '../helpers/shared.js';

let stores: TestStores;

beforeAll(async () => {
  stores = await openTestStores();
});

afterAll(async () => {
  await stores?.close();
});

async function refusal(promise: Promise<unknown>): Promise<SegserveError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!isSegserveError(error)) throw new Error(`expected a SegserveError, got ${String(error)}`);
  return error;
}

async function blobCount(): Promise<number> {
  let n = 0;
  for await (const _ of stores.blobs.list('')) n++;
  return n;
}

async function itemsOf(dataset: string) {
  const { rows } = await stores.db.query<{
    image_sha256: string;
    label_key: string;
    width: number;
    height: number;
  }>('SELECT image_sha256, label_key, width, height FROM dataset_items WHERE dataset = $1', [dataset]);
  return rows;
}

describeWithShared('import of the shared COCO val2017 subset', ['datasets', 'coco-val2017-mini'], () => {
  it('makes an instance dataset of every image, one segment per annotation, crowd regions skipped', async () => {
    const coco = await readCocoMini();
    const result = await importCoco(stores.db, stores.blobs, {
      dataset: 'coco-mini',
      annotations: join(COCO_MINI, 'annotations', 'instances.json'),
    });
    const crowd = coco.annotations.filter((a) => a.iscrowd === 1).length;
    expect(result).toMatchObject({ task: 'instance', images: 79, added: 79, replaced: 0 });
    expect(result.skipped).toEqual({ 'crowd annotations': crowd });
    expect(result.labels).toEqual(coco.categories.map((c) => c.name));

    // One image checked in full: each polygon annotation is the stored segment, rasterised as pycocotools does.
    const image = coco.images.find((i) => i.file_name === '000000397133.jpg')!;
    const annotations = coco.annotations.filter((a) => a.image_id === image.id && a.iscrowd === 0);
    const rows = await itemsOf('coco-mini');
    expect(rows).toHaveLength(79);
    const labels = await Promise.all(
      rows.map(async (r) => decodeLabelDocument(await stores.blobs.get(r.label_key))),
    );
    const label = labels.find((l) => l.width === image.width && l.segments.length === annotations.length)!;
    expect(label).toBeDefined();
    const names = coco.categories.map((c) => c.name);
    const byId = new Map(coco.categories.map((c) => [c.id, c.name]));
    expect(label.segments.map((s) => names[s.class_id])).toEqual(
      annotations.map((a) => byId.get(a.category_id)),
    );
    const first = polygonsToMask(annotations[0].segmentation as number[][], image.width, image.height);
    const { decodeRle } = await import('../../src/masks/index.js');
    expect(decodeRle(label.segments[0].rle).data).toEqual(first.data);
    const total = labels.reduce((n, l) => n + l.segments.length, 0);
    expect(total).toBe(coco.annotations.length - crowd);
  });

  it("exports it with COCO's own category ids again", async () => {
    const coco = await readCocoMini();
    const { version } = await snapshotDataset(stores.db, stores.blobs, 'coco-mini');
    const dir = join(stores.dir, 'coco-mini-export');
    await exportVersion(stores.db, stores.blobs, 'coco-mini', version.id, 'coco', await folderTarget(dir));
    const { readFile } = await import('node:fs/promises');
    const exported = await Promise.all(
      ['train', 'validation'].map(async (s) =>
        JSON.parse(await readFile(join(dir, 'annotations', `instances_${s}.json`), 'utf8')),
      ),
    );
    expect(exported[0].categories.map((c: { id: number }) => c.id)).toEqual(coco.categories.map((c) => c.id));
    const used = (list: Array<{ category_id: number }>) =>
      list.map((a) => a.category_id).sort((a, b) => a - b);
    expect(used([...exported[0].annotations, ...exported[1].annotations])).toEqual(
      used(coco.annotations.filter((a) => a.iscrowd === 0)),
    );
  });
});

describeWithShared(
  'import of the shared human-segmentation masks',
  ['datasets', 'human-segmentation'],
  () => {
    it('refuses masks smaller than their images unless asked to resize them, storing nothing', async () => {
      const before = await blobCount();
      const error = await refusal(
        importMaskFolder(stores.db, stores.blobs, {
          dataset: 'humans',
          folder: HUMAN_SEG,
          labels: ['background', 'person'],
        }),
      );
      expect(error.code).toBe('DATASET_IMPORT_INVALID');
      expect(error.message).toMatch(
        /157 problem\(s\): mask masks\/\d+\.png is \d+x\d+, its image images\/\d+\.jpg \d+x\d+/,
      );
      expect(await blobCount()).toBe(before);
      expect(await refusal(getDataset(stores.db, 'humans'))).toMatchObject({ code: 'DATASET_NOT_FOUND' });
    });

    it('imports 0/255 masks as a binary dataset, resized with nearest-neighbour, each equal to the mask', async () => {
      const result = await importMaskFolder(stores.db, stores.blobs, {
        dataset: 'humans',
        folder: HUMAN_SEG,
        labels: ['background', 'person'],
        resizeMasks: true,
      });
      expect(result).toMatchObject({ task: 'binary', images: 232, added: 232 });
      const samples = await readHumanManifest();
      const rows = await itemsOf('humans');
      const { createHash } = await import('node:crypto');
      const { readFile } = await import('node:fs/promises');
      for (const sample of samples.slice(0, 12)) {
        const sha = createHash('sha256')
          .update(await readFile(sample.image))
          .digest('hex');
        const row = rows.find((r) => r.image_sha256 === sha)!;
        const label = decodeLabelDocument(await stores.blobs.get(row.label_key));
        expect(classMapOf(label)).toEqual(await readPersonMask(sample.mask, row.width, row.height));
      }
      // Importing the same folder again changes nothing.
      const again = await importMaskFolder(stores.db, stores.blobs, {
        dataset: 'humans',
        folder: HUMAN_SEG,
        resizeMasks: true,
      });
      expect(again).toMatchObject({ added: 0, replaced: 0, unchanged: 232 });
    });
  },
);

describe('bad imports are refused whole, storing nothing', () => {
  let dir: string;

  beforeAll(async () => {
    dir = join(stores.dir, 'bad');
    await mkdir(join(dir, 'images'), { recursive: true });
    await mkdir(join(dir, 'annotations'), { recursive: true });
    await writeFile(join(dir, 'images', 'a.png'), tinyImage(1));
    await writeFile(join(dir, 'images', 'b.png'), tinyImage(2));
    await writeFile(join(dir, 'images', 'copy-of-a.png'), tinyImage(1));
  });

  it('COCO: unknown categories, wrong sizes, missing images, duplicates and malformed RLE, all listed', async () => {
    const file = join(dir, 'annotations', 'instances.json');
    const square = [[0, 0, 3, 0, 3, 2, 0, 2]];
    await writeFile(
      file,
      JSON.stringify({
        images: [
          { id: 1, file_name: 'a.png', width: 4, height: 3 },
          { id: 2, file_name: 'b.png', width: 5, height: 3 },
          { id: 3, file_name: 'missing.png', width: 4, height: 3 },
          { id: 4, file_name: 'copy-of-a.png', width: 4, height: 3 },
          { id: 5, file_name: '../escape.png', width: 4, height: 3 },
        ],
        annotations: [
          { id: 10, image_id: 1, category_id: 1, segmentation: square },
          { id: 11, image_id: 1, category_id: 99, segmentation: square },
          { id: 12, image_id: 1, category_id: 1, segmentation: { size: [5, 5], counts: [25] } },
          { id: 13, image_id: 1, category_id: 1, segmentation: { size: [3, 4], counts: 'zz' } },
          { id: 14, image_id: 42, category_id: 1, segmentation: square },
        ],
        categories: [{ id: 1, name: 'box' }],
      }),
    );
    const before = await blobCount();
    const error = await refusal(importCoco(stores.db, stores.blobs, { dataset: 'boxes', annotations: file }));
    expect(error.code).toBe('DATASET_IMPORT_INVALID');
    expect(error.status).toBe(422);
    for (const problem of [
      'annotation 11: category_id 99 is not among the categories',
      'annotation 14: image_id 42 is not among the images',
      'image b.png is 4x3, the file says 5x3',
      'image missing.png is missing',
      'image ../escape.png: file_name must be a path inside the images folder',
      'annotation 12 of a.png: its RLE mask is 5x5, its image 4x3',
      'annotation 13 of a.png:',
      'images a.png and copy-of-a.png are the same image',
    ]) {
      expect(error.message).toContain(problem);
    }
    expect(await blobCount()).toBe(before);
    expect(await itemsOf('boxes')).toEqual([]);
  });

  it('COCO: a category the existing dataset lacks, and a file that is not COCO', async () => {
    await ensureDataset(stores.db, { name: 'shapes', task: 'instance', labels: ['circle'] });
    const file = join(dir, 'annotations', 'shapes.json');
    await writeFile(
      file,
      JSON.stringify({
        images: [{ id: 1, file_name: 'a.png', width: 4, height: 3 }],
        annotations: [{ id: 1, image_id: 1, category_id: 1, segmentation: [[0, 0, 2, 0, 2, 2]] }],
        categories: [{ id: 1, name: 'triangle' }],
      }),
    );
    const error = await refusal(
      importCoco(stores.db, stores.blobs, { dataset: 'shapes', annotations: file }),
    );
    expect(error.message).toContain('category "triangle" is not a class of dataset "shapes"');
    await writeFile(join(dir, 'annotations', 'broken.json'), '{"images": [');
    const broken = await refusal(
      importCoco(stores.db, stores.blobs, {
        dataset: 'x',
        annotations: join(dir, 'annotations', 'broken.json'),
      }),
    );
    expect(broken.code).toBe('DATASET_IMPORT_INVALID');
    expect(broken.message).toContain('not JSON');
    await writeFile(join(dir, 'annotations', 'shapeless.json'), '{"images": [{"id": "one"}]}');
    const shapeless = await refusal(
      importCoco(stores.db, stores.blobs, {
        dataset: 'x',
        annotations: join(dir, 'annotations', 'shapeless.json'),
      }),
    );
    expect(shapeless.message).toContain('images.0.id');
  });

  it('masks: wrong size, unknown class values, colour masks, missing files, all listed', async () => {
    const folder = join(dir, 'masks-folder');
    await mkdir(join(folder, 'images'), { recursive: true });
    await mkdir(join(folder, 'masks'), { recursive: true });
    for (const seed of [1, 2, 3, 4])
      await writeFile(join(folder, 'images', `${seed}.png`), tinyImage(seed + 10));
    await writeFile(join(folder, 'masks', '1.png'), encodeGreyPng(new Uint8Array(6), 3, 2));
    await writeFile(join(folder, 'masks', '2.png'), encodeGreyPng(new Uint8Array(12).fill(7), 4, 3));
    const { default: sharp } = await import('sharp');
    const colour = await sharp({ create: { width: 4, height: 3, channels: 3, background: '#ff0000' } })
      .png()
      .toBuffer();
    await writeFile(join(folder, 'masks', '3.png'), colour);
    await writeFile(
      join(folder, 'manifest.csv'),
      'image,mask\nimages/1.png,masks/1.png\nimages/2.png,masks/2.png\nimages/3.png,masks/3.png\nimages/4.png,masks/4.png\n',
    );
    await writeFile(join(folder, 'labels.txt'), 'background\nsky\nroad\n');
    const before = await blobCount();
    const error = await refusal(importMaskFolder(stores.db, stores.blobs, { dataset: 'bad-masks', folder }));
    expect(error.code).toBe('DATASET_IMPORT_INVALID');
    for (const problem of [
      'mask masks/1.png is 3x2, its image images/1.png 4x3',
      'mask masks/2.png holds value 7 at pixel 0; expected class ids 0..2',
      'mask masks/3.png: not a mask PNG segserve reads',
      'mask masks/4.png is missing',
    ]) {
      expect(error.message).toContain(problem);
    }
    expect(await blobCount()).toBe(before);
    const noManifest = await refusal(
      importMaskFolder(stores.db, stores.blobs, { dataset: 'bad-masks', folder: join(dir, 'images') }),
    );
    expect(noManifest.message).toContain('manifest.csv is missing');
    expect(noManifest.message).toContain('no class names');
  });

  it('masks into a dataset of other classes: DATASET_MISMATCH before anything is stored', async () => {
    await ensureDataset(stores.db, { name: 'people-only', task: 'binary', labels: ['background', 'person'] });
    const folder = join(dir, 'other-classes');
    await mkdir(join(folder, 'images'), { recursive: true });
    await writeFile(join(folder, 'images', 'a.png'), tinyImage(77));
    await writeFile(join(folder, 'a-mask.png'), encodeGreyPng(new Uint8Array(12), 4, 3));
    await writeFile(join(folder, 'manifest.csv'), 'image,mask\nimages/a.png,a-mask.png\n');
    const before = await blobCount();
    const error = await refusal(
      importMaskFolder(stores.db, stores.blobs, {
        dataset: 'people-only',
        folder,
        labels: ['background', 'cat', 'dog'],
      }),
    );
    expect(error.code).toBe('DATASET_MISMATCH');
    // Masks into an instance dataset: class maps hold no instances.
    await ensureDataset(stores.db, { name: 'instances', task: 'instance', labels: ['cat', 'dog'] });
    const intoInstances = await refusal(
      importMaskFolder(stores.db, stores.blobs, { dataset: 'instances', folder }),
    );
    expect(intoInstances.code).toBe('DATASET_MISMATCH');
    const threeBinary = await refusal(
      importMaskFolder(stores.db, stores.blobs, {
        dataset: 'new',
        folder,
        task: 'binary',
        labels: ['a', 'b', 'c'],
      }),
    );
    expect(threeBinary.message).toContain('a binary dataset has 2 classes');
    expect(await blobCount()).toBe(before);
    expect(await itemsOf('people-only')).toEqual([]);
    expect(await itemsOf('instances')).toEqual([]);
  });
});
