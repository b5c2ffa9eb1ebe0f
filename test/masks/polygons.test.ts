import { describe, expect, it } from 'vitest';
import { SegserveError } from '../../src/errors.js';
import { expandCroppedMask } from '../../src/masks/crop.js';
import {
  maskToPolygons,
  type Polygon,
  polygonsToCoco,
  polygonsToMask,
  polygonsToRle,
  polygonToRle,
} from '../../src/masks/polygons.js';
import type { BinaryMask } from '../../src/masks/types.js';
import {
  cropOf,
  ellipseMask,
  emptyMask,
  fillRect,
  firstDifference,
  iou,
  noiseMask,
  rectanglesMask,
  seededRandom,
} from './helpers.js';

/** Ring corners as a sorted list of "x,y", so tests do not depend on where a ring starts. */
function corners(ring: number[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < ring.length; i += 2) out.push(`${ring[i]},${ring[i + 1]}`);
  return out.sort();
}

function rasterise(polygons: Polygon[], width: number, height: number): BinaryMask {
  return polygonsToMask(polygonsToCoco(polygons), width, height);
}

describe('maskToPolygons', () => {
  it('outlines a filled rectangle by its pixel corners', () => {
    // Pixels x 3..7, y 2..5 inclusive: the outline runs along their outer borders, 3..8 x 2..6.
    const mask = fillRect(emptyMask(12, 10), 3, 2, 7, 5);
    const polygons = maskToPolygons(mask);
    expect(polygons).toHaveLength(1);
    expect(corners(polygons[0].exterior)).toEqual(corners([3, 2, 8, 2, 8, 6, 3, 6]));
    expect(polygons[0].holes).toEqual([]);
    expect(firstDifference(polygonsToMask([polygons[0].exterior], 12, 10).data, mask.data)).toBe(-1);
  });

  it('gives a rectangle with a rectangular hole one exterior and one hole', () => {
    const mask = fillRect(fillRect(emptyMask(12, 10), 1, 1, 9, 8), 4, 3, 6, 5, 0);
    const polygons = maskToPolygons(mask);
    expect(polygons).toHaveLength(1);
    expect(corners(polygons[0].exterior)).toEqual(corners([1, 1, 10, 1, 10, 9, 1, 9]));
    expect(polygons[0].holes).toHaveLength(1);
    expect(corners(polygons[0].holes[0])).toEqual(corners([4, 3, 7, 3, 7, 6, 4, 6]));
    expect(firstDifference(rasterise(polygons, 12, 10).data, mask.data)).toBe(-1);
    // Passed as two separate COCO polygons the hole is filled (COCO unites them): that is why polygonsToCoco exists.
    const united = polygonsToMask([polygons[0].exterior, polygons[0].holes[0]], 12, 10);
    expect(united.data[4 * 12 + 5]).toBe(1);
    expect(polygonsToCoco(polygons)).toHaveLength(1);
  });

  it('gives one polygon per component, each with its own holes', () => {
    const mask = emptyMask(30, 12);
    fillRect(mask, 1, 1, 8, 8);
    fillRect(mask, 3, 3, 4, 4, 0);
    fillRect(mask, 15, 2, 25, 10);
    fillRect(mask, 17, 4, 18, 5, 0);
    fillRect(mask, 21, 6, 22, 8, 0);
    const polygons = maskToPolygons(mask);
    expect(polygons).toHaveLength(2);
    const left = polygons.find((p) => p.exterior.includes(1))!;
    const right = polygons.find((p) => p.exterior.includes(26))!;
    expect(left.holes.map(corners)).toEqual([corners([3, 3, 5, 3, 5, 5, 3, 5])]);
    expect(right.holes.map(corners).sort()).toEqual(
      [corners([17, 4, 19, 4, 19, 6, 17, 6]), corners([21, 6, 23, 6, 23, 9, 21, 9])].sort(),
    );
    expect(firstDifference(rasterise(polygons, 30, 12).data, mask.data)).toBe(-1);
  });

  it('keeps an island inside a hole as its own polygon', () => {
    const mask = fillRect(emptyMask(20, 20), 2, 2, 17, 17);
    fillRect(mask, 5, 5, 14, 14, 0);
    fillRect(mask, 8, 8, 11, 11, 1);
    const polygons = maskToPolygons(mask);
    expect(polygons).toHaveLength(2);
    expect(polygons.map((p) => p.holes.length).sort()).toEqual([0, 1]);
    expect(firstDifference(rasterise(polygons, 20, 20).data, mask.data)).toBe(-1);
  });

  it('joins pixels that touch only at a corner (8-connectivity)', () => {
    const diagonal = emptyMask(6, 6);
    for (let i = 0; i < 5; i++) diagonal.data[i * 6 + i] = 1;
    const polygons = maskToPolygons(diagonal);
    expect(polygons).toHaveLength(1);
    expect(polygons[0].holes).toEqual([]);
    expect(firstDifference(rasterise(polygons, 6, 6).data, diagonal.data)).toBe(-1);
    // A ring of pixels touching diagonally around one background pixel encloses a 4-connected hole.
    const diamond = emptyMask(5, 5);
    for (const [x, y] of [
      [2, 1],
      [3, 2],
      [2, 3],
      [1, 2],
    ]) {
      diamond.data[y * 5 + x] = 1;
    }
    const ring = maskToPolygons(diamond);
    expect(ring).toHaveLength(1);
    expect(ring[0].holes).toHaveLength(1);
    expect(corners(ring[0].holes[0])).toEqual(corners([2, 2, 3, 2, 3, 3, 2, 3]));
    expect(firstDifference(rasterise(ring, 5, 5).data, diamond.data)).toBe(-1);
  });

  it('traces diagonal shapes exactly, and simplifies them within the tolerance', () => {
    // A triangle with a 45 degree edge and a diamond: staircase outlines.
    const triangle = emptyMask(40, 40);
    for (let y = 5; y < 35; y++) for (let x = 5; x <= y; x++) triangle.data[y * 40 + x] = 1;
    const diamond = emptyMask(41, 41);
    for (let y = 0; y < 41; y++)
      for (let x = 0; x < 41; x++)
        if (Math.abs(x - 20) + Math.abs(y - 20) <= 15) diamond.data[y * 41 + x] = 1;
    for (const mask of [triangle, diamond]) {
      const exact = maskToPolygons(mask);
      expect(exact).toHaveLength(1);
      expect(firstDifference(rasterise(exact, mask.width, mask.height).data, mask.data)).toBe(-1);
      const simple = maskToPolygons(mask, { tolerance: 1 });
      expect(simple[0].exterior.length).toBeLessThan(exact[0].exterior.length / 4);
      expect(iou(rasterise(simple, mask.width, mask.height), mask)).toBeGreaterThan(0.95);
    }
  });

  it('reproduces blobs exactly without tolerance and above IoU 0.95 with it', () => {
    const blob = ellipseMask(320, 240, 150, 110, 90, 60);
    const exact = maskToPolygons(blob);
    expect(iou(rasterise(exact, 320, 240), blob)).toBe(1);
    for (const tolerance of [0.5, 1, 2]) {
      const simple = maskToPolygons(blob, { tolerance });
      expect(simple).toHaveLength(1);
      expect(simple[0].exterior.length).toBeLessThanOrEqual(exact[0].exterior.length);
      expect(iou(rasterise(simple, 320, 240), blob)).toBeGreaterThan(0.95);
    }
  });

  it('reproduces random masks pixel for pixel (components, holes, diagonal contacts)', () => {
    const random = seededRandom(21);
    for (let k = 0; k < 120; k++) {
      const width = 1 + Math.floor(random() * 45);
      const height = 1 + Math.floor(random() * 45);
      const mask =
        k % 3 === 0 ? rectanglesMask(width, height, 6, random) : noiseMask(width, height, random(), random);
      const back = rasterise(maskToPolygons(mask), width, height);
      expect(firstDifference(back.data, mask.data), `case ${k} ${width}x${height}`).toBe(-1);
    }
  });

  it('reads cropped masks in image coordinates', () => {
    const mask = ellipseMask(200, 150, 120, 80, 30, 20);
    fillRect(mask, 110, 75, 125, 82, 0);
    const crop = cropOf(mask, 80, 50, 90, 70);
    expect(maskToPolygons(crop)).toEqual(maskToPolygons(expandCroppedMask(crop)));
    expect(firstDifference(rasterise(maskToPolygons(crop), 200, 150).data, mask.data)).toBe(-1);
  });

  it('returns nothing for an empty mask and rejects a negative tolerance', () => {
    expect(maskToPolygons(emptyMask(10, 10))).toEqual([]);
    expect(maskToPolygons(emptyMask(0, 0))).toEqual([]);
    expect(() => maskToPolygons(emptyMask(3, 3), { tolerance: -1 })).toThrow(SegserveError);
  });

  it('keeps tiny components even when the tolerance is larger than they are', () => {
    const mask = fillRect(emptyMask(10, 10), 4, 4, 4, 4);
    const polygons = maskToPolygons(mask, { tolerance: 5 });
    expect(corners(polygons[0].exterior)).toEqual(corners([4, 4, 5, 4, 5, 5, 4, 5]));
  });
});

describe('polygonsToMask', () => {
  it('fills pixel-cornered polygons exactly (COCO: pixel c spans [c, c + 1))', () => {
    const mask = polygonsToMask([[0, 0, 10, 0, 10, 10, 0, 10]], 12, 12);
    const expected = fillRect(emptyMask(12, 12), 0, 0, 9, 9);
    expect(firstDifference(mask.data, expected.data)).toBe(-1);
    // Sub-pixel vertices: x 2.4..5.6 covers centres 2.5..5.5, y 1.6..3.4 covers centre 2.5 only.
    const thin = polygonsToMask([[2.4, 1.6, 5.6, 1.6, 5.6, 3.4, 2.4, 3.4]], 8, 6);
    expect(firstDifference(thin.data, fillRect(emptyMask(8, 6), 2, 2, 5, 2).data)).toBe(-1);
  });

  it("rounds as pycocotools' rleFrPoly, not by pixel centres: an edge on a centre line takes the pixel after it", () => {
    // x 2.5..6.5, y 0.5..2.5. On the 5x finer grid the edges lie at 13, 33 (x) and 3, 13 (y); column c is in
    // when its centre line 5c + 2 lies between the x edges (c = 3..6); each column runs from row
    // ceil((3 + 0.5) / 5 - 0.5) = 1 to row ceil((13 + 0.5) / 5 - 0.5) = 3 (excluded). A pixel-centre fill would
    // give columns 2..5 and rows 0..1 instead: the same area one pixel up and left.
    const mask = polygonsToMask([[2.5, 0.5, 6.5, 0.5, 6.5, 2.5, 2.5, 2.5]], 8, 4);
    expect(firstDifference(mask.data, fillRect(emptyMask(8, 4), 3, 1, 6, 2).data)).toBe(-1);
    expect(polygonsToRle([[2.5, 0.5, 6.5, 0.5, 6.5, 2.5, 2.5, 2.5]], 8, 4)).toEqual([
      13, 2, 2, 2, 2, 2, 2, 2, 5,
    ]);
  });

  it('gives the RLE of one polygon and of a union without decoding', () => {
    expect(polygonToRle([0, 0, 2, 0, 2, 2, 0, 2], 3, 3)).toEqual([0, 2, 1, 2, 4]);
    expect(polygonToRle([], 3, 3)).toEqual([9]);
    expect(polygonsToRle([], 3, 3)).toEqual([9]);
    expect(
      polygonsToRle(
        [
          [0, 0, 2, 0, 2, 2, 0, 2],
          [1, 1, 3, 1, 3, 3, 1, 3],
        ],
        3,
        3,
      ),
    ).toEqual([0, 2, 1, 3, 1, 2]);
  });

  it('keeps x as the column and y as the row on a non-square image', () => {
    const mask = polygonsToMask([[20, 1, 25, 1, 25, 4, 20, 4]], 30, 10);
    expect(firstDifference(mask.data, fillRect(emptyMask(30, 10), 20, 1, 24, 3).data)).toBe(-1);
  });

  it('unites polygons, fills one polygon even-odd, and clips to the image', () => {
    const union = polygonsToMask(
      [
        [0, 0, 4, 0, 4, 4, 0, 4],
        [2, 2, 6, 2, 6, 6, 2, 6],
      ],
      8,
      8,
    );
    const expected = fillRect(fillRect(emptyMask(8, 8), 0, 0, 3, 3), 2, 2, 5, 5);
    expect(firstDifference(union.data, expected.data)).toBe(-1);
    // One polygon that goes round an inner square the other way: even-odd leaves the inner square empty.
    const ring = polygonsToMask([[0, 0, 6, 0, 6, 6, 0, 6, 0, 0, 2, 2, 2, 4, 4, 4, 4, 2, 2, 2]], 6, 6);
    expect(
      firstDifference(ring.data, fillRect(fillRect(emptyMask(6, 6), 0, 0, 5, 5), 2, 2, 3, 3, 0).data),
    ).toBe(-1);
    const clipped = polygonsToMask([[-5, -5, 3, -5, 3, 3, -5, 3]], 6, 6);
    expect(firstDifference(clipped.data, fillRect(emptyMask(6, 6), 0, 0, 2, 2).data)).toBe(-1);
  });

  it('fills a triangle on the correct side of its slanted edge', () => {
    const mask = polygonsToMask([[0, 0, 10, 0, 0, 10]], 12, 12);
    expect(mask.data[1 * 12 + 1]).toBe(1);
    expect(mask.data[8 * 12 + 8]).toBe(0);
    // Centres (8.5, 0.5) and (0.5, 8.5) lie inside x + y < 10; (9.5, 1.5) and (1.5, 9.5) outside.
    expect(mask.data[0 * 12 + 8]).toBe(1);
    expect(mask.data[8 * 12 + 0]).toBe(1);
    expect(mask.data[1 * 12 + 9]).toBe(0);
    expect(mask.data[9 * 12 + 1]).toBe(0);
  });

  it('rejects odd-length or non-numeric polygons and bad sizes', () => {
    expect(() => polygonsToMask([[0, 0, 1]], 4, 4)).toThrow(SegserveError);
    expect(() => polygonsToMask([[0, 0, 1, Number.NaN, 2, 2]], 4, 4)).toThrow(SegserveError);
    expect(() => polygonsToMask([], -1, 4)).toThrow(SegserveError);
    expect(polygonsToMask([], 3, 2).data).toEqual(new Uint8Array(6));
  });
});
