/**
 * `mask_format=polygon` with a tolerance: toSegmentationJson simplifies every ring (Douglas-Peucker) when asked,
 * keeps the exact outline by default, and refuses tolerances out of range. On real person masks, simplified
 * polygons have far fewer points and still cover nearly the same pixels.
 */
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import { SegserveError } from '../../src/errors.js';
import { intersectionOverUnion } from '../../src/eval/iou.js';
import { type Polygon, polygonsToCoco, polygonsToMask } from '../../src/masks/polygons.js';
import { MAX_POLYGON_TOLERANCE, toSegmentationJson } from '../../src/serving/encode.js';
import type { Segmentation } from '../../src/serving/pipeline.js';
import { readHumanManifest, readPersonMask } from '../helpers/datasets.js';
import { describeWithShared } from '../helpers/shared.js';
import { ellipseMask } from '../masks/helpers.js';

/** A binary segmentation whose class map is `mask`, as the pipeline would hand it to the encoder. */
function binarySegmentation(mask: Uint8Array, width: number, height: number): Segmentation {
  let area = 0;
  for (const v of mask) area += v;
  return {
    model: 'test',
    version: 1,
    image: {
      format: 'png',
      width,
      height,
      orientation: 1,
      orientedWidth: width,
      orientedHeight: height,
      channels: 3,
      hasAlpha: false,
    },
    result: {
      task: 'binary',
      width,
      height,
      classMap: mask,
      labels: ['background', 'person'],
      areas: [
        { classId: 0, label: 'background', area: width * height - area },
        { classId: 1, label: 'person', area },
      ],
      uncertainty: { kind: 'pixel-entropy', meanEntropy: 0, maxEntropy: 0, uncertainShare: 0 },
    },
    timings: { decode: 0, preprocess: 0, queue: 0, infer: 0, postprocess: 0, encode: 0, total: 0 },
  };
}

function personPolygons(seg: Segmentation, polygonTolerance?: number): Polygon[] {
  const body = toSegmentationJson(seg, { maskFormat: 'polygon', polygonTolerance });
  const polygons = body.classes?.[0].polygons;
  if (!polygons) throw new Error('no polygons in the answer');
  return polygons;
}

const points = (polygons: Polygon[]) =>
  polygons.reduce((n, p) => n + p.exterior.length / 2 + p.holes.reduce((m, h) => m + h.length / 2, 0), 0);

function rasterise(polygons: Polygon[], width: number, height: number): Uint8Array {
  return polygonsToMask(polygonsToCoco(polygons), width, height).data;
}

describe('toSegmentationJson polygon tolerance', () => {
  const ellipse = ellipseMask(120, 90, 60, 45, 50, 35);
  const seg = binarySegmentation(ellipse.data, 120, 90);

  it('keeps the exact outline by default and with the mask format alone (older call form)', () => {
    const exact = personPolygons(seg);
    expect(personPolygons(seg, 0)).toEqual(exact);
    expect(toSegmentationJson(seg, 'polygon').classes?.[0].polygons).toEqual(exact);
    expect(rasterise(exact, 120, 90)).toEqual(ellipse.data);
  });

  it('simplifies with a tolerance: fewer points, nearly the same area', () => {
    const exact = personPolygons(seg);
    const simple = personPolygons(seg, 1.5);
    expect(points(simple)).toBeLessThan(points(exact) / 2);
    expect(intersectionOverUnion(rasterise(simple, 120, 90), ellipse.data)).toBeGreaterThan(0.95);
  });

  it('refuses a tolerance below 0, above the maximum or not a number', () => {
    for (const tolerance of [-1, MAX_POLYGON_TOLERANCE + 1, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(() => toSegmentationJson(seg, { maskFormat: 'polygon', polygonTolerance: tolerance })).toThrow(
        SegserveError,
      );
      try {
        toSegmentationJson(seg, { maskFormat: 'polygon', polygonTolerance: tolerance });
      } catch (error) {
        expect((error as SegserveError).code).toBe('INVALID_ARGUMENT');
        expect((error as SegserveError).message).toMatch(
          /polygon_tolerance must be a number of pixels from 0 to/,
        );
      }
    }
  });
});

describeWithShared('polygon tolerance on real person masks', ['datasets', 'human-segmentation'], () => {
  const samples: Array<{ name: string; mask: Uint8Array; width: number; height: number }> = [];

  beforeAll(async () => {
    const manifest = await readHumanManifest();
    for (const sample of manifest.slice(0, 5)) {
      const { width, height } = await sharp(sample.image).metadata();
      samples.push({
        name: sample.image,
        mask: await readPersonMask(sample.mask, width, height),
        width,
        height,
      });
    }
  });

  // 1 px: on a small, speckled mask (2.jpg: 3.7k pixels, 52 holes) 2 px already costs IoU 0.93.
  it('polygon_tolerance 1 cuts the points at least 3x and keeps IoU > 0.95 with the mask', () => {
    expect(samples.length).toBeGreaterThan(0);
    for (const { name, mask, width, height } of samples) {
      const seg = binarySegmentation(mask, width, height);
      const exact = personPolygons(seg);
      const simple = personPolygons(seg, 1);
      const iou = intersectionOverUnion(rasterise(simple, width, height), mask);
      console.log(`${name}: ${points(exact)} -> ${points(simple)} points, IoU ${iou.toFixed(4)}`);
      expect(intersectionOverUnion(rasterise(exact, width, height), mask), name).toBe(1);
      expect(points(simple), name).toBeLessThan(points(exact) / 3);
      expect(iou, name).toBeGreaterThan(0.95);
    }
  });
});
