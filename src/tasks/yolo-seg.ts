/**
 * YOLOv8-seg (Ultralytics) outputs, NMS not in the graph:
 * - detections [1, 4 + nc + nm, A], channel-major: for anchor a, value k is at k * A + a. k = 0..3: cx, cy, w, h
 *   in model-input pixels; then nc class scores already in 0..1 (no objectness); then nm mask coefficients.
 * - protos [1, nm, ph, pw]: mask prototypes over the whole input (stride inputWidth / pw).
 * Instance mask = sigmoid(coefficients . protos) inside the box, above thresholds.mask.
 */
import type { InputTransform } from '../image/types.js';
import type { CroppedMask } from '../masks/types.js';
import type { NamedTensors } from '../runtime/types.js';
import { logit } from './activation.js';
import {
  blankMask,
  boxToOriginal,
  clipBox,
  cocoBox,
  instanceResult,
  type PixelRect,
  pixelsInside,
} from './instances.js';
import { type NmsCandidate, nms } from './nms.js';
import { describeDims, outputMismatch, resolveRoles, toFloat32 } from './outputs.js';
import { axisTable, thresholdSamples, xAxis, yAxis } from './sampling.js';
import type { DecodeContext, Instance, InstanceResult } from './types.js';

interface Prototypes {
  data: Float32Array;
  count: number;
  height: number;
  width: number;
}

interface Candidate extends NmsCandidate {
  anchor: number;
  margin: number;
}

/**
 * The mask of one instance over `rect` (original pixels). Each pixel samples the linear combination of the
 * prototypes bilinearly at its prototype-grid position (sampling.ts gives the exact mapping:
 * g = ((x + 0.5) * scaleX + padLeft) * pw / inputWidth - 0.5), and is set when that logit is above
 * logit(threshold), which equals sigmoid(value) > threshold without an exp per pixel. The combination is
 * computed only on the prototype cells the crop samples.
 */
function instanceMask(
  coefficients: Float32Array,
  protos: Prototypes,
  rect: PixelRect,
  transform: InputTransform,
  threshold: number,
): { mask: CroppedMask; area: number } {
  const mask = blankMask(rect, transform.sourceWidth, transform.sourceHeight);
  if (mask.cropWidth === 0 || mask.cropHeight === 0) return { mask, area: 0 };
  const cols = axisTable(rect.left, mask.cropWidth, xAxis(transform), protos.width, 0, protos.width - 1);
  const rows = axisTable(rect.top, mask.cropHeight, yAxis(transform), protos.height, 0, protos.height - 1);
  // Tables are increasing, so the first and last entries bound the cells the crop touches.
  const c0 = cols.i0[0];
  const r0 = rows.i0[0];
  const windowWidth = cols.i1[mask.cropWidth - 1] - c0 + 1;
  const windowHeight = rows.i1[mask.cropHeight - 1] - r0 + 1;
  const combination = new Float32Array(windowWidth * windowHeight);
  const plane = protos.height * protos.width;
  for (let k = 0; k < protos.count; k++) {
    const coefficient = coefficients[k];
    if (coefficient === 0) continue;
    for (let r = 0; r < windowHeight; r++) {
      const source = k * plane + (r0 + r) * protos.width + c0;
      const target = r * windowWidth;
      for (let c = 0; c < windowWidth; c++) combination[target + c] += coefficient * protos.data[source + c];
    }
  }
  const area = thresholdSamples(combination, 0, windowWidth, rows, cols, r0, c0, logit(threshold), mask.data);
  return { mask, area };
}

export function decodeYoloSeg(outputs: NamedTensors, context: DecodeContext): InstanceResult {
  const { detections, protos } = resolveRoles(outputs, ['detections', 'protos'], context, 'yolo-seg');
  const { config, labels, transform } = context;
  if (protos.dims.length !== 4 || protos.dims[0] !== 1 || protos.dims.slice(1).some((d) => d <= 0)) {
    throw outputMismatch(
      context,
      'yolo-seg',
      `protos has dims ${describeDims(protos.dims)}; expected [1, nm, ph, pw]`,
    );
  }
  const [, maskCount, protoHeight, protoWidth] = protos.dims;
  const classCount = labels.length;
  const channels = 4 + classCount + maskCount;
  if (detections.dims.length !== 3 || detections.dims[0] !== 1 || detections.dims[1] !== channels) {
    const hint =
      detections.dims.length === 3 && detections.dims[2] === channels
        ? ' (it looks anchor-major, [1, A, C])'
        : '';
    throw outputMismatch(
      context,
      'yolo-seg',
      `detections has dims ${describeDims(detections.dims)}${hint}; expected [1, ${channels}, A]: 4 box values + ${classCount} class scores (one per label) + ${maskCount} mask coefficients (protos channels)`,
    );
  }
  const anchors = detections.dims[2];
  const det = toFloat32(detections);
  const prototypes: Prototypes = {
    data: toFloat32(protos),
    count: maskCount,
    height: protoHeight,
    width: protoWidth,
  };

  const candidates: Candidate[] = [];
  for (let a = 0; a < anchors; a++) {
    let best = Number.NEGATIVE_INFINITY;
    let second = Number.NEGATIVE_INFINITY;
    let classId = 0;
    for (let c = 0; c < classCount; c++) {
      const score = det[(4 + c) * anchors + a];
      if (score > best) {
        second = best;
        best = score;
        classId = c;
      } else if (score > second) {
        second = score;
      }
    }
    if (!(best >= config.thresholds.score)) continue;
    const cx = det[a];
    const cy = det[anchors + a];
    const halfW = det[2 * anchors + a] / 2;
    const halfH = det[3 * anchors + a] / 2;
    candidates.push({
      x1: cx - halfW,
      y1: cy - halfH,
      x2: cx + halfW,
      y2: cy + halfH,
      score: best,
      classId,
      anchor: a,
      margin: classCount > 1 ? best - second : 1,
    });
  }

  const kept = nms(candidates, config.thresholds.nms_iou, config.max_detections);
  const coefficients = new Float32Array(maskCount);
  const instances: Instance[] = kept.map((index) => {
    const candidate = candidates[index];
    for (let k = 0; k < maskCount; k++)
      coefficients[k] = det[(4 + classCount + k) * anchors + candidate.anchor];
    const box = clipBox(boxToOriginal(candidate, transform), transform.sourceWidth, transform.sourceHeight);
    const rect = pixelsInside(box, transform.sourceWidth, transform.sourceHeight);
    const { mask, area } = instanceMask(coefficients, prototypes, rect, transform, config.thresholds.mask);
    return {
      classId: candidate.classId,
      label: labels[candidate.classId],
      score: candidate.score,
      box: cocoBox(box),
      area,
      mask,
      margin: candidate.margin,
    };
  });
  return instanceResult(context, instances);
}
