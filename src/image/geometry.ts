/**
 * Where the image lands inside the model input. Letterbox follows Ultralytics' `LetterBox` exactly, because the
 * YOLO models were trained with it:
 *   r = min(W / w, H / h); content = round(w * r) x round(h * r) with Python's round (half to even);
 *   padLeft = floor((W - contentWidth) / 2), padTop likewise.
 * Ultralytics writes the padding as round(dw / 2 - 0.1); dw is an integer, so that is floor(dw / 2) too.
 * scaleX = scaleY = r, as Ultralytics' `scale_boxes` and the model README map boxes back. The content's own
 * scale (contentWidth / w) differs from r by less than half a pixel over the whole image.
 */
import type { InputSpec, InputTransform } from './types.js';

/** Python's round(): halves go to the even neighbour (213.5 -> 214, 212.5 -> 212). */
function roundHalfEven(value: number): number {
  const floor = Math.floor(value);
  const fraction = value - floor;
  if (fraction > 0.5) return floor + 1;
  if (fraction < 0.5) return floor;
  return floor % 2 === 0 ? floor : floor + 1;
}

/** Geometry of resizing a `srcW` x `srcH` image (already EXIF-oriented) into the model input. */
export function computeTransform(srcW: number, srcH: number, input: InputSpec): InputTransform {
  if (!(Number.isInteger(srcW) && Number.isInteger(srcH) && srcW > 0 && srcH > 0)) {
    throw new RangeError(`image size must be positive integers, got ${srcW}x${srcH}`);
  }
  const base = { sourceWidth: srcW, sourceHeight: srcH, inputWidth: input.width, inputHeight: input.height };
  if (input.resize === 'stretch') {
    return {
      ...base,
      scaleX: input.width / srcW,
      scaleY: input.height / srcH,
      padLeft: 0,
      padTop: 0,
      contentWidth: input.width,
      contentHeight: input.height,
    };
  }
  const r = Math.min(input.width / srcW, input.height / srcH);
  // A 1-pixel-wide side must not vanish (Ultralytics would pass 0 to cv2.resize and fail).
  const contentWidth = Math.max(1, roundHalfEven(srcW * r));
  const contentHeight = Math.max(1, roundHalfEven(srcH * r));
  return {
    ...base,
    scaleX: r,
    scaleY: r,
    padLeft: Math.floor((input.width - contentWidth) / 2),
    padTop: Math.floor((input.height - contentHeight) / 2),
    contentWidth,
    contentHeight,
  };
}
