/**
 * COCO instance evaluation. Against pycocotools' own numbers (../shared/reference/coco-eval, skipped with a
 * message when missing): all 48 (2 results files x box and mask x 12) within 0.001. Always: small cases whose
 * AP and AR are worked out by hand in the comments, each pinning one COCOeval rule (crowd regions, area ranges,
 * maxDets, score ties, categories without ground truth, COCO.loadRes areas, category matching by name).
 */
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  type CocoAnnotation,
  type CocoBox,
  type CocoDataset,
  type CocoResult,
  type CocoSummary,
  evaluateCoco,
  IOU_THRESHOLDS,
  type IouType,
  intersectionOverUnion,
  maskIou,
  maskRuns,
  parseCocoDataset,
  parseCocoResults,
  RECALL_THRESHOLDS,
} from '../../src/eval/index.js';
import { countsToString, decodeRle, encodeMask, polygonsToRle } from '../../src/masks/index.js';
import { codeOf } from '../helpers/caught.js';
import { seededRandom } from '../helpers/random.js';
import { describeWithShared, sharedPath } from '../helpers/shared.js';

const REFERENCE = ['reference', 'coco-eval'];
const GROUND_TRUTH = ['datasets', 'coco-val2017-mini', 'annotations', 'instances.json'];

describeWithShared(
  'COCO evaluation against pycocotools on coco-val2017-mini',
  [...REFERENCE, 'expected.json'],
  () => {
    type Expected = Record<string, Record<IouType, CocoSummary>>;
    let expected: Expected;
    let dataset: CocoDataset;
    beforeAll(() => {
      expected = JSON.parse(readFileSync(sharedPath(...REFERENCE, 'expected.json'), 'utf8')) as Expected;
      dataset = parseCocoDataset(JSON.parse(readFileSync(sharedPath(...GROUND_TRUTH), 'utf8')));
    });

    it('reproduces all 12 box and 12 mask numbers of both results files within 0.001', async () => {
      const differences: Array<{ file: string; type: IouType; key: string; expected: number; got: number }> =
        [];
      for (const file of Object.keys(expected)) {
        const results = parseCocoResults(JSON.parse(readFileSync(sharedPath(...REFERENCE, file), 'utf8')));
        const started = performance.now();
        const evaluation = await evaluateCoco(dataset, results);
        console.log(
          `${file}: ${results.length} results, box and mask evaluated in ${(performance.now() - started).toFixed(0)} ms`,
        );
        expect(evaluation.warnings).toEqual([]);
        for (const type of ['bbox', 'segm'] as const) {
          const summary = evaluation[type]!.summary;
          for (const [key, value] of Object.entries(expected[file][type])) {
            differences.push({ file, type, key, expected: value, got: summary[key as keyof CocoSummary] });
          }
        }
      }
      expect(differences).toHaveLength(48);
      const worst = Math.max(...differences.map((d) => Math.abs(d.got - d.expected)));
      console.log(`48 numbers, largest difference from pycocotools: ${worst.toExponential(2)}`);
      for (const d of differences) {
        expect(Math.abs(d.got - d.expected), `${d.file} ${d.type} ${d.key}`).toBeLessThanOrEqual(0.001);
      }
      // pycocotools' numbers are rounded to 6 decimals: anything beyond that rounding is a real difference.
      expect(worst).toBeLessThan(1e-6);
    });
  },
);

// ---- small cases, all boxes unless said otherwise ----

const IMAGE = { id: 1, width: 200, height: 200 };
const CATEGORIES = [{ id: 1, name: 'cat' }];

function boxPolygon([x, y, w, h]: CocoBox): number[] {
  return [x, y, x + w, y, x + w, y + h, x, y + h];
}

let nextId = 1;

function truth(bbox: CocoBox, extra: Partial<CocoAnnotation> = {}): CocoAnnotation {
  return {
    id: nextId++,
    image_id: 1,
    category_id: 1,
    iscrowd: 0,
    area: bbox[2] * bbox[3],
    bbox,
    segmentation: [boxPolygon(bbox)],
    ...extra,
  };
}

function detection(bbox: CocoBox, score: number, extra: Partial<CocoResult> = {}): CocoResult {
  return { image_id: 1, category_id: 1, bbox, score, ...extra };
}

function data(annotations: CocoAnnotation[], more: Partial<CocoDataset> = {}): CocoDataset {
  return { images: [IMAGE], categories: CATEGORIES, annotations, ...more };
}

async function boxes(dataset: CocoDataset, results: CocoResult[]) {
  return (await evaluateCoco(dataset, results, { iouTypes: ['bbox'] })).bbox!;
}

/** A compressed RLE of the box [x, y, w, h] (whole pixels) on the 200 x 200 image. */
function boxRle(bbox: CocoBox) {
  return {
    size: [IMAGE.height, IMAGE.width] as [number, number],
    counts: countsToString(polygonsToRle([boxPolygon(bbox)], IMAGE.width, IMAGE.height)),
  };
}

describe('COCOeval rules on hand-computed cases', () => {
  it('uses numpy.linspace doubles for the thresholds (IoU ties fall where COCOeval puts them)', () => {
    expect(IOU_THRESHOLDS).toHaveLength(10);
    expect(IOU_THRESHOLDS[5]).toBe(0.75);
    expect(IOU_THRESHOLDS[8]).toBe(0.8999999999999999);
    expect(RECALL_THRESHOLDS).toHaveLength(101);
    expect(RECALL_THRESHOLDS[57]).toBe(0.5700000000000001);
  });

  it('matches a detection at the thresholds up to its IoU: IoU .72 counts at .50-.70, 5 of 10', async () => {
    const result = await boxes(data([truth([0, 0, 10, 10])]), [detection([0, 0, 10, 7.2], 0.9)]);
    expect(result.summary.AP).toBeCloseTo(0.5, 12);
    expect(result.summary.AP50).toBeCloseTo(1, 12);
    expect(result.summary.AP75).toBe(0);
    // Area 100 is small; no medium or large ground truth: -1 as COCO prints it.
    expect(result.summary.APs).toBeCloseTo(0.5, 12);
    expect(result.summary.APm).toBe(-1);
    expect(result.summary.APl).toBe(-1);
    expect(result.summary.AR100).toBeCloseTo(0.5, 12);
  });

  it('interpolates precision with its envelope: a false positive above the true positive gives AP .5', async () => {
    // Ranked FP, TP: recall 0, 1 at precision 0, 1/2; the envelope makes precision 1/2 at every recall point.
    const result = await boxes(data([truth([0, 0, 10, 10])]), [
      detection([100, 100, 10, 10], 0.9),
      detection([0, 0, 10, 10], 0.8),
    ]);
    expect(result.summary.AP).toBeCloseTo(0.5, 12);
    expect(result.summary.AR100).toBe(1);
    // One detection per image: the false positive only.
    expect(result.summary.AR1).toBe(0);
    expect(result.images[0]).toMatchObject({ instances: 1, detections: 2, tp: 1, fp: 1, fn: 0 });
    expect(result.images[0].f1).toBeCloseTo(2 / 3, 12);
  });

  it('keeps file order among equal scores in an image: the first one takes the ground truth', async () => {
    const dataset = data([truth([0, 0, 10, 10])]);
    const weak = detection([0, 0, 10, 6.2], 0.5); // IoU .62
    const strong = detection([0, 0, 10, 9.2], 0.5); // IoU .92
    // Weak first: it takes the truth at .50-.60 (AP 1 there: TP then FP); at .65-.90 it misses and the strong
    // one matches second (FP, TP: AP .5); at .95 neither. (3 + 6 * .5) / 10 = .6.
    expect((await boxes(dataset, [weak, strong])).summary.AP).toBeCloseTo(0.6, 12);
    // Strong first: TP at .50-.90, 9 of 10.
    expect((await boxes(dataset, [strong, weak])).summary.AP).toBeCloseTo(0.9, 12);
  });

  it('keeps image id order among equal scores across images', async () => {
    const images = [IMAGE, { ...IMAGE, id: 2 }];
    const annotations = [truth([0, 0, 10, 10]), truth([0, 0, 10, 10], { image_id: 2 })];
    const miss = (image: number) => detection([100, 100, 10, 10], 0.5, { image_id: image });
    const hit = (image: number) => detection([0, 0, 10, 10], 0.5, { image_id: image });
    // Image 1's miss ranks first: recall .5 at precision .5 -> precision .5 at the 51 recall points 0..0.5.
    const missFirst = await boxes(data(annotations, { images }), [hit(2), miss(1)]);
    expect(missFirst.summary.AP).toBeCloseTo(25.5 / 101, 12);
    // The hit ranks first: precision 1 at those 51 points.
    const hitFirst = await boxes(data(annotations, { images }), [miss(2), hit(1)]);
    expect(hitFirst.summary.AP).toBeCloseTo(51 / 101, 12);
  });

  it('lets a crowd region absorb any number of detections inside it without counting them', async () => {
    const person = truth([0, 0, 10, 10]);
    const crowd = truth([20, 0, 40, 40], { iscrowd: 1 });
    // IoU with a crowd region is intersection / detection area: 1 for a box inside it.
    const inside = [detection([22, 2, 5, 5], 0.9), detection([30, 10, 5, 5], 0.85)];
    const result = await boxes(data([person, crowd]), [...inside, detection([0, 0, 10, 10], 0.7)]);
    expect(result.summary.AP).toBeCloseTo(1, 12);
    expect(result.summary.AR100).toBe(1);
    expect(result.images[0]).toMatchObject({ instances: 1, detections: 3, tp: 1, fp: 0, fn: 0, f1: 1 });
    // The same region as an ordinary instance: one detection matches nothing (IoU 25/1600), both rank above the TP.
    const ordinary = await boxes(data([person, { ...crowd, iscrowd: 0 }]), [
      ...inside,
      detection([0, 0, 10, 10], 0.7),
    ]);
    expect(ordinary.summary.AP).toBeLessThan(0.5);
  });

  it('matches a counted ground truth before an ignored one, even at a lower IoU', async () => {
    // The detection overlaps the person at IoU .62 and lies inside a crowd region (IoU 1 there). Up to .60 it
    // takes the person; above, the person is out of reach and the crowd takes it (ignored): AP 3/10.
    const dataset = data([truth([0, 0, 10, 10]), truth([0, 0, 10, 6.2], { iscrowd: 1 })]);
    const result = await boxes(dataset, [detection([0, 0, 10, 6.2], 0.9)]);
    expect(result.summary.AP).toBeCloseTo(0.3, 12);
    expect(result.summary.AR100).toBeCloseTo(0.3, 12);
  });

  it('judges area ranges by the ground truth area; unmatched detections outside the range are ignored', async () => {
    const small = truth([0, 0, 10, 10]); // 100
    const large = truth([20, 20, 100, 100]); // 10000
    const result = await boxes(data([small, large]), [
      detection([150, 0, 40, 40], 0.9), // medium (1600), matches nothing
      detection([0, 0, 10, 10], 0.8),
      detection([20, 20, 100, 100], 0.7),
    ]);
    // All areas: FP, TP, TP -> precision 0, 1/2, 2/3, envelope 2/3 at every recall point.
    expect(result.summary.AP).toBeCloseTo(2 / 3, 12);
    // Small: the large truth is ignored, the detection matching it too, the medium miss is outside: AP 1.
    expect(result.summary.APs).toBeCloseTo(1, 12);
    expect(result.summary.APl).toBeCloseTo(1, 12);
    expect(result.summary.APm).toBe(-1);
    expect(result.summary.ARs).toBe(1);
    expect(result.summary.ARm).toBe(-1);
  });

  it('uses the area field of the ground truth, not its box', async () => {
    // A 40 x 40 box whose annotation says area 500: small, as COCO judges it.
    const result = await boxes(data([truth([0, 0, 40, 40], { area: 500 })]), [
      detection([0, 0, 40, 40], 0.9),
    ]);
    expect(result.summary.APs).toBeCloseTo(1, 12);
    expect(result.summary.APm).toBe(-1);
  });

  it('counts at most 1, 10 and 100 detections per image and category', async () => {
    const three = [truth([0, 0, 10, 10]), truth([20, 0, 10, 10]), truth([40, 0, 10, 10])];
    const found = await boxes(data(three), [
      detection([0, 0, 10, 10], 0.9),
      detection([20, 0, 10, 10], 0.8),
      detection([40, 0, 10, 10], 0.7),
    ]);
    expect(found.summary.AR1).toBeCloseTo(1 / 3, 12);
    expect(found.summary.AR10).toBe(1);
    expect(found.summary.AR100).toBe(1);
    // 100 misses above the one hit: the hit is the 101st detection and is cut before matching.
    const misses = Array.from({ length: 100 }, (_, i) =>
      detection([100 + (i % 10) * 9, 100 + Math.floor(i / 10) * 9, 5, 5], 0.9),
    );
    const cut = await boxes(data([truth([0, 0, 10, 10])]), [...misses, detection([0, 0, 10, 10], 0.1)]);
    expect(cut.summary.AP).toBe(0);
    expect(cut.summary.AR100).toBe(0);
  });

  it('averages over categories with ground truth only; a category with truth and no detection counts 0', async () => {
    const categories = [
      { id: 1, name: 'cat' },
      { id: 2, name: 'dog' },
      { id: 3, name: 'bird' },
    ];
    const dogMiss = detection([100, 100, 10, 10], 0.9, { category_id: 2 });
    const found = await boxes(data([truth([0, 0, 10, 10])], { categories }), [
      detection([0, 0, 10, 10], 0.8),
      dogMiss,
    ]);
    expect(found.summary.AP).toBeCloseTo(1, 12);
    expect(found.categories.map((c) => [c.name, c.ap, c.instances, c.detections])).toEqual([
      ['cat', expect.closeTo(1, 12), 1, 1],
      ['dog', null, 0, 1],
      ['bird', null, 0, 0],
    ]);
    const withBird = await boxes(
      data([truth([0, 0, 10, 10]), truth([50, 50, 10, 10], { category_id: 3 })], { categories }),
      [detection([0, 0, 10, 10], 0.8), dogMiss],
    );
    expect(withBird.summary.AP).toBeCloseTo(0.5, 12);
    // No ground truth of any category in an area range: -1 there.
    expect(withBird.summary.APl).toBe(-1);
  });

  it('scores masks on their runs, with box areas from results that have boxes (COCO.loadRes)', async () => {
    const dataset = data([truth([0, 0, 10, 10])]);
    const hit = { segmentation: boxRle([0, 0, 10, 10]) };
    // A 5 x 5 mask whose box field says 50 x 50: its area is 2500 (medium) for COCO.loadRes.
    const miss = { segmentation: boxRle([150, 150, 5, 5]) };
    const withBoxes = [detection([150, 150, 50, 50], 0.9, miss), detection([0, 0, 10, 10], 0.8, hit)];
    const masks = (await evaluateCoco(dataset, withBoxes, { iouTypes: ['segm'] })).segm!.summary;
    // All areas: FP, TP -> .5. Small: the miss's area 2500 is outside, so it is ignored -> 1.
    expect(masks.AP).toBeCloseTo(0.5, 12);
    expect(masks.APs).toBeCloseTo(1, 12);
    // Without box fields the area is the mask's (25, small): the miss counts.
    const maskOnly = withBoxes.map(({ bbox: _, ...rest }) => rest);
    const both = await evaluateCoco(dataset, maskOnly);
    expect(both.segm!.summary.APs).toBeCloseTo(0.5, 12);
    // ... and the box comes from the mask.
    expect(both.bbox!.summary.AP50).toBeCloseTo(0.5, 12);
  });

  it('scores a result without a mask as its box in mask evaluation, and says so', async () => {
    const evaluation = await evaluateCoco(data([truth([0, 0, 10, 10])]), [detection([0, 0, 10, 10], 0.9)]);
    expect(evaluation.segm!.summary.AP).toBeCloseTo(1, 12);
    expect(evaluation.warnings).toEqual([
      '1 result(s) without a mask were scored as masks by their boxes (as pycocotools)',
    ]);
  });

  it('treats crowd RLE regions as intersection over detection area for masks', async () => {
    const crowdCounts = polygonsToRle([boxPolygon([20, 0, 40, 40])], IMAGE.width, IMAGE.height);
    const crowd = truth([20, 0, 40, 40], {
      iscrowd: 1,
      segmentation: { size: [IMAGE.height, IMAGE.width], counts: crowdCounts },
    });
    const result = await evaluateCoco(
      data([truth([0, 0, 10, 10]), crowd]),
      [
        detection([22, 2, 5, 5], 0.9, { segmentation: boxRle([22, 2, 5, 5]) }),
        detection([0, 0, 10, 10], 0.8, { segmentation: boxRle([0, 0, 10, 10]) }),
      ],
      { iouTypes: ['segm'] },
    );
    expect(result.segm!.summary.AP).toBeCloseTo(1, 12);
  });

  it('computes mask IoU on runs as on pixels', () => {
    const random = seededRandom(11);
    for (let trial = 0; trial < 30; trial++) {
      const width = 5 + Math.floor(random() * 40);
      const height = 5 + Math.floor(random() * 40);
      const blob = () => {
        const data = new Uint8Array(width * height);
        const x0 = Math.floor(random() * width);
        const y0 = Math.floor(random() * height);
        for (let y = 0; y < height; y++) {
          for (let x = 0; x < width; x++) {
            if (Math.abs(x - x0) + Math.abs(y - y0) < width / 3 && random() < 0.8) data[y * width + x] = 1;
          }
        }
        return data;
      };
      const a = blob();
      const b = blob();
      const runs = (data: Uint8Array) => maskRuns(encodeMask({ width, height, data }), height, width);
      const pixels = intersectionOverUnion(a, b);
      const empty = a.every((v) => v === 0) && b.every((v) => v === 0);
      expect(maskIou(runs(a), runs(b), false)).toBeCloseTo(empty ? 0 : pixels, 12);
      let shared = 0;
      let area = 0;
      for (let i = 0; i < a.length; i++) {
        shared += a[i] & b[i];
        area += a[i];
      }
      expect(maskIou(runs(a), runs(b), true)).toBeCloseTo(shared === 0 ? 0 : shared / area, 12);
    }
    const rle = decodeRle({ size: [2, 2], counts: [1, 3] });
    expect(rle.data).toEqual(Uint8Array.from([0, 1, 1, 1]));
  });
});

describe('COCO inputs', () => {
  const categories = [
    { id: 1, name: 'cat' },
    { id: 2, name: 'dog' },
  ];
  const dataset = data([truth([0, 0, 10, 10], { category_id: 2 })], { categories });

  it("matches categories by the result's name, else by id", async () => {
    // A model whose label ids differ (dog is 7 there) still scores, by name.
    const byName = await boxes(dataset, [
      detection([0, 0, 10, 10], 0.9, { category_id: 7, category_name: 'dog' }),
    ]);
    expect(byName.summary.AP).toBeCloseTo(1, 12);
    const byId = await boxes(dataset, [detection([0, 0, 10, 10], 0.9, { category_id: 2 })]);
    expect(byId.summary.AP).toBeCloseTo(1, 12);
  });

  it('refuses unknown categories and images, empty ground truth and malformed files with stable codes', async () => {
    const horse = detection([0, 0, 10, 10], 0.9, { category_name: 'horse' });
    expect(await codeOf(boxes(dataset, [horse]))).toBe('EVAL_CATEGORY_UNKNOWN');
    expect(await codeOf(boxes(dataset, [detection([0, 0, 10, 10], 0.9, { category_id: 9 })]))).toBe(
      'EVAL_CATEGORY_UNKNOWN',
    );
    expect(await codeOf(boxes(dataset, [detection([0, 0, 10, 10], 0.9, { image_id: 5 })]))).toBe(
      'EVAL_IMAGE_UNKNOWN',
    );
    expect(await codeOf(boxes({ ...dataset, images: [] }, []))).toBe('EVAL_DATASET_EMPTY');
    expect(await codeOf(boxes({ ...dataset, annotations: [] }, []))).toBe('EVAL_DATASET_EMPTY');
    expect(await codeOf(Promise.resolve().then(() => parseCocoResults({ not: 'a list' })))).toBe(
      'EVAL_INPUT_INVALID',
    );
    expect(
      await codeOf(
        Promise.resolve().then(() => parseCocoResults([{ image_id: 1, category_id: 1, score: 1 }])),
      ),
    ).toBe('EVAL_INPUT_INVALID');
    expect(await codeOf(Promise.resolve().then(() => parseCocoDataset({ images: [] })))).toBe(
      'EVAL_INPUT_INVALID',
    );
    const badRle = [detection([0, 0, 10, 10], 0.9, { segmentation: { size: [200, 200], counts: '!!' } })];
    expect(await codeOf(evaluateCoco(dataset, badRle, { iouTypes: ['segm'] }))).toBe('EVAL_INPUT_INVALID');
  });

  it('names the unknown category and the known ones in the message', async () => {
    const horse = detection([0, 0, 10, 10], 0.9, { category_name: 'horse' });
    await expect(boxes(dataset, [horse])).rejects.toThrow(
      'Result 0 has category "horse", which the ground truth lacks (it has "cat", "dog").',
    );
  });

  it('scores an empty results list as nothing found', async () => {
    const result = await evaluateCoco(dataset, []);
    expect(result.bbox!.summary.AP).toBe(0);
    expect(result.segm!.summary.AR100).toBe(0);
  });

  it('reports progress per image', async () => {
    const seen: Array<[number, number]> = [];
    await evaluateCoco(dataset, [], { onImage: (done, total) => seen.push([done, total]) });
    expect(seen).toEqual([[1, 1]]);
  });
});
