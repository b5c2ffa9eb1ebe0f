/**
 * Pixels to the model's float32 tensor: layout (NCHW/NHWC), colour order (RGB/BGR) and normalisation
 * value = (pixel * scale - mean[c]) / std[c], with c counted in the model's colour order.
 * An 8-bit channel has 256 possible values, so each output channel gets a 256-entry lookup table and the fill
 * is one pass of table reads over the pixels, writing all three channels per pixel.
 */
import type { InputSpec, InputTransform, RawImage } from './types.js';

type Placement = Pick<InputTransform, 'padLeft' | 'padTop' | 'contentWidth' | 'contentHeight'>;

/** `[1, 3, H, W]` or `[1, H, W, 3]`. */
export function tensorDims(input: InputSpec): number[] {
  return input.layout === 'NCHW' ? [1, 3, input.height, input.width] : [1, input.height, input.width, 3];
}

function lookupTables(input: InputSpec): Float32Array[] {
  return [0, 1, 2].map((c) => {
    const table = new Float32Array(256);
    for (let v = 0; v < 256; v++) table[v] = (v * input.scale - input.mean[c]) / input.std[c];
    return table;
  });
}

/**
 * Writes the top-left `contentWidth` x `contentHeight` window of `content` at (padLeft, padTop) of the input,
 * and the normalised `pad_value` everywhere else. The pad is written here rather than by libvips so that it is
 * exactly `pad_value` (which may be fractional) and libvips moves fewer bytes. Internal to src/image.
 */
export function fillTensor(
  content: RawImage,
  placement: Placement,
  input: InputSpec,
  /** A buffer of exactly W*H*3 floats to fill instead of a new one (every element is written). */
  into?: Float32Array,
): Float32Array {
  const { padLeft, padTop, contentWidth: cw, contentHeight: ch } = placement;
  const { width: W, height: H } = input;
  const C = content.channels;
  if (content.width < cw || content.height < ch || content.data.length < content.width * content.height * C) {
    throw new RangeError(`image ${content.width}x${content.height}x${C} does not hold a ${cw}x${ch} content`);
  }
  if (padLeft < 0 || padTop < 0 || padLeft + cw > W || padTop + ch > H) {
    throw new RangeError(`content ${cw}x${ch} at (${padLeft}, ${padTop}) does not fit the ${W}x${H} input`);
  }

  const [t0, t1, t2] = lookupTables(input);
  const padValues = [0, 1, 2].map((c) =>
    Math.fround((input.pad_value * input.scale - input.mean[c]) / input.std[c]),
  );
  // Source byte of each output channel: grey feeds all three; BGR reads the RGB bytes backwards; alpha is skipped.
  const [s0, s1, s2] = C === 1 ? [0, 0, 0] : input.color === 'BGR' ? [2, 1, 0] : [0, 1, 2];

  const out = into?.length === W * H * 3 ? into : new Float32Array(W * H * 3);
  const src = content.data;
  const rowBytes = content.width * C;
  const plane = W * H;
  const hasPadding = cw !== W || ch !== H;

  if (input.layout === 'NCHW') {
    if (hasPadding) {
      // Whole-plane fills are native memsets; the content rows below overwrite their part.
      for (let c = 0; c < 3; c++) out.fill(padValues[c], c * plane, (c + 1) * plane);
    }
    for (let y = 0; y < ch; y++) {
      let s = y * rowBytes;
      let o = (y + padTop) * W + padLeft;
      const end = o + cw;
      for (; o < end; o++, s += C) {
        out[o] = t0[src[s + s0]];
        out[o + plane] = t1[src[s + s1]];
        out[o + 2 * plane] = t2[src[s + s2]];
      }
    }
    return out;
  }

  if (hasPadding) {
    const [p0, p1, p2] = padValues;
    for (let o = 0; o < out.length; o += 3) {
      out[o] = p0;
      out[o + 1] = p1;
      out[o + 2] = p2;
    }
  }
  for (let y = 0; y < ch; y++) {
    let s = y * rowBytes;
    let o = ((y + padTop) * W + padLeft) * 3;
    const end = o + cw * 3;
    for (; o < end; o += 3, s += C) {
      out[o] = t0[src[s + s0]];
      out[o + 1] = t1[src[s + s1]];
      out[o + 2] = t2[src[s + s2]];
    }
  }
  return out;
}

/**
 * Tensor of an image that already has the model's input size (e.g. one the caller resized itself).
 * Accepts 1 (grey), 3 (RGB) or 4 (RGBA, alpha ignored) channels.
 */
export function rawToTensor(raw: RawImage, input: InputSpec): Float32Array {
  if (raw.width !== input.width || raw.height !== input.height) {
    throw new RangeError(
      `image is ${raw.width}x${raw.height}, the model input is ${input.width}x${input.height}`,
    );
  }
  return fillTensor(
    raw,
    { padLeft: 0, padTop: 0, contentWidth: raw.width, contentHeight: raw.height },
    input,
  );
}
