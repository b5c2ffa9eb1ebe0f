/**
 * Checks against real COCO val2017 annotations (from ../shared, skipped with a message when missing): crowd RLEs
 * must survive our encoder and string form unchanged, and polygons must rasterise where COCO says they are.
 */
import { readFileSync } from 'node:fs';
import { beforeAll, expect, it } from 'vitest';
import { maskArea, maskBbox } from '../../src/masks/crop.js';
import { maskToPolygons, polygonsToCoco, polygonsToMask } from '../../src/masks/polygons.js';
import {
  countsToString,
  decodeRle,
  encodeMask,
  rleArea,
  rleBbox,
  stringToCounts,
} from '../../src/masks/rle.js';
import { describeWithShared, sharedPath } from '../helpers/shared.js';
import { firstDifference } from './helpers.js';

const ANNOTATIONS = ['datasets', 'coco-val2017-mini', 'annotations', 'instances.json'];

interface CocoAnnotation {
  id: number;
  image_id: number;
  iscrowd: 0 | 1;
  area: number;
  bbox: [number, number, number, number];
  segmentation: number[][] | { size: [number, number]; counts: number[] };
}

interface CocoFile {
  images: Array<{ id: number; width: number; height: number }>;
  annotations: CocoAnnotation[];
}

describeWithShared('COCO val2017 annotations', ANNOTATIONS, () => {
  // Read in beforeAll: vitest runs a skipped describe's body too, where the file is missing.
  let images = new Map<number, CocoFile['images'][number]>();
  let crowd: CocoAnnotation[] = [];
  let polygons: CocoAnnotation[] = [];
  beforeAll(() => {
    const coco = JSON.parse(readFileSync(sharedPath(...ANNOTATIONS), 'utf8')) as CocoFile;
    images = new Map(coco.images.map((image) => [image.id, image]));
    crowd = coco.annotations.filter((a) => a.iscrowd === 1);
    polygons = coco.annotations.filter((a) => a.iscrowd === 0);
  });

  it('has crowd and polygon annotations to test with', () => {
    expect(crowd.length).toBeGreaterThan(0);
    expect(polygons.length).toBeGreaterThan(100);
  });

  it('decodes every crowd RLE and re-encodes it to the same counts, also through the string form', () => {
    for (const annotation of crowd) {
      const rle = annotation.segmentation as { size: [number, number]; counts: number[] };
      const [height, width] = rle.size;
      const mask = decodeRle(rle);
      expect(mask.width * mask.height).toBe(height * width);
      const counts = encodeMask(mask);
      expect(counts.reduce((sum, n) => sum + n, 0)).toBe(height * width);
      expect(counts, `annotation ${annotation.id}`).toEqual(rle.counts);
      const text = countsToString(rle.counts);
      expect(stringToCounts(text)).toEqual(rle.counts);
      expect(firstDifference(decodeRle({ size: rle.size, counts: text }).data, mask.data)).toBe(-1);
      expect(rleArea(counts)).toBe(maskArea(mask));
      // Not COCO's own area/bbox fields: for crowd regions those are not the mask's pixel count and tight box.
      expect(rleBbox(counts, height, width)).toEqual(maskBbox(mask));
    }
  });

  it('rasterises polygon annotations to COCO area and inside COCO boxes (orientation and scale)', () => {
    const errors: number[] = [];
    for (const annotation of polygons) {
      const image = images.get(annotation.image_id)!;
      const mask = polygonsToMask(annotation.segmentation as number[][], image.width, image.height);
      errors.push(Math.abs(maskArea(mask) - annotation.area) / annotation.area);
      // Pixels are set only where their centre is inside, so the mask never leaves the polygon's box.
      const [bx, by, bw, bh] = annotation.bbox;
      const [x, y, w, h] = rleBbox(encodeMask(mask), image.height, image.width);
      if (w === 0) continue;
      expect(x).toBeGreaterThanOrEqual(Math.floor(bx));
      expect(y).toBeGreaterThanOrEqual(Math.floor(by));
      expect(x + w).toBeLessThanOrEqual(Math.ceil(bx + bw));
      expect(y + h).toBeLessThanOrEqual(Math.ceil(by + bh));
    }
    errors.sort((a, b) => a - b);
    expect(errors[Math.floor(errors.length / 2)]).toBeLessThan(0.01);
    expect(errors[Math.floor(errors.length * 0.95)]).toBeLessThan(0.05);
  });

  it('turns COCO masks back into polygons that rasterise to the same pixels', () => {
    for (const annotation of polygons.slice(0, 150)) {
      const image = images.get(annotation.image_id)!;
      const mask = polygonsToMask(annotation.segmentation as number[][], image.width, image.height);
      const traced = polygonsToMask(polygonsToCoco(maskToPolygons(mask)), image.width, image.height);
      expect(firstDifference(traced.data, mask.data), `annotation ${annotation.id}`).toBe(-1);
    }
  });
});
