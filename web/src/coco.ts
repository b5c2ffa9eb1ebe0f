/**
 * COCO results (the file pycocotools' loadRes and COCO's evaluation server read) computed in the browser from
 * the JSON answer, in the shape of the server's `toCocoResults`: category ids are class index + 1, semantic
 * classes become one entry each with score 1 and their tight box. Scores carry the answer's 4 decimals.
 */
import { rleCounts } from '../../src/masks/rle.js';
import type { CompressedRle } from '../../src/masks/types.js';
import type { CocoResult, SegmentationJson } from '../../src/serving/types.js';
import { rleBox } from './rle';

/** COCO names its images by id ("000000397133.jpg"); other names get their position in the gallery. */
export function imageIdFor(fileName: string, position: number): number {
  const digits = /^(\d+)\.[a-z0-9]+$/i.exec(fileName);
  return digits ? Number(digits[1]) : position;
}

function required(mask: CompressedRle | undefined, label: string): CompressedRle {
  if (!mask) throw new Error(`the answer has no mask for "${label}"`);
  return mask;
}

export function cocoResults(answer: SegmentationJson, imageId: number, fileName: string): CocoResult[] {
  const base = { image_id: imageId, file_name: fileName };
  // A classification has no masks, so nothing COCO could list.
  if (answer.task === 'classification') return [];
  if (answer.task === 'instance') {
    return (answer.instances ?? []).map((inst) => ({
      ...base,
      category_id: inst.class_id + 1,
      category_name: inst.label,
      segmentation: required(inst.mask, inst.label),
      bbox: inst.box,
      area: inst.area,
      score: inst.score,
    }));
  }
  return (answer.classes ?? []).map((cls) => {
    const mask = required(cls.mask, cls.label);
    return {
      ...base,
      category_id: cls.class_id + 1,
      category_name: cls.label,
      segmentation: mask,
      bbox: rleBox(rleCounts(mask), mask.size[0]),
      area: cls.area,
      score: 1,
    };
  });
}
