/**
 * How far two segmentations of the same image agree: the served answer and a shadow variant's answer (shadow
 * traffic), or any two models. Neither side is the truth, so every figure here is symmetric in what it
 * reports (IoU, F1, agreement); only the sign of a difference (`shadow - served`) says which side is which.
 *
 * - Class maps (semantic, binary): IoU per class between the two maps (a confusion matrix of one against the
 *   other, semantic.ts), and `agreement`, the mean IoU over the classes present in either map, the background
 *   left out: with it, every image with a small object would agree at about 0.5 even when the two answers
 *   disagree completely on the object. Two maps that are both all background agree fully (1).
 * - Instances: matched one to one by mask IoU (pycocotools' IoU on RLE runs, coco-iou.ts), greedily from the
 *   highest IoU down, a pair only when its IoU is above the threshold (0.5: then no mask can match two others
 *   that do not overlap each other, and greedy is optimal whenever the masks of each side do not overlap).
 *   Matching ignores the class, so that a class flip shows as a matched pair whose classes differ (`class
 *   agreement`) rather than as two unmatched instances. `agreement` is the panoptic-quality form (Kirillov et
 *   al. 2019) with same-class matches only: the sum of their IoUs over TP + FP/2 + FN/2, which is
 *   2 sum(IoU) / (served + shadow). It is 1 only when every instance has a same-class match of IoU 1, falls
 *   with every missed, extra or reclassified instance and with every loose mask, and is 1 when neither side
 *   found anything.
 */
import { SegserveError } from '../errors.js';
import { encodeCroppedMask } from '../masks/rle.js';
import type { CroppedMask } from '../masks/types.js';
import { type MaskRuns, maskIou, maskRuns } from './coco-iou.js';
import { iouFromCounts } from './iou.js';
import { confusionMatrix } from './semantic.js';

/** Matched instances need an IoU strictly above this by default. */
export const MATCH_IOU_THRESHOLD = 0.5;

/** One class present in either map. */
export interface ClassAgreement {
  classId: number;
  label: string;
  servedPixels: number;
  shadowPixels: number;
  iou: number;
  /** The background class: reported, but not part of `agreement`. */
  background: boolean;
}

export interface ClassMapAgreement {
  kind: 'class-map';
  /** Classes present in either map, by class id. */
  classes: ClassAgreement[];
  /** Mean IoU over the non-background classes present in either map; 1 when there are none. */
  agreement: number;
  /** Share of pixels given the same class by both (background included). */
  pixelAgreement: number;
}

export interface ClassMapOptions {
  /** Class ids of both maps are below this (at most 256). */
  classes: number;
  /** Names by class id, for the report (default the id). */
  labels?: readonly string[];
  /** The background class id, if the maps have one: left out of `agreement`. */
  background?: number;
}

function invalid(reason: string): never {
  throw new SegserveError('EVAL_INPUT_INVALID', { source: 'comparison', reason });
}

/** IoU per class between two class maps of the same image, and their agreement. */
export function classMapAgreement(
  served: Uint8Array,
  shadow: Uint8Array,
  options: ClassMapOptions,
): ClassMapAgreement {
  if (served.length !== shadow.length) {
    invalid(`the served map has ${served.length} pixels, the shadow's ${shadow.length}`);
  }
  const { classes, labels = [], background } = options;
  const matrix = confusionMatrix(served, shadow, classes);
  const { counts } = matrix;
  const rows: ClassAgreement[] = [];
  let same = 0;
  let ious = 0;
  let counted = 0;
  for (let c = 0; c < classes; c++) {
    let servedPixels = 0;
    let shadowPixels = 0;
    for (let k = 0; k < classes; k++) {
      servedPixels += counts[c * classes + k];
      shadowPixels += counts[k * classes + c];
    }
    const both = counts[c * classes + c];
    same += both;
    const iou = iouFromCounts(both, shadowPixels - both, servedPixels - both);
    if (iou === null) continue;
    const isBackground = c === background;
    rows.push({
      classId: c,
      label: labels[c] ?? String(c),
      servedPixels,
      shadowPixels,
      iou,
      background: isBackground,
    });
    if (!isBackground) {
      ious += iou;
      counted++;
    }
  }
  return {
    kind: 'class-map',
    classes: rows,
    agreement: counted === 0 ? 1 : ious / counted,
    pixelAgreement: served.length === 0 ? 1 : same / served.length,
  };
}

/** An instance as compared: its class and its mask over the whole image. */
export interface ComparedInstance {
  classId: number;
  label: string;
  mask: CroppedMask;
}

export interface InstanceMatch {
  /** Indices into the served and shadow lists. */
  served: number;
  shadow: number;
  iou: number;
  sameClass: boolean;
}

export interface InstanceAgreement {
  kind: 'instances';
  /** Instances each side found. */
  servedCount: number;
  shadowCount: number;
  /** `shadowCount - servedCount`. */
  countDifference: number;
  /** One-to-one matches, highest IoU first. */
  matches: InstanceMatch[];
  /** Mean IoU of the matches; null without any. */
  meanMatchedIou: number | null;
  /** Share of matches whose classes are the same; null without any. */
  classAgreement: number | null;
  /** F1 of the matches, 2 matched / (served + shadow), classes aside; 1 when neither side found anything. */
  f1: number;
  /** 2 sum(IoU of same-class matches) / (served + shadow): see the module comment; 1 when both are empty. */
  agreement: number;
}

export interface InstanceOptions {
  /** A pair matches when its mask IoU is above this (default 0.5). */
  iouThreshold?: number;
}

function runsOf(mask: CroppedMask): MaskRuns {
  return maskRuns(encodeCroppedMask(mask), mask.height, mask.width);
}

/** Matches the instances of two answers one to one by mask IoU and says how far they agree. */
export function instanceAgreement(
  served: readonly ComparedInstance[],
  shadow: readonly ComparedInstance[],
  options: InstanceOptions = {},
): InstanceAgreement {
  const threshold = options.iouThreshold ?? MATCH_IOU_THRESHOLD;
  if (!(threshold >= 0 && threshold < 1))
    invalid(`the IoU threshold must be within [0, 1), not ${threshold}`);
  const a = served.map((instance) => runsOf(instance.mask));
  const b = shadow.map((instance) => runsOf(instance.mask));
  const candidates: InstanceMatch[] = [];
  for (let i = 0; i < a.length; i++) {
    for (let j = 0; j < b.length; j++) {
      if (a[i].height !== b[j].height || a[i].width !== b[j].width) {
        invalid(`instance masks of ${a[i].width}x${a[i].height} and ${b[j].width}x${b[j].height} pixels`);
      }
      const iou = maskIou(a[i], b[j], false);
      if (iou > threshold) {
        candidates.push({ served: i, shadow: j, iou, sameClass: served[i].label === shadow[j].label });
      }
    }
  }
  // Highest IoU first; ties by index, so the result does not depend on the sort's stability.
  candidates.sort((x, y) => y.iou - x.iou || x.served - y.served || x.shadow - y.shadow);
  const usedServed = new Uint8Array(a.length);
  const usedShadow = new Uint8Array(b.length);
  const matches: InstanceMatch[] = [];
  for (const candidate of candidates) {
    if (usedServed[candidate.served] || usedShadow[candidate.shadow]) continue;
    usedServed[candidate.served] = 1;
    usedShadow[candidate.shadow] = 1;
    matches.push(candidate);
  }
  const total = a.length + b.length;
  const iouSum = matches.reduce((sum, m) => sum + m.iou, 0);
  const sameClassIouSum = matches.reduce((sum, m) => sum + (m.sameClass ? m.iou : 0), 0);
  return {
    kind: 'instances',
    servedCount: a.length,
    shadowCount: b.length,
    countDifference: b.length - a.length,
    matches,
    meanMatchedIou: matches.length === 0 ? null : iouSum / matches.length,
    classAgreement: matches.length === 0 ? null : matches.filter((m) => m.sameClass).length / matches.length,
    f1: total === 0 ? 1 : (2 * matches.length) / total,
    agreement: total === 0 ? 1 : (2 * sameClassIouSum) / total,
  };
}

/**
 * A segmentation as compared, structurally what the task decoders produce (src/tasks/types.ts), so a result
 * is passed as it is.
 */
export type ComparedSegmentation =
  | { task: 'instance'; width: number; height: number; instances: readonly ComparedInstance[] }
  | {
      task: 'semantic' | 'binary';
      width: number;
      height: number;
      classMap: Uint8Array;
      /** Names by class id; the two sides' classes are matched by name. */
      labels: readonly string[];
    };

export type SegmentationAgreement = ClassMapAgreement | InstanceAgreement;

/**
 * The background of a class map: class 0 of a binary map; in a semantic one, the class named `background`
 * when the model has one (models without it, such as the multilabel decoders' own classes, have none).
 */
export function backgroundClass(task: 'semantic' | 'binary', labels: readonly string[]): number | undefined {
  if (task === 'binary') return 0;
  const index = labels.findIndex((label) => label.toLowerCase() === 'background');
  return index < 0 ? undefined : index;
}

/**
 * The shadow map's class ids turned into the served map's by name, for models whose label lists differ (a
 * retrained model with a class added); a shadow class the served model lacks gets an id after the served ones.
 */
export function alignClassMap(
  served: readonly string[],
  shadow: readonly string[],
  map: Uint8Array,
): { map: Uint8Array; labels: string[] } {
  const same = served.length === shadow.length && served.every((label, i) => label === shadow[i]);
  if (same) return { map, labels: [...served] };
  const labels = [...served];
  const table = new Uint8Array(256);
  shadow.forEach((label, i) => {
    let id = labels.indexOf(label);
    if (id < 0) {
      id = labels.length;
      labels.push(label);
    }
    if (id > 255) invalid(`the two models have more than 256 classes between them`);
    table[i] = id;
  });
  const out = new Uint8Array(map.length);
  for (let i = 0; i < map.length; i++) out[i] = table[map[i]];
  return { map: out, labels };
}

/** Compares two answers for the same image; both must be of the same kind (instances, or class maps). */
export function compareSegmentations(
  served: ComparedSegmentation,
  shadow: ComparedSegmentation,
  options: InstanceOptions = {},
): SegmentationAgreement {
  if (served.width !== shadow.width || served.height !== shadow.height) {
    invalid(
      `the served answer is ${served.width}x${served.height}, the shadow's ${shadow.width}x${shadow.height}`,
    );
  }
  if (served.task === 'instance' || shadow.task === 'instance') {
    if (served.task !== 'instance' || shadow.task !== 'instance') {
      invalid(`a ${served.task} answer cannot be compared with a ${shadow.task} one`);
    }
    return instanceAgreement(served.instances, shadow.instances, options);
  }
  const aligned = alignClassMap(served.labels, shadow.labels, shadow.classMap);
  let highest = 0;
  for (let i = 0; i < served.classMap.length; i++) {
    if (served.classMap[i] > highest) highest = served.classMap[i];
  }
  return classMapAgreement(served.classMap, aligned.map, {
    classes: Math.max(aligned.labels.length, highest + 1),
    labels: aligned.labels,
    background: backgroundClass(served.task, served.labels),
  });
}
