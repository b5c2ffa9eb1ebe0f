/**
 * One encoding job (the JSON answer, the mask PNG, the overlay, COCO results) and how it runs. The same
 * function runs it inline on the calling thread (small images) and inside the encoder worker (large ones), so
 * both give the very same bytes and only where they run differs. Also what crosses the thread boundary.
 */

import { openSource, readRgb } from '../image/decode.js';
import type { RawImage } from '../image/types.js';
import type { SerializedError } from '../runtime/protocol.js';
import { type TransferList, takeRaw, takeResult } from '../runtime/transfer.js';
import type { SegmentationResult } from '../tasks/types.js';
import { type CategoryIdOf, type CategoryMapping, indexPlusOne } from './category-ids.js';
import {
  checkMaskAnswer,
  type OverlayRequest,
  type SegmentationJsonOptions,
  toCocoResults,
  toMaskPng,
  toOverlay,
  toSegmentationJson,
} from './encode.js';
import type { Segmentation } from './pipeline.js';
import type { CocoResult, SegmentationJson } from './types.js';

/** What an adapter asks InferenceService.encode for. */
export type EncodeJob =
  | { kind: 'json'; options?: SegmentationJsonOptions }
  | { kind: 'mask' }
  | { kind: 'overlay'; overlay?: OverlayRequest }
  | {
      kind: 'coco';
      imageId: number;
      fileName: string;
      /** Default: class index + 1 (see toCocoResults). */
      categoryId?: CategoryIdOf | CategoryMapping;
    };

export type EncodeKind = EncodeJob['kind'];

/** What each kind of job answers. */
export interface EncodeOutputs {
  json: SegmentationJson;
  mask: Buffer;
  overlay: Buffer;
  coco: CocoResult[];
}

/** A job as it crosses to a worker: COCO category ids as a table by class id instead of a function. */
export type PortableEncodeJob =
  | Exclude<EncodeJob, { kind: 'coco' }>
  | { kind: 'coco'; imageId: number; fileName: string; categoryIds: Array<[classId: number, id: number]> };

export interface Encoded {
  output: EncodeOutputs[EncodeKind];
  /** Time the encoder itself took (already added to the segmentation's `timings.encode`), in ms. */
  encodeMs: number;
}

/** The pixels an encoding of `seg` walks: what decides whether it is worth a thread hop. */
export function encodePixels(seg: Segmentation): number {
  // A classification's answer is a few numbers whatever the image's size: never worth the hop.
  if (seg.result.task === 'classification') return 0;
  return seg.result.width * seg.result.height;
}

/** The job in a form that survives structured clone: category ids looked up now, for the classes present. */
export function portableJob(seg: Segmentation, job: EncodeJob): PortableEncodeJob {
  if (job.kind !== 'coco') return job;
  const { categoryId = indexPlusOne, imageId, fileName } = job;
  const idOf = typeof categoryId === 'function' ? categoryId : categoryId.categoryId;
  const { result } = seg;
  if (result.task === 'classification') checkMaskAnswer(seg.model, result.task, 'COCO results');
  const classes: Array<[number, string]> =
    result.task === 'instance'
      ? result.instances.map((inst) => [inst.classId, inst.label])
      : result.task === 'classification'
        ? []
        : result.areas.map((area) => [area.classId, area.label]);
  const ids = new Map(classes.map(([classId, label]) => [classId, idOf(label, classId)]));
  return { kind: 'coco', imageId, fileName, categoryIds: [...ids] };
}

async function encodeOutput(seg: Segmentation, job: PortableEncodeJob): Promise<EncodeOutputs[EncodeKind]> {
  switch (job.kind) {
    case 'json':
      return toSegmentationJson(seg, job.options);
    case 'mask':
      return toMaskPng(seg);
    case 'overlay':
      return toOverlay(seg, job.overlay);
    case 'coco': {
      const ids = new Map(job.categoryIds);
      return toCocoResults(
        seg,
        job.imageId,
        job.fileName,
        (_label, classId) => ids.get(classId) ?? classId + 1,
      );
    }
  }
}

/** Runs one job on this thread and adds its time to `seg.timings.encode`. */
export async function runEncodeJob(seg: Segmentation, job: PortableEncodeJob): Promise<Encoded> {
  const started = performance.now();
  const output = await encodeOutput(seg, job);
  const encodeMs = performance.now() - started;
  // toSegmentationJson adds its own time (the answer carries its timings); the others are timed here.
  if (job.kind !== 'json') seg.timings.encode += encodeMs;
  return { output, encodeMs };
}

/** The arrays a segmentation lends a worker for one job; they come back with the answer. */
export interface Lent {
  result: SegmentationResult;
  rgb?: RawImage;
}

/**
 * The segmentation to post: its mask arrays registered with `list`. An overlay takes the compressed image,
 * which the worker decodes itself (see Segmentation.source), or else the decoded image.
 */
export function lendSegmentation(
  seg: Segmentation,
  job: PortableEncodeJob,
  list: TransferList,
): Segmentation {
  const overlay = job.kind === 'overlay';
  const source = overlay ? seg.source : undefined;
  const rgb = overlay && !source && seg.rgb ? takeRaw(seg.rgb, list) : undefined;
  return { ...seg, result: takeResult(seg.result, list), rgb, source };
}

/** In the worker: the decoded image an overlay needs, from the compressed one when that came instead. */
export async function decodeLentImage(seg: Segmentation, job: PortableEncodeJob): Promise<void> {
  if (job.kind !== 'overlay' || seg.rgb || !seg.source) return;
  seg.rgb = await readRgb(openSource(seg.source), seg.source);
}

/** What a worker sends back of a lent segmentation (an image it decoded itself stays behind). */
export function returnLent(seg: Segmentation, lentRgb: boolean, list: TransferList): Lent {
  return {
    result: takeResult(seg.result, list),
    rgb: lentRgb && seg.rgb ? takeRaw(seg.rgb, list) : undefined,
  };
}

/** Puts the arrays a worker gave back into the segmentation, whose own were detached when lent. */
export function restoreLent(seg: Segmentation, lent: Lent): void {
  seg.result = lent.result;
  if (!lent.rgb) return;
  // Structured clone turns a Buffer into a plain Uint8Array; keep the type the caller had.
  const { data } = lent.rgb;
  const wasBuffer = seg.rgb !== undefined && Buffer.isBuffer(seg.rgb.data);
  seg.rgb = wasBuffer
    ? { ...lent.rgb, data: Buffer.from(data.buffer, data.byteOffset, data.byteLength) }
    : lent.rgb;
}

export type ToEncoder =
  | { type: 'encode'; id: number; seg: Segmentation; job: PortableEncodeJob }
  | { type: 'stop' };

/** PNG bytes arrive as a Uint8Array (structured clone does not keep Buffer). */
export type FromEncoder =
  | {
      type: 'done';
      id: number;
      output: SegmentationJson | CocoResult[] | Uint8Array;
      encodeMs: number;
      lent: Lent;
    }
  | { type: 'failed'; id: number; error: SerializedError; lent: Lent };
