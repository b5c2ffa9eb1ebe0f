/**
 * Evaluation dataset sources: the `--dataset` text, mask folders and COCO files read lazily and checked at open,
 * and the evaluation root that keeps the server's reads inside one folder (symbolic links included).
 */
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SPLITS } from '../../src/learning/datasets/index.js';
import {
  type ClassMapDataset,
  DatasetFiles,
  type InstanceDataset,
  openDatasetSource,
  parseDatasetSource,
} from '../../src/lifecycle/evaluation/index.js';
import { REFERENCE_SPLITS } from '../../src/models/evaluation-config.js';
import { caught } from '../helpers/caught.js';
import { halved, SCENE, sceneClassMap, writeCocoFolder, writeMaskFolder } from './evaluation-fixtures.js';

let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'segserve-eval-sources-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

const anywhere = () => DatasetFiles.unconfined(dir);

describe('parseDatasetSource', () => {
  it('reads paths and dataset references, version and split optional', () => {
    expect(parseDatasetSource('data/human')).toEqual({ kind: 'path', path: 'data/human' });
    expect(parseDatasetSource('dataset:faces')).toEqual({ kind: 'dataset', name: 'faces', ref: 'latest' });
    expect(parseDatasetSource('dataset:faces@3fa2#validation')).toEqual({
      kind: 'dataset',
      name: 'faces',
      ref: '3fa2',
      split: 'validation',
    });
    expect(parseDatasetSource('dataset:faces#train')).toMatchObject({ ref: 'latest', split: 'train' });
  });

  it('refuses an empty text, a malformed reference and an unknown split (INVALID_ARGUMENT)', async () => {
    for (const text of ['', 'dataset:', 'dataset:a@', 'dataset:a@b@c', 'dataset:a#test']) {
      const error = await caught(async () => parseDatasetSource(text));
      expect(error.code, text).toBe('INVALID_ARGUMENT');
    }
    expect((await caught(async () => parseDatasetSource('dataset:a#test'))).message).toMatch(
      /train, validation/,
    );
  });

  it('knows the splits the datasets have', () => {
    expect([...REFERENCE_SPLITS]).toEqual([...SPLITS]);
  });
});

describe('mask folders', () => {
  it('names its classes from labels.txt and reads each mask at the size asked for, lazily', async () => {
    const folder = await writeMaskFolder(
      join(dir, 'masks-labelled'),
      [
        { image: 'images/a.png', mask: 'masks/a.png', values: sceneClassMap() },
        // Saved at half the size: resized with nearest-neighbour, the scene's even edges survive exactly.
        { image: 'images/b.png', mask: 'masks/b.png', values: halved(sceneClassMap()), width: 8, height: 8 },
      ],
      ['background', 'red', 'green', 'blue'],
    );
    const dataset = (await openDatasetSource(folder, { files: anywhere() })) as ClassMapDataset;
    expect(dataset).toMatchObject({ kind: 'class-maps', size: 2, binary: false, source: folder });
    expect(dataset.classes).toEqual(['background', 'red', 'green', 'blue']);
    expect(dataset.description).toMatch(/mask folder .*2 images/);
    const format = { classes: 4, binary: false };
    const first = dataset.image(0);
    expect(first.name).toBe('images/a.png');
    expect(first.imageId).toBe(1);
    expect(await first.classMap(SCENE, SCENE, format)).toEqual(sceneClassMap());
    expect(await dataset.image(1).classMap(SCENE, SCENE, format)).toEqual(sceneClassMap());
    expect((await first.bytes()).subarray(1, 4).toString()).toBe('PNG');
  });

  it('without labels.txt takes the model class ids, a binary one 0/255 as 0/1', async () => {
    const mask = new Uint8Array(SCENE * SCENE);
    mask.fill(255, 0, 40);
    const folder = await writeMaskFolder(join(dir, 'masks-binary'), [
      { image: 'images/a.png', mask: 'masks/a.png', values: mask },
    ]);
    const dataset = (await openDatasetSource(folder, { files: anywhere() })) as ClassMapDataset;
    expect(dataset.classes).toBeUndefined();
    const map = await dataset.image(0).classMap(SCENE, SCENE, { classes: 2, binary: true });
    expect(map.subarray(0, 40).every((v) => v === 1)).toBe(true);
    expect(map.subarray(40).every((v) => v === 0)).toBe(true);
    // The same mask for a semantic model of 4 classes: 255 is no class id.
    const error = await caught(() => dataset.image(0).classMap(SCENE, SCENE, { classes: 4, binary: false }));
    expect(error.code).toBe('EVAL_INPUT_INVALID');
    expect(error.message).toMatch(/mask masks\/a.png holds value 255 at pixel 0; expected class ids 0..3/);
  });

  it('refuses a mask of another picture (another aspect ratio), naming it', async () => {
    const folder = await writeMaskFolder(join(dir, 'masks-aspect'), [
      { image: 'images/a.png', mask: 'masks/a.png', values: new Uint8Array(16 * 8), width: 16, height: 8 },
    ]);
    const dataset = (await openDatasetSource(folder, { files: anywhere() })) as ClassMapDataset;
    const error = await caught(() => dataset.image(0).classMap(SCENE, SCENE, { classes: 2, binary: true }));
    expect(error.code).toBe('EVAL_INPUT_INVALID');
    expect(error.message).toMatch(
      /mask masks\/a.png is 16x8, its image images\/a.png 16x16 \(another aspect ratio/,
    );
  });

  it('refuses at open a folder with missing files or paths out of it, listing every problem', async () => {
    const folder = await writeMaskFolder(join(dir, 'masks-broken'), [
      { image: 'images/a.png', mask: 'masks/a.png', values: sceneClassMap() },
    ]);
    await writeFile(
      join(folder, 'manifest.csv'),
      'image,mask\nimages/a.png,masks/a.png\nimages/gone.png,masks/a.png\nimages/a.png,masks/gone.png\n../x.png,masks/a.png\n',
    );
    const error = await caught(() => openDatasetSource(folder, { files: anywhere() }));
    expect(error.code).toBe('EVAL_INPUT_INVALID');
    expect(error.message).toMatch(/3 problem\(s\)/);
    expect(error.message).toMatch(/image images\/gone.png is missing/);
    expect(error.message).toMatch(/mask masks\/gone.png is missing/);
    expect(error.message).toMatch(/line 5: paths must lie inside the folder/);
  });

  it('calls a manifest without rows an empty dataset (EVAL_DATASET_EMPTY)', async () => {
    const folder = join(dir, 'masks-empty');
    await mkdir(folder);
    await writeFile(join(folder, 'manifest.csv'), 'image,mask\n');
    const error = await caught(() => openDatasetSource(folder, { files: anywhere() }));
    expect(error.code).toBe('EVAL_DATASET_EMPTY');
  });

  it('refuses a folder that is no dataset, and a path that does not exist', async () => {
    await mkdir(join(dir, 'plain'));
    expect((await caught(() => openDatasetSource('plain', { files: anywhere() }))).code).toBe(
      'EVAL_INPUT_INVALID',
    );
    const missing = await caught(() => openDatasetSource('nowhere', { files: anywhere() }));
    expect(missing.code).toBe('PATH_FORBIDDEN');
    expect(missing.message).toMatch(/nowhere.*does not exist/);
  });
});

describe('COCO files', () => {
  it('reads categories and images (default images/ beside annotations/), from the file or its folder', async () => {
    const folder = await writeCocoFolder(join(dir, 'coco'));
    for (const source of [join(folder, 'annotations', 'instances.json'), folder]) {
      const dataset = (await openDatasetSource(source, { files: anywhere() })) as InstanceDataset;
      expect(dataset).toMatchObject({ kind: 'instances', size: 1, classes: ['cat', 'dog'] });
      expect(dataset.groundTruth.annotations).toHaveLength(2);
      const image = dataset.image(0);
      expect(image).toMatchObject({ name: 'scene.png', imageId: 7 });
      expect((await image.bytes()).length).toBeGreaterThan(50);
    }
  });

  it('takes another images folder, and refuses missing images and files that are not COCO', async () => {
    const folder = await writeCocoFolder(join(dir, 'coco-2'));
    const file = join(folder, 'annotations', 'instances.json');
    const elsewhere = await caught(() =>
      openDatasetSource(file, { files: anywhere(), images: join(dir, 'plain') }),
    );
    expect(elsewhere.code).toBe('EVAL_INPUT_INVALID');
    expect(elsewhere.message).toMatch(/image scene.png is missing/);
    await writeFile(join(dir, 'not-coco.json'), '{"images": 3}');
    const shape = await caught(() => openDatasetSource('not-coco.json', { files: anywhere() }));
    expect(shape.code).toBe('EVAL_INPUT_INVALID');
    expect(shape.message).toMatch(/not a COCO instances file: images/);
    await writeFile(join(dir, 'not-json.json'), '{');
    expect((await caught(() => openDatasetSource('not-json.json', { files: anywhere() }))).message).toMatch(
      /not JSON/,
    );
  });
});

describe('the evaluation root', () => {
  let root: string;
  let outside: string;

  beforeAll(async () => {
    root = join(dir, 'root');
    outside = join(dir, 'outside');
    await writeMaskFolder(join(root, 'inside'), [
      { image: 'images/a.png', mask: 'masks/a.png', values: sceneClassMap() },
    ]);
    await writeMaskFolder(outside, [{ image: 'images/a.png', mask: 'masks/a.png', values: sceneClassMap() }]);
    await writeFile(
      join(dir, 'secret.json'),
      '{"images": [], "annotations": [], "categories": [{"id": 1, "name": "x"}]}',
    );
    // A link inside the root to a folder outside it, and a mask folder whose mask is a link out of it.
    await symlink(outside, join(root, 'link-out'));
    await writeMaskFolder(join(root, 'sneaky'), [
      { image: 'images/a.png', mask: 'masks/a.png', values: sceneClassMap() },
    ]);
    await rm(join(root, 'sneaky', 'masks', 'a.png'));
    await symlink(join(outside, 'masks', 'a.png'), join(root, 'sneaky', 'masks', 'a.png'));
  });

  it('reads a dataset inside it, by a path relative to it, and names files relative to it', async () => {
    const files = await DatasetFiles.confined(root);
    const dataset = await openDatasetSource('inside', { files });
    expect(dataset.size).toBe(1);
    expect(dataset.description).toMatch(/^mask folder inside \(/);
    expect(dataset.description).not.toContain(dir);
  });

  it('refuses paths out of it: absolute, ../, and symbolic links, at open or at the file (PATH_FORBIDDEN)', async () => {
    const files = await DatasetFiles.confined(root);
    for (const source of [
      outside,
      '../outside',
      join(dir, 'secret.json'),
      '../secret.json',
      '/etc/passwd',
      'link-out',
    ]) {
      const error = await caught(() => openDatasetSource(source, { files }));
      expect(error.code, source).toBe('PATH_FORBIDDEN');
      if (!source.startsWith('/')) expect(error.message, source).not.toContain(dir);
    }
    const sneaky = await caught(() => openDatasetSource('sneaky', { files }));
    expect(sneaky.code).toBe('PATH_FORBIDDEN');
    expect(sneaky.message).toMatch(/masks\/a.png.*leads out of the evaluation root through a symbolic link/);
  });

  it('refuses an images folder outside it for a COCO file', async () => {
    await writeCocoFolder(join(root, 'coco'));
    const files = await DatasetFiles.confined(root);
    const error = await caught(() => openDatasetSource('coco', { files, images: '/etc' }));
    expect(error.code).toBe('PATH_FORBIDDEN');
    expect(error.message).toMatch(/outside the evaluation root/);
  });
});
