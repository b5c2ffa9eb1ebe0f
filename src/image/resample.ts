/**
 * Resizing the image to the content size of the model input, in libvips (on libuv threads, off the event loop).
 *
 * The kernel reproduces OpenCV's `cv2.resize(..., INTER_LINEAR)`, which Ultralytics and most PyTorch
 * pipelines use at training and inference time: a bilinear sample of the 2x2 neighbourhood around
 * src = (dst + 0.5) / scale - 0.5, with no antialiasing, and edge pixels replicated outside the image.
 * sharp's `resize()` kernels are all antialiased (a wider filter when shrinking) and use another pixel grid
 * when enlarging; measured on 8 COCO images shrunk to 320 px, the mean absolute difference from INTER_LINEAR
 * was 1.8 levels for 'linear', 1.5 for the default 'lanczos3' and 1.26 at best ('cubic'), and 3 to 7 levels
 * when enlarging. libvips' `affine` with the bilinear interpolator and half-pixel offsets samples exactly at
 * OpenCV's points: it stays within 1 level (fixed-point rounding) everywhere.
 *
 * Shrinking an opaque image reads no pixel outside it, so one pipeline (decode, orient, affine) does it.
 * Enlarging samples up to half a source pixel outside: libvips would blend in a black background there, so the
 * image is first given a 1-pixel border copied from its edge (exactly OpenCV's clamping), then enlarged in a
 * second pass; only images smaller than the model input are enlarged, so that pass is cheap. Images with alpha
 * also take two passes (see below).
 *
 * The price of matching OpenCV: no JPEG shrink-on-load, so a 12-megapixel photo is fully decoded (as it is
 * by cv2.imread). A model can trade that exactness for speed (`input.shrink_on_load`): an opaque image at least
 * twice the content size in both directions is then reduced by libvips itself, which decodes a JPEG at 1/2, 1/4
 * or 1/8 of its size in the DCT domain when the image is at least 3, 5 or 9 times the content (sharp's rule: a
 * smaller factor would leave libjpeg's rounding at the edges), a WebP at the content size, and reduces the rest
 * with an antialiased linear kernel. Measured by `npx tsx bench/shrink-on-load.ts`: decode time and mask quality,
 * on against off, on the shared datasets enlarged to camera size.
 */
import sharp from 'sharp';
import { type ImageSource, openSource, readRgb } from './decode.js';
import type { InputTransform, RawImage } from './types.js';

function bilinearAffine(
  pipeline: sharp.Sharp,
  scaleX: number,
  scaleY: number,
  inputOffset: number,
): sharp.Sharp {
  // sharp maps X = scale * (x + idx) + odx. With odx = -0.5 and idx = 0.5 this is OpenCV's
  // x = (X + 0.5) / scale - 0.5; idx = -0.5 does the same for an image with a 1-pixel border (x + 1).
  return pipeline.affine(
    [
      [scaleX, 0],
      [0, scaleY],
    ],
    { interpolator: sharp.interpolators.bilinear, idx: inputOffset, idy: inputOffset, odx: -0.5, ody: -0.5 },
  );
}

/**
 * The source resized to `transform.contentWidth` x `contentHeight` (RGB). The result may be wider or taller
 * than that when enlarging (libvips sizes the output to the bordered input); the content is its top-left
 * window. Internal to src/image.
 */
export async function resampleToContent(
  source: ImageSource,
  transform: InputTransform,
  options: { shrinkOnLoad?: boolean } = {},
): Promise<RawImage> {
  const scaleX = transform.contentWidth / transform.sourceWidth;
  const scaleY = transform.contentHeight / transform.sourceHeight;
  const hasAlpha = source.kind === 'encoded' ? source.info.hasAlpha : source.image.channels === 4;
  const enlarging = scaleX > 1 || scaleY > 1;
  let resized: RawImage;
  if (options.shrinkOnLoad && scaleX <= 0.5 && scaleY <= 0.5 && !hasAlpha) {
    const { contentWidth: width, contentHeight: height } = transform;
    const reduce = { fit: 'fill', kernel: 'linear', fastShrinkOnLoad: true } as const;
    resized = await readRgb(openSource(source).resize(width, height, reduce), source);
  } else if (scaleX === 1 && scaleY === 1) {
    resized = await readRgb(openSource(source), source);
  } else if (!enlarging && !hasAlpha) {
    resized = await readRgb(bilinearAffine(openSource(source), scaleX, scaleY, 0.5), source);
  } else {
    // Two passes. The first yields plain RGB: libvips' affine would otherwise weight colours by alpha
    // (premultiplying), turning transparent areas black where OpenCV keeps their stored colour.
    const border = { top: 1, bottom: 1, left: 1, right: 1, extendWith: 'copy' as const };
    const rgb = await readRgb(enlarging ? openSource(source).extend(border) : openSource(source), source);
    const rgbSource: ImageSource = { kind: 'raw', image: rgb };
    resized = await readRgb(
      bilinearAffine(openSource(rgbSource), scaleX, scaleY, enlarging ? -0.5 : 0.5),
      rgbSource,
    );
  }
  if (resized.width < transform.contentWidth || resized.height < transform.contentHeight) {
    throw new Error(
      `resampling produced ${resized.width}x${resized.height}, smaller than the content ${transform.contentWidth}x${transform.contentHeight}`,
    );
  }
  return resized;
}
