/**
 * Turns a Segmentation into what callers receive: the JSON answer (RLE or polygon masks, never dense arrays),
 * COCO results entries, the mask PNG and the overlay image. One place, so the CLI and HTTP answers agree.
 */

import { SegserveError } from '../errors.js';
import { maskBbox } from '../masks/crop.js';
import type { OverlayInput } from '../masks/overlay.js';
import { renderOverlay } from '../masks/overlay.js';
import { classPalette, colorForIndex } from '../masks/palette.js';
import { encodeBinaryMaskPng, encodeClassMapPng } from '../masks/png.js';
import { maskToPolygons } from '../masks/polygons.js';
import { countsToString, encodeCroppedMask, encodeMask } from '../masks/rle.js';
import type { BinaryMask, CompressedRle } from '../masks/types.js';
import type { Task } from '../models/config.js';
import type { Box, ClassificationResult, InstanceResult, SemanticResult } from '../tasks/types.js';
import { type CategoryIdOf, type CategoryMapping, indexPlusOne } from './category-ids.js';
import type { Segmentation } from './pipeline.js';
import {
  type ClassificationJson,
  type ClassJson,
  type CocoResult,
  DEFAULT_VARIANT,
  type InstanceJson,
  type MaskAnswerJson,
  type SegmentationJson,
  type StageTimings,
} from './types.js';

/** `png`: one mask PNG for the whole image (see toMaskPng), base64 in `mask_png`, instead of masks per entry. */
export const MASK_FORMATS = ['rle', 'polygon', 'png', 'none'] as const;
export type MaskFormat = (typeof MASK_FORMATS)[number];

/**
 * The largest Douglas-Peucker tolerance a request may ask for, in pixels. Beyond a few pixels outlines lose
 * their shape; the cap keeps a typo (1000 for 1.0) from collapsing every polygon to a triangle.
 */
export const MAX_POLYGON_TOLERANCE = 100;

export interface SegmentationJsonOptions {
  /** Default `rle`. */
  maskFormat?: MaskFormat;
  /**
   * With `polygon`: Douglas-Peucker tolerance in pixels for each ring, 0..MAX_POLYGON_TOLERANCE. Default 0,
   * the exact pixel outline (which rasterises back to the very same mask).
   */
  polygonTolerance?: number;
}

interface EncodeOptions {
  maskFormat: MaskFormat;
  polygonTolerance: number;
}

function encodeOptions(options: MaskFormat | SegmentationJsonOptions | undefined): EncodeOptions {
  const { maskFormat = 'rle', polygonTolerance = 0 } =
    typeof options === 'string' ? { maskFormat: options } : (options ?? {});
  if (
    !(Number.isFinite(polygonTolerance) && polygonTolerance >= 0 && polygonTolerance <= MAX_POLYGON_TOLERANCE)
  ) {
    throw new SegserveError('INVALID_ARGUMENT', {
      reason: `polygon_tolerance must be a number of pixels from 0 to ${MAX_POLYGON_TOLERANCE}, not ${polygonTolerance}`,
    });
  }
  return { maskFormat, polygonTolerance };
}

/** Answers made of masks, which a classification model cannot give. */
export type MaskAnswer = 'mask PNG' | 'overlay' | 'COCO results' | 'mask_format=png';

/**
 * Refuses an answer made of masks for a model whose task has none (a classifier): ANSWER_FORMAT_UNSUPPORTED.
 * Adapters call it before running the model where they know the format early; encoding calls it again.
 */
export function checkMaskAnswer(model: string, task: Task, format: MaskAnswer): void {
  if (task !== 'classification') return;
  throw new SegserveError('ANSWER_FORMAT_UNSUPPORTED', {
    model,
    task,
    format,
    reason: 'a classifier answers labels and scores, not masks; ask for the JSON answer',
  });
}

const round = (value: number, digits: number): number => {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
};

function roundBox(box: Box): Box {
  return [round(box[0], 2), round(box[1], 2), round(box[2], 2), round(box[3], 2)];
}

function rle(counts: number[], height: number, width: number): CompressedRle {
  return { size: [height, width], counts: countsToString(counts) };
}

function instancesJson(
  result: InstanceResult,
  { maskFormat, polygonTolerance }: EncodeOptions,
): InstanceJson[] {
  return result.instances.map((inst) => {
    const json: InstanceJson = {
      label: inst.label,
      class_id: inst.classId,
      score: round(inst.score, 4),
      box: roundBox(inst.box),
      area: inst.area,
      margin: round(inst.margin, 4),
    };
    if (maskFormat === 'rle') json.mask = rle(encodeCroppedMask(inst.mask), result.height, result.width);
    if (maskFormat === 'polygon') json.polygons = maskToPolygons(inst.mask, { tolerance: polygonTolerance });
    return json;
  });
}

/** The 0/1 mask of one class of a class map. */
export function classMask(result: SemanticResult, classId: number): BinaryMask {
  const data = new Uint8Array(result.classMap.length);
  const map = result.classMap;
  for (let i = 0; i < map.length; i++) data[i] = map[i] === classId ? 1 : 0;
  return { width: result.width, height: result.height, data };
}

/** Background (class 0 of binary and multilabel maps) is left out of per-class masks: it is the complement. */
function hasBackground(result: SemanticResult): boolean {
  return result.task === 'binary' || result.labels[0] === 'background';
}

function classesJson(result: SemanticResult, { maskFormat, polygonTolerance }: EncodeOptions): ClassJson[] {
  const skipBackground = hasBackground(result);
  return result.areas
    .filter((a) => !(skipBackground && a.classId === 0))
    .map((a) => {
      const json: ClassJson = { class_id: a.classId, label: a.label, area: a.area };
      if (maskFormat === 'rle' || maskFormat === 'polygon') {
        const mask = classMask(result, a.classId);
        if (maskFormat === 'rle') json.mask = rle(encodeMask(mask), result.height, result.width);
        else json.polygons = maskToPolygons(mask, { tolerance: polygonTolerance });
      }
      return json;
    });
}

function roundTimings(t: StageTimings): StageTimings {
  return {
    decode: round(t.decode, 2),
    ...(t.gate === undefined ? {} : { gate: round(t.gate, 2) }),
    preprocess: round(t.preprocess, 2),
    queue: round(t.queue, 2),
    infer: round(t.infer, 2),
    postprocess: round(t.postprocess, 2),
    encode: round(t.encode, 2),
    total: round(t.total, 2),
  };
}

/**
 * The JSON answer; `timings.encode` measures this function itself. The second argument is the options, or (the
 * older form) the mask format alone. A tolerance out of range is INVALID_ARGUMENT.
 */
export function toSegmentationJson(seg: Segmentation, options?: SegmentationJsonOptions): SegmentationJson;
export function toSegmentationJson(seg: Segmentation, maskFormat?: MaskFormat): SegmentationJson;
export function toSegmentationJson(
  seg: Segmentation,
  options?: MaskFormat | SegmentationJsonOptions,
): SegmentationJson {
  const started = performance.now();
  const encoding = encodeOptions(options);
  const { maskFormat } = encoding;
  const { result } = seg;
  const image = { width: result.width, height: result.height, format: seg.image.format };
  const variant = seg.variant ?? DEFAULT_VARIANT;
  const gate = seg.gate && {
    model: seg.gate.model,
    version: seg.gate.version,
    label: seg.gate.label,
    score: round(seg.gate.score, 4),
  };
  let body: SegmentationJson;
  if (result.task === 'classification') {
    // rle, polygon and none are about masks a classifier does not have; only a mask PNG is a different answer.
    if (maskFormat === 'png') checkMaskAnswer(seg.model, result.task, 'mask_format=png');
    body = classificationJson(seg, result, image, variant);
  } else {
    const masks: MaskAnswerJson = {
      model: seg.model,
      version: seg.version,
      variant,
      task: result.task,
      image,
      uncertainty: result.uncertainty,
      timings: seg.timings,
    };
    if (result.task === 'instance') masks.instances = instancesJson(result, encoding);
    else {
      masks.labels = result.labels;
      masks.classes = classesJson(result, encoding);
    }
    if (maskFormat === 'png') masks.mask_png = toMaskPng(seg).toString('base64');
    body = masks;
  }
  if (gate) body.gate = gate;
  seg.timings.encode += performance.now() - started;
  body.timings = roundTimings(seg.timings);
  return body;
}

function classificationJson(
  seg: Segmentation,
  result: ClassificationResult,
  image: ClassificationJson['image'],
  variant: string,
): ClassificationJson {
  const { entropy, topScore, margin } = result.uncertainty;
  return {
    model: seg.model,
    version: seg.version,
    variant,
    task: 'classification',
    image,
    classes: result.top.map((c) => ({ label: c.label, class_id: c.classId, score: round(c.score, 4) })),
    uncertainty: {
      kind: 'class-scores',
      entropy: round(entropy, 4),
      topScore: round(topScore, 4),
      margin: round(margin, 4),
    },
    timings: seg.timings,
  };
}

/**
 * COCO results for one image. `categoryId` gives each label's `category_id`: a CategoryMapping from
 * categoryMapping() (COCO's official ids for COCO-labelled models, or a dataset's categories) or a bare function;
 * without one, ids are class index + 1 (the segmentation alone does not carry the model's whole label list).
 * Semantic classes become one entry each with score 1.
 */
export function toCocoResults(
  seg: Segmentation,
  imageId: number,
  fileName: string,
  categoryId: CategoryIdOf | CategoryMapping = indexPlusOne,
): CocoResult[] {
  const { result } = seg;
  if (result.task === 'classification') {
    checkMaskAnswer(seg.model, result.task, 'COCO results');
    return [];
  }
  const idOf = typeof categoryId === 'function' ? categoryId : categoryId.categoryId;
  if (result.task === 'instance') {
    return result.instances.map((inst) => ({
      image_id: imageId,
      file_name: fileName,
      category_id: idOf(inst.label, inst.classId),
      category_name: inst.label,
      segmentation: rle(encodeCroppedMask(inst.mask), result.height, result.width),
      bbox: roundBox(inst.box),
      area: inst.area,
      score: round(inst.score, 5),
    }));
  }
  const skipBackground = hasBackground(result);
  return result.areas
    .filter((a) => !(skipBackground && a.classId === 0))
    .map((a) => {
      const mask = classMask(result, a.classId);
      const counts = encodeMask(mask);
      return {
        image_id: imageId,
        file_name: fileName,
        category_id: idOf(a.label, a.classId),
        category_name: a.label,
        segmentation: rle(counts, result.height, result.width),
        bbox: maskBbox(mask),
        area: a.area,
        score: 1,
      };
    });
}

/**
 * The mask PNG, in the conventions of the datasets people already use: binary models give a grey 0/255 PNG;
 * semantic models a palette PNG whose pixel values are class ids (like VOC SegmentationClass); instance models
 * a palette PNG whose values are instance numbers 1..N in answer order, 0 background (like VOC SegmentationObject).
 */
export function toMaskPng(seg: Segmentation): Buffer {
  const { result } = seg;
  if (result.task === 'classification') {
    checkMaskAnswer(seg.model, result.task, 'mask PNG');
    return Buffer.alloc(0);
  }
  const { width, height } = result;
  if (result.task !== 'instance') {
    return result.task === 'binary'
      ? encodeBinaryMaskPng({ width, height, data: result.classMap }, 'grey')
      : encodeClassMapPng(
          result.classMap,
          width,
          height,
          classPalette(result.labels.length, { background: [0, 0, 0] }),
        );
  }
  const { instances } = result;
  const ids = new Uint8Array(width * height);
  // Paint lowest score first so the most confident instance wins where masks overlap.
  const order = instances.map((_, i) => i).sort((a, b) => instances[a].score - instances[b].score);
  for (const i of order) {
    const m = instances[i].mask;
    const value = Math.min(i + 1, 255);
    for (let y = 0; y < m.cropHeight; y++) {
      const src = y * m.cropWidth;
      const dst = (m.top + y) * width + m.left;
      for (let x = 0; x < m.cropWidth; x++) if (m.data[src + x]) ids[dst + x] = value;
    }
  }
  return encodeClassMapPng(ids, width, height, [
    [0, 0, 0],
    ...Array.from({ length: 255 }, (_, i) => colorForIndex(i)),
  ]);
}

export interface OverlayRequest {
  alpha?: number;
  format?: 'png' | 'jpeg';
}

/** The overlay image: needs the segmentation to have been made with `keepImage`. */
export async function toOverlay(seg: Segmentation, request: OverlayRequest = {}): Promise<Buffer> {
  const { result } = seg;
  if (result.task === 'classification') {
    checkMaskAnswer(seg.model, result.task, 'overlay');
    return Buffer.alloc(0);
  }
  if (!seg.rgb) throw new Error('overlay requested from a segmentation made without keepImage');
  let input: OverlayInput;
  if (result.task === 'instance') {
    input = {
      kind: 'instances',
      instances: result.instances.map((inst, i) => ({
        mask: inst.mask,
        color: colorForIndex(i),
        box: inst.box,
        caption: `${inst.label} ${inst.score.toFixed(2)}`,
      })),
    };
  } else {
    const skipBackground = hasBackground(result);
    input = {
      kind: 'classmap',
      classMap: result.classMap,
      width: result.width,
      height: result.height,
      colors: result.labels.map((_, c) => (skipBackground && c === 0 ? null : colorForIndex(c))),
      captions: result.labels,
    };
  }
  return renderOverlay(seg.rgb, input, {
    alpha: request.alpha ?? 0.5,
    drawBoxes: true,
    drawCaptions: true,
    outline: true,
    format: request.format ?? 'png',
  });
}
