/**
 * `segserve predict` on the COCO mini folder with the real yolov8n-seg: a standard COCO results file, one mask
 * PNG per image named after it, overlays that put colour where the masks are.
 */
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { decodeRle } from '../../src/masks/rle.js';
import type { CocoResult } from '../../src/serving/types.js';
import { runCli } from '../helpers/cli.js';
import { COCO_MINI, type CocoDataset, readCocoMini } from '../helpers/datasets.js';
import { REPOSITORY_DIR } from '../helpers/paths.js';
import { describeWithShared } from '../helpers/shared.js';

describeWithShared('segserve predict on coco-val2017-mini', ['datasets', 'coco-val2017-mini'], () => {
  let out: string;
  let dataset: CocoDataset;
  let stdout: string;

  beforeAll(async () => {
    out = await mkdtemp(join(tmpdir(), 'segserve-predict-'));
    dataset = await readCocoMini();
    const run = await runCli([
      'predict',
      join(COCO_MINI, 'images'),
      '--model',
      'yolov8n-seg',
      '--models',
      REPOSITORY_DIR,
      '--out',
      out,
      '--format',
      'coco,png,overlay',
      '--categories',
      join(COCO_MINI, 'annotations', 'instances.json'),
    ]);
    stdout = run.stdout;
    expect(run.code, run.stderr).toBe(0);
  });
  afterAll(() => rm(out, { recursive: true, force: true }));

  it('prints a summary', () => {
    expect(stdout).toMatch(/79\/79 images segmented/);
    expect(stdout).toMatch(/mean ms per image: decode [\d.]+, preprocess [\d.]+, queue [\d.]+, infer [\d.]+/);
  });

  it('writes a standard COCO results JSON keyed by the numeric file names', async () => {
    const results: CocoResult[] = JSON.parse(await readFile(join(out, 'results.json'), 'utf8'));
    const images = new Map(dataset.images.map((i) => [i.id, i]));
    const categoryIds = new Set(dataset.categories.map((c) => c.id));
    expect(results.length).toBeGreaterThan(200);
    for (const r of results) {
      const image = images.get(r.image_id);
      expect(image, `image_id ${r.image_id}`).toBeDefined();
      expect(r.file_name).toBe(image!.file_name);
      expect(categoryIds.has(r.category_id)).toBe(true);
      expect(r.segmentation.size).toEqual([image!.height, image!.width]);
      expect(r.score).toBeGreaterThan(0);
      expect(r.bbox).toHaveLength(4);
      const mask = decodeRle(r.segmentation);
      expect(mask.data.reduce((a, b) => a + b, 0)).toBe(r.area);
    }
    // The category ids come from the dataset by name: persons are category 1 in COCO.
    expect(results.filter((r) => r.category_name === 'person').every((r) => r.category_id === 1)).toBe(true);
  });

  it('writes one mask PNG and one overlay per image, at the image size', async () => {
    const files = new Set(await readdir(out));
    for (const image of dataset.images) {
      const stem = image.file_name.replace(/\.jpg$/, '');
      expect(files.has(`${stem}.png`)).toBe(true);
      expect(files.has(`${stem}.overlay.png`)).toBe(true);
    }
    const sample = dataset.images[0];
    const stem = sample.file_name.replace(/\.jpg$/, '');
    for (const name of [`${stem}.png`, `${stem}.overlay.png`]) {
      const meta = await sharp(join(out, name)).metadata();
      expect([meta.width, meta.height]).toEqual([sample.width, sample.height]);
    }
  });

  it('overlays tint the pixels inside the predicted masks and leave far-away pixels alone', async () => {
    const results: CocoResult[] = JSON.parse(await readFile(join(out, 'results.json'), 'utf8'));
    const first = results.find((r) => r.file_name === '000000397133.jpg' && r.category_name === 'person');
    expect(first).toBeDefined();
    const mask = decodeRle(first!.segmentation);
    const original = await sharp(join(COCO_MINI, 'images', '000000397133.jpg'))
      .removeAlpha()
      .raw()
      .toBuffer();
    const overlay = await sharp(join(out, '000000397133.overlay.png')).removeAlpha().raw().toBuffer();
    let inside = 0;
    let changedInside = 0;
    for (let i = 0; i < mask.data.length; i++) {
      if (!mask.data[i]) continue;
      inside++;
      const d =
        Math.abs(overlay[i * 3] - original[i * 3]) +
        Math.abs(overlay[i * 3 + 1] - original[i * 3 + 1]) +
        Math.abs(overlay[i * 3 + 2] - original[i * 3 + 2]);
      if (d > 20) changedInside++;
    }
    expect(changedInside / inside).toBeGreaterThan(0.8);
    // Pixels covered by no result at all (mask, box, or the caption tag along the box's top edge, which may be
    // wider than a narrow box) keep their colour, up to decoder rounding.
    const covered = new Uint8Array(mask.data.length);
    const width = mask.width;
    const cover = (x0: number, y0: number, x1: number, y1: number) => {
      for (let yy = Math.max(0, Math.floor(y0)); yy < Math.min(mask.height, Math.ceil(y1)); yy++)
        for (let xx = Math.max(0, Math.floor(x0)); xx < Math.min(width, Math.ceil(x1)); xx++)
          covered[yy * width + xx] = 1;
    };
    for (const r of results.filter((x) => x.file_name === '000000397133.jpg')) {
      const [x, y, w, h] = r.bbox;
      cover(x - 4, y - 4, x + w + 4, y + h + 4);
      cover(x - 4, y - 24, x + 250, y + 24);
    }
    let free = 0;
    let unchanged = 0;
    for (let i = 0; i < covered.length; i++) {
      if (covered[i]) continue;
      free++;
      if (Math.abs(overlay[i * 3] - original[i * 3]) <= 2) unchanged++;
    }
    if (free > 0) expect(unchanged / free).toBeGreaterThan(0.99);
  });
});
