/** What the instance decoders share: boxes back to the original image, crops, and the result envelope. */
import type { InputTransform } from '../image/types.js';
import type { CroppedMask } from '../masks/types.js';
import type { CornerBox } from './nms.js';
import type { Box, DecodeContext, Instance, InstanceResult } from './types.js';
import { instanceUncertainty } from './uncertainty.js';

/** Undoes letterbox/stretch on a box in model-input pixels: x_orig = (x_input - padLeft) / scaleX. Not clipped. */
export function boxToOriginal(box: CornerBox, t: InputTransform): CornerBox {
  return {
    x1: (box.x1 - t.padLeft) / t.scaleX,
    y1: (box.y1 - t.padTop) / t.scaleY,
    x2: (box.x2 - t.padLeft) / t.scaleX,
    y2: (box.y2 - t.padTop) / t.scaleY,
  };
}

function clamp(value: number, low: number, high: number): number {
  return Math.min(Math.max(value, low), high);
}

export function clipBox(box: CornerBox, width: number, height: number): CornerBox {
  return {
    x1: clamp(box.x1, 0, width),
    y1: clamp(box.y1, 0, height),
    x2: clamp(box.x2, 0, width),
    y2: clamp(box.y2, 0, height),
  };
}

/** COCO [x, y, width, height]. */
export function cocoBox(box: CornerBox): Box {
  return [box.x1, box.y1, Math.max(0, box.x2 - box.x1), Math.max(0, box.y2 - box.y1)];
}

/** Pixel rectangle [left, right) x [top, bottom). */
export interface PixelRect {
  left: number;
  top: number;
  right: number;
  bottom: number;
}

/**
 * The pixels whose centres lie inside a (clipped) box: pixel x is in when x1 <= x + 0.5 < x2. This is the box
 * "clipped to the image" on the pixel grid, and every pixel of it is inside the box, so no per-pixel test remains.
 */
export function pixelsInside(box: CornerBox, width: number, height: number): PixelRect {
  const left = clamp(Math.ceil(box.x1 - 0.5), 0, width);
  const top = clamp(Math.ceil(box.y1 - 0.5), 0, height);
  return {
    left,
    top,
    right: Math.max(left, clamp(Math.ceil(box.x2 - 0.5), 0, width)),
    bottom: Math.max(top, clamp(Math.ceil(box.y2 - 0.5), 0, height)),
  };
}

/** An all-zero mask over a rectangle, to be filled by the caller. */
export function blankMask(rect: PixelRect, width: number, height: number): CroppedMask {
  const cropWidth = rect.right - rect.left;
  const cropHeight = rect.bottom - rect.top;
  return {
    width,
    height,
    left: rect.left,
    top: rect.top,
    cropWidth,
    cropHeight,
    data: new Uint8Array(cropWidth * cropHeight),
  };
}

export function instanceResult(context: DecodeContext, instances: Instance[]): InstanceResult {
  return {
    task: 'instance',
    width: context.transform.sourceWidth,
    height: context.transform.sourceHeight,
    instances,
    uncertainty: instanceUncertainty(instances, context.config.thresholds.score),
  };
}
