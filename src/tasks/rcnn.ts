/**
 * torchvision Mask R-CNN ONNX exports (NMS already in the graph). Roles, N detections:
 * - boxes [N, 4]: x1, y1, x2, y2 in model-input pixels;
 * - labels [N]: class index into the labels (torchvision COCO: 91 names, 0 = background);
 * - scores [N];
 * - masks, in one of two forms, told apart by shape:
 *   (a) [N, 1, inputHeight, inputWidth]: already pasted into the input; mapped back to the original image;
 *   (b) [N, 1, M, M] (or [N, M, M]), M != input size: the per-instance masks of a graph cut before torchvision's
 *       paste Loop (the slow part of the export); pasted here (paste.ts).
 *   Values are probabilities, or logits when output.activation is 'logits'.
 */
import type { InputTransform } from '../image/types.js';
import type { CroppedMask } from '../masks/types.js';
import type { NamedTensors, TensorData } from '../runtime/types.js';
import { sigmoid, thresholdFor } from './activation.js';
import { blankMask, boxToOriginal, clipBox, cocoBox, instanceResult } from './instances.js';
import type { CornerBox } from './nms.js';
import { describeDims, outputMismatch, resolveRoles, toFloat32, toIntegers } from './outputs.js';
import { pasteMask } from './paste.js';
import { type Axis, axisTable, gridCoordinate, thresholdSamples, xAxis, yAxis } from './sampling.js';
import type { DecodeContext, Instance, InstanceResult } from './types.js';

interface MaskPlanes {
  data: Float32Array;
  height: number;
  width: number;
  pasted: boolean;
}

/** The original pixels [first, end) whose samples can reach grid cells lo..hi (their bilinear support). */
function pixelsReaching(lo: number, hi: number, axis: Axis, cells: number): [number, number] {
  // g(x) is increasing and linear; a pixel reads cells floor(g) and floor(g) + 1, so it can see lo..hi only
  // when lo - 1 < g(x) < hi + 1. Rounded outwards: a pixel too many costs one sample, never a wrong answer.
  const step = gridCoordinate(1, axis, cells) - gridCoordinate(0, axis, cells);
  const origin = gridCoordinate(0, axis, cells);
  const first = Math.floor((lo - 1 - origin) / step);
  const end = Math.floor((hi + 1 - origin) / step) + 1;
  return [Math.min(Math.max(first, 0), axis.source), Math.min(Math.max(end, 0), axis.source)];
}

/**
 * Form (a): the instance's input-resolution mask sampled at every original pixel that can reach one of its cells
 * above the threshold (bilinear values between cells at or below the threshold stay at or below it).
 */
function unpasteMask(
  planes: MaskPlanes,
  index: number,
  transform: InputTransform,
  threshold: number,
): { mask: CroppedMask; area: number } {
  const { data, height, width } = planes;
  const offset = index * height * width;
  let rowLo = height;
  let rowHi = -1;
  let colLo = width;
  let colHi = -1;
  for (let y = 0; y < height; y++) {
    const row = offset + y * width;
    for (let x = 0; x < width; x++) {
      if (data[row + x] > threshold) {
        if (y < rowLo) rowLo = y;
        rowHi = y;
        if (x < colLo) colLo = x;
        if (x > colHi) colHi = x;
      }
    }
  }
  const { sourceWidth, sourceHeight } = transform;
  if (rowHi < 0)
    return { mask: blankMask({ left: 0, top: 0, right: 0, bottom: 0 }, sourceWidth, sourceHeight), area: 0 };
  const ax = xAxis(transform);
  const ay = yAxis(transform);
  const [left, right] = pixelsReaching(colLo, colHi, ax, width);
  const [top, bottom] = pixelsReaching(rowLo, rowHi, ay, height);
  const mask = blankMask({ left, top, right, bottom }, sourceWidth, sourceHeight);
  if (mask.cropWidth === 0 || mask.cropHeight === 0) return { mask, area: 0 };
  const cols = axisTable(left, mask.cropWidth, ax, width, 0, width - 1);
  const rows = axisTable(top, mask.cropHeight, ay, height, 0, height - 1);
  const area = thresholdSamples(data, offset, width, rows, cols, 0, 0, threshold, mask.data);
  return { mask, area };
}

function readMasks(masks: TensorData, count: number, context: DecodeContext): MaskPlanes {
  const dims = masks.dims;
  const rank4 = dims.length === 4 && dims[1] === 1;
  if (!(rank4 || dims.length === 3) || dims[0] !== count) {
    throw outputMismatch(
      context,
      'rcnn',
      `masks has dims ${describeDims(dims)}; expected [${count}, 1, H, W] or [${count}, H, W] for ${count} boxes`,
    );
  }
  const height = dims[dims.length - 2];
  const width = dims[dims.length - 1];
  const { inputWidth, inputHeight } = context.transform;
  const pasted = height === inputHeight && width === inputWidth;
  if (!pasted && height !== width) {
    throw outputMismatch(
      context,
      'rcnn',
      `masks are ${height}x${width}: neither pasted at the input size ${inputHeight}x${inputWidth} nor square per-instance M x M masks`,
    );
  }
  return { data: toFloat32(masks), height, width, pasted };
}

export function decodeRcnn(outputs: NamedTensors, context: DecodeContext): InstanceResult {
  const roles = resolveRoles(outputs, ['boxes', 'labels', 'scores', 'masks'], context, 'rcnn');
  const { config, labels, transform } = context;
  if (roles.boxes.dims.length !== 2 || roles.boxes.dims[1] !== 4) {
    throw outputMismatch(
      context,
      'rcnn',
      `boxes has dims ${describeDims(roles.boxes.dims)}; expected [N, 4]`,
    );
  }
  const count = roles.boxes.dims[0];
  for (const role of ['labels', 'scores'] as const) {
    const dims = roles[role].dims;
    if (dims.length !== 1 || dims[0] !== count) {
      throw outputMismatch(
        context,
        'rcnn',
        `${role} has dims ${describeDims(dims)}; expected [${count}] like boxes`,
      );
    }
  }
  const boxes = toFloat32(roles.boxes);
  const classIds = toIntegers(roles.labels);
  const scores = toFloat32(roles.scores);
  const planes = readMasks(roles.masks, count, context);
  const { activation } = config.output;

  const order: number[] = [];
  for (let i = 0; i < count; i++) if (scores[i] >= config.thresholds.score) order.push(i);
  order.sort((a, b) => scores[b] - scores[a] || a - b);
  const kept = order.slice(0, config.max_detections);

  // Pasting interpolates probabilities against zero padding, so small logit masks become probabilities first
  // (M x M values per instance, cheap); pasted masks are compared in their own domain.
  const pasteThreshold = config.thresholds.mask;
  const planeThreshold = thresholdFor(config.thresholds.mask, activation);
  const cells = planes.height * planes.width;
  const converted = new Float32Array(!planes.pasted && activation === 'logits' ? cells : 0);

  const instances: Instance[] = kept.map((i) => {
    const classId = classIds[i];
    if (classId < 0 || classId >= labels.length) {
      throw outputMismatch(
        context,
        'rcnn',
        `detection ${i} has label index ${classId}, outside the ${labels.length} labels`,
      );
    }
    const inputBox: CornerBox = {
      x1: boxes[i * 4],
      y1: boxes[i * 4 + 1],
      x2: boxes[i * 4 + 2],
      y2: boxes[i * 4 + 3],
    };
    const originalBox = boxToOriginal(inputBox, transform);
    let pasted: { mask: CroppedMask; area: number };
    if (planes.pasted) {
      pasted = unpasteMask(planes, i, transform, planeThreshold);
    } else {
      let source = planes.data;
      let offset = i * cells;
      if (activation === 'logits') {
        for (let k = 0; k < cells; k++) converted[k] = sigmoid(planes.data[offset + k]);
        source = converted;
        offset = 0;
      }
      pasted = pasteMask(
        source,
        offset,
        planes.width,
        originalBox,
        transform.sourceWidth,
        transform.sourceHeight,
        pasteThreshold,
      );
    }
    return {
      classId,
      label: labels[classId],
      score: scores[i],
      box: cocoBox(clipBox(originalBox, transform.sourceWidth, transform.sourceHeight)),
      area: pasted.area,
      mask: pasted.mask,
      // torchvision gives one score per detection.
      margin: 1,
    };
  });
  return instanceResult(context, instances);
}
