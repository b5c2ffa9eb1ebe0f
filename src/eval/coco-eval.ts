/**
 * COCO instance evaluation (box and mask AP/AR) as pycocotools' COCOeval computes it, so the 12 numbers it
 * prints come out the same here (checked against pycocotools' own output on coco-val2017-mini to 0.001).
 *
 * The details that change numbers, all reproduced:
 * - Results are loaded as COCO.loadRes loads them: ids 1, 2, ... in file order; when the first result has a
 *   box, every result's area is its box's w * h (also for mask evaluation) and a result without a mask is its
 *   box as a polygon; otherwise area and box come from the mask.
 * - Ground truth polygons are rasterised with pycocotools' own rasteriser (masks/polygons.ts, polygonToRle);
 *   crowd annotations are ignored regions that a detection may match without counting, many times over, with
 *   IoU = intersection / detection area; the area ranges are judged by the ground truth's `area` field.
 * - Per image and category, detections are sorted by score with a stable sort and cut to 100; ground truths
 *   sorted so that ignored ones (crowd or outside the area range) come last; each detection, best score first,
 *   takes the unmatched ground truth of best IoU >= the threshold (ties: the later one), never an ignored one
 *   once a counted one is found. Unmatched detections outside the area range are ignored.
 * - Precision at 101 recall points from the monotone envelope of the precision/recall curve over the
 *   detections of all images (stable sort by score, images in id order), per category; the summary averages
 *   over categories with ground truth (-1 where none has any).
 *
 * Categories are matched by name: a result's `category_name` when it has one, else its `category_id` among
 * the ground truth's. What pycocotools silently drops (results of unknown categories or images) is an error
 * here, since it nearly always means the results belong to another label list or dataset.
 */
import { SegserveError } from '../errors.js';
import { polygonsToRle, rleCounts } from '../masks/index.js';
import type { CocoBox, CocoDataset, CocoResult, CocoSegmentation } from './coco-input.js';
import { boxIou, type MaskRuns, maskIou, maskRuns } from './coco-iou.js';

export type IouType = 'bbox' | 'segm';

/** numpy.linspace's arithmetic (start + i * step, the last value set to stop): the same doubles as COCOeval. */
function linspace(start: number, stop: number, num: number): number[] {
  const step = (stop - start) / (num - 1);
  const values = Array.from({ length: num }, (_, i) => i * step + start);
  values[num - 1] = stop;
  return values;
}

/** COCOeval.Params for bbox and segm. */
export const IOU_THRESHOLDS: readonly number[] = linspace(0.5, 0.95, 10);
export const RECALL_THRESHOLDS: readonly number[] = linspace(0, 1, 101);
export const MAX_DETECTIONS = [1, 10, 100] as const;
export const AREA_RANGES = [
  { name: 'all', min: 0, max: 1e5 ** 2 },
  { name: 'small', min: 0, max: 32 ** 2 },
  { name: 'medium', min: 32 ** 2, max: 96 ** 2 },
  { name: 'large', min: 96 ** 2, max: 1e5 ** 2 },
] as const;

/** np.spacing(1), which COCOeval adds to the precision's denominator. */
const EPS = 2.220446049250313e-16;

/** The 12 numbers COCOeval.summarize prints, in its order; -1 where no category has ground truth for it. */
export interface CocoSummary {
  AP: number;
  AP50: number;
  AP75: number;
  APs: number;
  APm: number;
  APl: number;
  AR1: number;
  AR10: number;
  AR100: number;
  ARs: number;
  ARm: number;
  ARl: number;
}

export const COCO_SUMMARY_KEYS: ReadonlyArray<keyof CocoSummary> = [
  'AP',
  'AP50',
  'AP75',
  'APs',
  'APm',
  'APl',
  'AR1',
  'AR10',
  'AR100',
  'ARs',
  'ARm',
  'ARl',
];

export interface CocoCategoryRow {
  category_id: number;
  name: string;
  /** Ground truth instances that count (not crowd). */
  instances: number;
  crowd: number;
  detections: number;
  /** AP .50:.95, all areas, 100 detections; null without ground truth. */
  ap: number | null;
  ap50: number | null;
  ar100: number | null;
}

/**
 * One image at IoU .5 (all areas, up to 100 detections per category, any score), from the same matching as
 * the AP: true positives, false positives (detections matching nothing, crowd matches not counted) and
 * misses, with F1 = 2 tp / (2 tp + fp + fn); an image with no instance and no detection has F1 1.
 */
export interface CocoImageRow {
  image_id: number;
  file_name: string | null;
  instances: number;
  detections: number;
  tp: number;
  fp: number;
  fn: number;
  f1: number;
}

export interface CocoIouTypeResult {
  iou_type: IouType;
  summary: CocoSummary;
  categories: CocoCategoryRow[];
  /** In image id order; a report sorts them. */
  images: CocoImageRow[];
}

export interface CocoEvaluation {
  bbox: CocoIouTypeResult | null;
  segm: CocoIouTypeResult | null;
  images: number;
  categories: number;
  /** Ground truth instances (crowd ones too) and results evaluated. */
  instances: number;
  detections: number;
  /** Things the numbers depend on that a reader should know (skipped annotations, unusable masks). */
  warnings: string[];
}

export interface CocoEvalOptions {
  /** Default both. */
  iouTypes?: readonly IouType[];
  /** Called after each image is matched (all of its categories and IoU types). */
  onImage?: (done: number, total: number) => void;
  signal?: AbortSignal;
}

interface Instance {
  /** Ground truth: the annotation's id; result: its position in the file + 1 (COCO.loadRes). */
  id: number;
  image: number;
  category: number;
  crowd: boolean;
  area: number;
  box: CocoBox;
  score: number;
  segmentation: CocoSegmentation | undefined;
  /** For messages: where in which input the instance is. */
  where: string;
  source: 'ground truth' | 'results';
  /** The mask, once needed (undefined: not made yet). */
  runs?: MaskRuns;
}

interface PreparedImage {
  id: number;
  fileName: string | null;
  width: number;
  height: number;
  /** Per category index: ground truths in file order, results in file order. */
  truths: Map<number, Instance[]>;
  results: Map<number, Instance[]>;
}

interface Prepared {
  images: PreparedImage[];
  categories: Array<{ id: number; name: string }>;
  instances: number;
  detections: number;
  warnings: string[];
}

function inputInvalid(source: string, reason: string): never {
  throw new SegserveError('EVAL_INPUT_INVALID', { source, reason });
}

/**
 * A segmentation's runs as pycocotools' annToRLE makes them: polygons at the image's size (a list whose first
 * entry has 4 numbers is read as boxes, as frPyObjects reads it), RLE at its own size.
 */
function runsOf(
  segmentation: CocoSegmentation,
  width: number,
  height: number,
  where: string,
  source: string,
) {
  try {
    if (Array.isArray(segmentation)) {
      const polygons =
        segmentation.length > 0 && segmentation[0].length === 4
          ? segmentation.map(([x, y, w, h]) => [x, y, x, y + h, x + w, y + h, x + w, y])
          : segmentation;
      return maskRuns(polygonsToRle(polygons, width, height), height, width);
    }
    const [h, w] = segmentation.size;
    return maskRuns(rleCounts(segmentation), h, w);
  } catch (error) {
    if (error instanceof SegserveError && error.code === 'INVALID_ARGUMENT') {
      inputInvalid(source, `${where}.segmentation: ${error.message}`);
    }
    throw error;
  }
}

function boxPolygon([x, y, w, h]: CocoBox): number[] {
  return [x, y, x, y + h, x + w, y + h, x + w, y];
}

function push<T>(map: Map<number, T[]>, key: number, value: T): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}

function knownCategories(categories: Array<{ name: string }>): string {
  const names = categories.slice(0, 8).map((c) => JSON.stringify(c.name));
  return categories.length > 8 ? `${names.join(', ')}, ... (${categories.length} in all)` : names.join(', ');
}

function prepare(dataset: CocoDataset, results: CocoResult[], iouTypes: readonly IouType[]): Prepared {
  const warnings: string[] = [];
  if (dataset.images.length === 0) {
    throw new SegserveError('EVAL_DATASET_EMPTY', { reason: 'the ground truth has no images' });
  }
  // COCOeval evaluates images and categories in id order (np.unique).
  const images: PreparedImage[] = [...dataset.images]
    .sort((a, b) => a.id - b.id)
    .map((image) => ({
      id: image.id,
      fileName: image.file_name ?? null,
      width: image.width,
      height: image.height,
      truths: new Map(),
      results: new Map(),
    }));
  const imageIndex = new Map(images.map((image, i) => [image.id, i]));
  const categories = [...dataset.categories]
    .sort((a, b) => a.id - b.id)
    .map(({ id, name }) => ({ id, name }));
  const categoryIndex = new Map(categories.map((category, i) => [category.id, i]));
  const byName = new Map<string, number>();
  const duplicated = new Set<string>();
  categories.forEach((category, i) => {
    if (byName.has(category.name)) duplicated.add(category.name);
    byName.set(category.name, i);
  });
  const segm = iouTypes.includes('segm');

  let outside = 0;
  let unknownCategory = 0;
  let derivedArea = 0;
  let instances = 0;
  dataset.annotations.forEach((annotation, i) => {
    const image = imageIndex.get(annotation.image_id);
    const category = categoryIndex.get(annotation.category_id);
    // COCOeval only asks for annotations of the evaluated images and categories.
    if (image === undefined) {
      outside++;
      return;
    }
    if (category === undefined) {
      unknownCategory++;
      return;
    }
    const where = `annotations[${i}]`;
    const { width, height } = images[image];
    const truth: Instance = {
      id: annotation.id,
      image,
      category,
      crowd: annotation.iscrowd === 1,
      area: annotation.area ?? Number.NaN,
      box: annotation.bbox ?? [0, 0, 0, 0],
      score: 0,
      segmentation: annotation.segmentation,
      where,
      source: 'ground truth',
    };
    if (segm && annotation.segmentation === undefined) {
      inputInvalid('ground truth', `${where} has no segmentation, which mask (segm) evaluation needs`);
    }
    if (annotation.bbox === undefined || annotation.area === undefined) {
      if (annotation.segmentation === undefined) {
        inputInvalid('ground truth', `${where} has neither bbox nor segmentation`);
      }
      truth.runs = runsOf(annotation.segmentation, width, height, where, 'ground truth');
      if (annotation.bbox === undefined) truth.box = truth.runs.box;
      if (annotation.area === undefined) truth.area = truth.runs.area;
      derivedArea++;
    }
    push(images[image].truths, category, truth);
    instances++;
  });
  if (instances === 0) {
    throw new SegserveError('EVAL_DATASET_EMPTY', {
      reason: 'the ground truth has no annotations of its images and categories',
    });
  }
  if (outside > 0)
    warnings.push(`${outside} ground truth annotation(s) of images not in the file were left out`);
  if (unknownCategory > 0) {
    warnings.push(
      `${unknownCategory} ground truth annotation(s) of categories not in the file were left out`,
    );
  }
  if (derivedArea > 0) {
    warnings.push(`${derivedArea} ground truth annotation(s) without bbox or area got them from their mask`);
  }

  // COCO.loadRes decides from the first result: with a box, areas are box areas; without, mask areas.
  const first = results[0];
  const boxMode = first !== undefined && first.bbox !== undefined && first.bbox.length > 0;
  let boxesAsMasks = 0;
  let sizeMismatch = 0;
  results.forEach((result, i) => {
    const image = imageIndex.get(result.image_id);
    if (image === undefined) {
      throw new SegserveError('EVAL_IMAGE_UNKNOWN', { index: i, image_id: result.image_id });
    }
    let category: number | undefined;
    if (result.category_name !== undefined) {
      if (duplicated.has(result.category_name)) {
        inputInvalid('ground truth', `category name ${JSON.stringify(result.category_name)} is used twice`);
      }
      category = byName.get(result.category_name);
    } else if (result.category_id !== undefined) {
      category = categoryIndex.get(result.category_id);
    }
    if (category === undefined) {
      throw new SegserveError('EVAL_CATEGORY_UNKNOWN', {
        index: i,
        category:
          result.category_name !== undefined
            ? JSON.stringify(result.category_name)
            : `id ${result.category_id}`,
        known: knownCategories(categories),
      });
    }
    const { width, height } = images[image];
    const where = `[${i}]`;
    const hasBox = result.bbox !== undefined && result.bbox.length > 0;
    const detection: Instance = {
      id: i + 1,
      image,
      category,
      crowd: false,
      area: 0,
      box: hasBox ? result.bbox! : [0, 0, 0, 0],
      score: result.score,
      segmentation: result.segmentation,
      where,
      source: 'results',
    };
    // Decoded now when masks are scored (a malformed one fails before any work), else only when needed.
    if (result.segmentation !== undefined && (segm || !boxMode || !hasBox)) {
      detection.runs = runsOf(result.segmentation, width, height, where, 'results');
    }
    if (boxMode) {
      // A box-mode file whose result lacks a box (pycocotools fails on it): the mask's box.
      if (!hasBox) detection.box = detection.runs!.box;
      detection.area = detection.box[2] * detection.box[3];
    } else {
      if (detection.runs === undefined) {
        detection.runs = runsOf(result.segmentation!, width, height, where, 'results');
      }
      detection.area = detection.runs.area;
      if (!hasBox) detection.box = detection.runs.box;
    }
    if (segm && result.segmentation === undefined) boxesAsMasks++;
    if (
      segm &&
      result.segmentation !== undefined &&
      !Array.isArray(result.segmentation) &&
      (result.segmentation.size[0] !== height || result.segmentation.size[1] !== width)
    ) {
      sizeMismatch++;
    }
    push(images[image].results, category, detection);
  });
  if (boxesAsMasks > 0) {
    warnings.push(
      `${boxesAsMasks} result(s) without a mask were scored as masks by their boxes (as pycocotools)`,
    );
  }
  if (sizeMismatch > 0) {
    warnings.push(`${sizeMismatch} result mask(s) are not of their image's size and match nothing`);
  }
  return { images, categories, instances, detections: results.length, warnings };
}

/** COCOeval.evaluateImg's output for one image, category and area range. */
interface ImageMatch {
  image: number;
  /** Detections kept (at most 100), by score. */
  count: number;
  scores: Float64Array;
  /**
   * [threshold * count + detection]: the matched ground truth's id, 0 when unmatched: COCOeval's dtMatches, kept
   * as ids so that its quirk holds too (a ground truth with id 0 never counts as matched).
   */
  matched: Float64Array;
  ignored: Uint8Array;
  /** Ground truths that count (not ignored). */
  counted: number;
}

const byScore = (a: Instance, b: Instance) => b.score - a.score;

function maskOf(instance: Instance, image: PreparedImage): MaskRuns {
  if (instance.runs === undefined) {
    // Ground truths are rasterised when first compared; a result of a box-mode file without a mask is its box
    // as a polygon (COCO.loadRes).
    const segmentation = instance.segmentation ?? [boxPolygon(instance.box)];
    instance.runs = runsOf(segmentation, image.width, image.height, instance.where, instance.source);
  }
  return instance.runs;
}

/** COCOeval.computeIoU: [detection * truths + truth], detections sorted and cut. */
function computeIous(
  detections: Instance[],
  truths: Instance[],
  iouType: IouType,
  image: PreparedImage,
): Float64Array {
  const ious = new Float64Array(detections.length * truths.length);
  for (let d = 0; d < detections.length; d++) {
    for (let g = 0; g < truths.length; g++) {
      const truth = truths[g];
      ious[d * truths.length + g] =
        iouType === 'bbox'
          ? boxIou(detections[d].box, truth.box, truth.crowd)
          : maskIou(maskOf(detections[d], image), maskOf(truth, image), truth.crowd);
    }
  }
  return ious;
}

/** COCOeval.evaluateImg for one area range, with maxDet 100. */
function matchImage(
  image: number,
  detections: Instance[],
  truths: Instance[],
  ious: Float64Array,
  range: { min: number; max: number },
): ImageMatch {
  const G = truths.length;
  const D = detections.length;
  const outside = (area: number) => area < range.min || area > range.max;
  const truthIgnored = truths.map((g) => g.crowd || outside(g.area));
  // Counted ground truths first, the ignored ones after them, each group in file order (a stable sort).
  const order = [...truths.keys()].sort((a, b) => Number(truthIgnored[a]) - Number(truthIgnored[b]));
  const T = IOU_THRESHOLDS.length;
  const matched = new Float64Array(T * D);
  const ignored = new Uint8Array(T * D);
  const taken = new Uint8Array(G);
  for (let t = 0; t < T; t++) {
    taken.fill(0);
    for (let d = 0; d < D; d++) {
      let best = Math.min(IOU_THRESHOLDS[t], 1 - 1e-10);
      let m = -1;
      for (let k = 0; k < G; k++) {
        const g = order[k];
        if (taken[k] !== 0 && !truths[g].crowd) continue;
        // Once matched to a counted ground truth, the ignored ones (all after it) cannot take the detection.
        if (m > -1 && !truthIgnored[order[m]] && truthIgnored[g]) break;
        const iou = ious[d * G + g];
        if (iou < best) continue;
        best = iou;
        m = k;
      }
      if (m === -1) continue;
      ignored[t * D + d] = truthIgnored[order[m]] ? 1 : 0;
      matched[t * D + d] = truths[order[m]].id;
      taken[m] = 1;
    }
  }
  for (let d = 0; d < D; d++) {
    if (!outside(detections[d].area)) continue;
    for (let t = 0; t < T; t++) if (matched[t * D + d] === 0) ignored[t * D + d] = 1;
  }
  let counted = 0;
  for (const ignore of truthIgnored) if (!ignore) counted++;
  return {
    image,
    count: D,
    scores: Float64Array.from(detections, (d) => d.score),
    matched,
    ignored,
    counted,
  };
}

interface Accumulated {
  /**
   * [k][a][m][t][r] (COCOeval's [t][r][k][a][m] reordered so that each curve is written and read in one run),
   * -1 where undefined.
   */
  precision: Float64Array;
  /** [k][a][m][t]. */
  recall: Float64Array;
}

/** COCOeval.accumulate. `matches[k][a]` lists the image matches of category k and area range a, images in order. */
function accumulate(matches: ImageMatch[][][], K: number): Accumulated {
  const T = IOU_THRESHOLDS.length;
  const R = RECALL_THRESHOLDS.length;
  const A = AREA_RANGES.length;
  const M = MAX_DETECTIONS.length;
  const precision = new Float64Array(T * R * K * A * M).fill(-1);
  const recall = new Float64Array(T * K * A * M).fill(-1);
  for (let k = 0; k < K; k++) {
    // Every area range has the same images and detections (only what is matched or ignored differs), so the
    // ranking is made once per category. Best score first; ties keep image order, then the order within the
    // image (numpy's mergesort). The ranking of the first 1 or 10 per image is this one filtered: a stable
    // sort keeps the relative order of any subset.
    const images = matches[k][0];
    if (images.length === 0) continue;
    let total = 0;
    for (const e of images) total += e.count;
    const from = new Int32Array(total);
    const at = new Int32Array(total);
    const scores = new Float64Array(total);
    let i = 0;
    images.forEach((e, index) => {
      for (let d = 0; d < e.count; d++, i++) {
        scores[i] = e.scores[d];
        from[i] = index;
        at[i] = d;
      }
    });
    const ranked = [...scores.keys()].sort((p, q) => scores[q] - scores[p]);
    const rankings = MAX_DETECTIONS.map((maxDet) => Int32Array.from(ranked.filter((j) => at[j] < maxDet)));
    const rc = new Float64Array(total);
    const pr = new Float64Array(total);
    for (let a = 0; a < A; a++) {
      const list = matches[k][a];
      let npig = 0;
      for (const e of list) npig += e.counted;
      if (npig === 0) continue;
      for (let m = 0; m < M; m++) {
        const order = rankings[m];
        const n = order.length;
        const base = ((k * A + a) * M + m) * T;
        for (let t = 0; t < T; t++) {
          let tp = 0;
          let fp = 0;
          for (let j = 0; j < n; j++) {
            const e = list[from[order[j]]];
            const slot = t * e.count + at[order[j]];
            if (e.ignored[slot] === 0) {
              if (e.matched[slot] !== 0) tp++;
              else fp++;
            }
            rc[j] = tp / npig;
            pr[j] = tp / (fp + tp + EPS);
          }
          recall[base + t] = n > 0 ? rc[n - 1] : 0;
          // The envelope: precision at a recall is the best precision at that recall or beyond.
          for (let j = n - 1; j > 0; j--) if (pr[j] > pr[j - 1]) pr[j - 1] = pr[j];
          // searchsorted(rc, recThrs, 'left'); recall points past the last detection keep precision 0.
          let j = 0;
          for (let r = 0; r < R; r++) {
            while (j < n && rc[j] < RECALL_THRESHOLDS[r]) j++;
            precision[(base + t) * R + r] = j < n ? pr[j] : 0;
          }
        }
      }
    }
  }
  return { precision, recall };
}

/** COCOeval.summarize's _summarize: the mean of the defined entries, -1 when there are none. */
function summarise(
  acc: Accumulated,
  K: number,
  kind: 'ap' | 'ar',
  area: number,
  maxDetIndex: number,
  threshold?: number,
  category?: number,
): number {
  const T = IOU_THRESHOLDS.length;
  const R = RECALL_THRESHOLDS.length;
  const A = AREA_RANGES.length;
  const M = MAX_DETECTIONS.length;
  // np.where(iouThr == p.iouThrs): an exact comparison, as in COCOeval.
  const ts = threshold === undefined ? [...IOU_THRESHOLDS.keys()] : [IOU_THRESHOLDS.indexOf(threshold)];
  const ks = category === undefined ? [...Array(K).keys()] : [category];
  let sum = 0;
  let count = 0;
  for (const t of ts) {
    if (t < 0) continue;
    for (const k of ks) {
      if (kind === 'ar') {
        const v = acc.recall[((k * A + area) * M + maxDetIndex) * T + t];
        if (v > -1) {
          sum += v;
          count++;
        }
        continue;
      }
      for (let r = 0; r < R; r++) {
        const v = acc.precision[(((k * A + area) * M + maxDetIndex) * T + t) * R + r];
        if (v > -1) {
          sum += v;
          count++;
        }
      }
    }
  }
  return count === 0 ? -1 : sum / count;
}

function summary(acc: Accumulated, K: number): CocoSummary {
  const last = MAX_DETECTIONS.length - 1;
  return {
    AP: summarise(acc, K, 'ap', 0, last),
    AP50: summarise(acc, K, 'ap', 0, last, 0.5),
    AP75: summarise(acc, K, 'ap', 0, last, 0.75),
    APs: summarise(acc, K, 'ap', 1, last),
    APm: summarise(acc, K, 'ap', 2, last),
    APl: summarise(acc, K, 'ap', 3, last),
    AR1: summarise(acc, K, 'ar', 0, 0),
    AR10: summarise(acc, K, 'ar', 0, 1),
    AR100: summarise(acc, K, 'ar', 0, last),
    ARs: summarise(acc, K, 'ar', 1, last),
    ARm: summarise(acc, K, 'ar', 2, last),
    ARl: summarise(acc, K, 'ar', 3, last),
  };
}

const orNull = (v: number) => (v < 0 ? null : v);

const yieldToEventLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * Scores COCO results against a COCO ground truth, for boxes and/or masks. Asynchronous only to give the event
 * loop a turn every few milliseconds (an HTTP server running it keeps answering); the work is all in memory.
 * Throws EVAL_DATASET_EMPTY, EVAL_IMAGE_UNKNOWN, EVAL_CATEGORY_UNKNOWN or EVAL_INPUT_INVALID.
 */
export async function evaluateCoco(
  dataset: CocoDataset,
  results: CocoResult[],
  options: CocoEvalOptions = {},
): Promise<CocoEvaluation> {
  const iouTypes: IouType[] = [...new Set(options.iouTypes ?? (['bbox', 'segm'] as const))];
  if (iouTypes.length === 0) {
    throw new SegserveError('INVALID_ARGUMENT', { reason: 'no IoU type to evaluate (bbox, segm)' });
  }
  const prepared = prepare(dataset, results, iouTypes);
  const K = prepared.categories.length;
  const A = AREA_RANGES.length;
  const perType = new Map<IouType, ImageMatch[][][]>(
    iouTypes.map((type) => [type, Array.from({ length: K }, () => Array.from({ length: A }, () => []))]),
  );
  const maxDet = MAX_DETECTIONS[MAX_DETECTIONS.length - 1];
  let lastYield = Date.now();
  for (let i = 0; i < prepared.images.length; i++) {
    options.signal?.throwIfAborted();
    const image = prepared.images[i];
    const categories = new Set([...image.truths.keys(), ...image.results.keys()]);
    for (const k of [...categories].sort((a, b) => a - b)) {
      const truths = image.truths.get(k) ?? [];
      const detections = [...(image.results.get(k) ?? [])].sort(byScore).slice(0, maxDet);
      for (const type of iouTypes) {
        const ious = computeIous(detections, truths, type, image);
        const lists = perType.get(type)![k];
        for (let a = 0; a < A; a++) lists[a].push(matchImage(i, detections, truths, ious, AREA_RANGES[a]));
      }
    }
    options.onImage?.(i + 1, prepared.images.length);
    if (Date.now() - lastYield > 20) {
      await yieldToEventLoop();
      lastYield = Date.now();
    }
  }

  const typeResult = (type: IouType): CocoIouTypeResult | null => {
    const matches = perType.get(type);
    if (!matches) return null;
    const acc = accumulate(matches, K);
    return {
      iou_type: type,
      summary: summary(acc, K),
      categories: categoryRows(prepared, acc),
      images: imageRows(prepared, matches),
    };
  };
  return {
    bbox: typeResult('bbox'),
    segm: typeResult('segm'),
    images: prepared.images.length,
    categories: K,
    instances: prepared.instances,
    detections: prepared.detections,
    warnings: prepared.warnings,
  };
}

function categoryRows(prepared: Prepared, acc: Accumulated): CocoCategoryRow[] {
  const K = prepared.categories.length;
  const last = MAX_DETECTIONS.length - 1;
  return prepared.categories.map((category, k) => {
    let instances = 0;
    let crowd = 0;
    let detections = 0;
    for (const image of prepared.images) {
      for (const truth of image.truths.get(k) ?? []) {
        if (truth.crowd) crowd++;
        else instances++;
      }
      detections += image.results.get(k)?.length ?? 0;
    }
    return {
      category_id: category.id,
      name: category.name,
      instances,
      crowd,
      detections,
      ap: orNull(summarise(acc, K, 'ap', 0, last, undefined, k)),
      ap50: orNull(summarise(acc, K, 'ap', 0, last, 0.5, k)),
      ar100: orNull(summarise(acc, K, 'ar', 0, last, undefined, k)),
    };
  });
}

function imageRows(prepared: Prepared, matches: ImageMatch[][][]): CocoImageRow[] {
  const rows: CocoImageRow[] = prepared.images.map((image) => {
    let detections = 0;
    for (const list of image.results.values()) detections += list.length;
    return {
      image_id: image.id,
      file_name: image.fileName,
      instances: 0,
      detections,
      tp: 0,
      fp: 0,
      fn: 0,
      f1: 1,
    };
  });
  // Area range "all", threshold .5: the first slot of each detection.
  for (const perArea of matches) {
    for (const e of perArea[0]) {
      const row = rows[e.image];
      row.instances += e.counted;
      for (let d = 0; d < e.count; d++) {
        if (e.ignored[d] !== 0) continue;
        if (e.matched[d] !== 0) row.tp++;
        else row.fp++;
      }
    }
  }
  for (const row of rows) {
    row.fn = row.instances - row.tp;
    const errors = row.fp + row.fn;
    row.f1 = row.tp + errors === 0 ? 1 : (2 * row.tp) / (2 * row.tp + errors);
  }
  return rows;
}
