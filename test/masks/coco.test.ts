/**
 * Checks against real COCO val2017 annotations (from ../shared, skipped with a message when missing): crowd RLEs
 * must survive our encoder and string form unchanged, and polygons must rasterise where COCO says they are, to
 * the pixel of pycocotools' own rasteriser.
 */
import { readFileSync } from 'node:fs';
import { beforeAll, expect, it } from 'vitest';
import { maskArea, maskBbox } from '../../src/masks/crop.js';
import { maskToPolygons, polygonsToCoco, polygonsToMask, polygonsToRle } from '../../src/masks/polygons.js';
import {
  countsToString,
  decodeRle,
  encodeMask,
  rleArea,
  rleBbox,
  rleCounts,
  stringToCounts,
} from '../../src/masks/rle.js';
import { describeWithShared, sharedPath } from '../helpers/shared.js';
import { firstDifference } from './helpers.js';

const ANNOTATIONS = ['datasets', 'coco-val2017-mini', 'annotations', 'instances.json'];

interface CocoAnnotation {
  id: number;
  image_id: number;
  category_id: number;
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

const SYNTHETIC = ['reference', 'coco-eval', 'synthetic-results.json'];

interface SyntheticResult {
  image_id: number;
  category_id: number;
  segmentation: { size: [number, number]; counts: string };
}

/**
 * The synthetic results of ../shared/reference/coco-eval were made with pycocotools from these annotations: most
 * are an annotation's mask moved by whole pixels. So wherever an annotation's mask, as rasterised here, has the
 * same box size and area as a result of its image and category, moving it onto the result's box must give the
 * result's pixels exactly. A pixel-centre fill matched 3 of the first 40; pycocotools' rules match them all but
 * masks cut by the image border (moved partly out of the image, so their box moved less than the mask).
 */
describeWithShared("polygons rasterised as pycocotools' rleFrPoly", SYNTHETIC, () => {
  let coco: CocoFile;
  let results: SyntheticResult[] = [];
  beforeAll(() => {
    coco = JSON.parse(readFileSync(sharedPath(...ANNOTATIONS), 'utf8')) as CocoFile;
    results = JSON.parse(readFileSync(sharedPath(...SYNTHETIC), 'utf8')) as SyntheticResult[];
  });

  it('gives pixel for pixel the masks pycocotools made of moved annotations', () => {
    const images = new Map(coco.images.map((image) => [image.id, image]));
    let exact = 0;
    let unmatched = 0;
    for (const result of results) {
      const { width, height } = images.get(result.image_id)!;
      const counts = rleCounts(result.segmentation);
      const [x, y, w, h] = rleBbox(counts, height, width);
      const area = rleArea(counts);
      const candidates = coco.annotations.filter(
        (a) =>
          a.image_id === result.image_id &&
          a.category_id === result.category_id &&
          Array.isArray(a.segmentation),
      );
      let found = false;
      let sameShape = false;
      for (const annotation of candidates) {
        const truth = polygonsToRle(annotation.segmentation as number[][], width, height);
        const [tx, ty, tw, th] = rleBbox(truth, height, width);
        if (tw !== w || th !== h || rleArea(truth) !== area) continue;
        sameShape = true;
        const moved = new Uint8Array(width * height);
        const pixels = decodeRle({ size: [height, width], counts: truth }).data;
        for (let row = 0; row < height; row++) {
          for (let column = 0; column < width; column++) {
            const r = row - (y - ty);
            const c = column - (x - tx);
            if (r >= 0 && r < height && c >= 0 && c < width)
              moved[row * width + column] = pixels[r * width + c];
          }
        }
        if (firstDifference(moved, decodeRle(result.segmentation).data) === -1) {
          found = true;
          break;
        }
      }
      if (found) exact++;
      else if (sameShape) unmatched++;
    }
    console.log(`${exact} of ${results.length} synthetic results are moved annotations, pixel for pixel`);
    expect(exact).toBeGreaterThan(400);
    // Annotations with the same box size and area that still differ: only the two masks cut by the border.
    expect(unmatched).toBeLessThanOrEqual(2);
  });
});
