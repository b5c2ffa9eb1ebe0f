/**
 * Overlay images: masks blended into the picture in plain loops (only over each mask's crop), then boxes,
 * caption tags and legends drawn as one SVG that sharp composites on top.
 */
import sharp from 'sharp';
import { SegserveError } from '../errors.js';
import type { RawImage } from '../image/types.js';
import { maskBbox } from './crop.js';
import type { Rgb } from './palette.js';
import type { CroppedMask } from './types.js';

export interface OverlayInstance {
  mask: CroppedMask;
  color: Rgb;
  /** [x, y, width, height] in image pixels. */
  box?: [number, number, number, number];
  /** Shown on a tag in the instance's colour, e.g. "person 0.82". */
  caption?: string;
}

export type OverlayInput =
  | { kind: 'instances'; instances: OverlayInstance[] }
  | {
      kind: 'classmap';
      classMap: Uint8Array;
      width: number;
      height: number;
      /** Colour by class index; null (or missing) = not drawn, e.g. background. */
      colors: Array<Rgb | null>;
      /** Legend text by class index, listed for the drawn classes present in the map. */
      captions?: string[];
    };

export interface OverlayOptions {
  /** Mask opacity, 0..1 (default 0.5). */
  alpha?: number;
  /** Draw instance boxes (default true). */
  drawBoxes?: boolean;
  /** Draw instance caption tags and the class-map legend (default true). */
  drawCaptions?: boolean;
  /** Output format (default 'png'). */
  format?: 'png' | 'jpeg';
  /** Paint each mask's edge in its full colour (default true). */
  outline?: boolean;
}

const FONT_FAMILY = 'DejaVu Sans, Arial, Helvetica, sans-serif';

/** Renders masks (and boxes, captions) over the image; returns an RGB PNG or JPEG of the image's size. */
export async function renderOverlay(
  image: RawImage,
  input: OverlayInput,
  options: OverlayOptions = {},
): Promise<Buffer> {
  const { width, height } = image;
  const rgb = toRgb(image);
  const alpha = options.alpha ?? 0.5;
  if (!(alpha >= 0 && alpha <= 1)) {
    throw new SegserveError('INVALID_ARGUMENT', {
      reason: `overlay alpha must be within 0..1, got ${alpha}`,
    });
  }
  // Fixed-point weight out of 256 keeps the blend in integer arithmetic.
  const weight = Math.round(alpha * 256);
  // A 1 px edge disappears when a large overlay is viewed scaled down.
  const edge = options.outline === false ? 0 : Math.max(width, height) >= 1000 ? 2 : 1;
  const style = textStyle(width, height);
  const svg: string[] = [];

  if (input.kind === 'instances') {
    for (const instance of input.instances) {
      blendInstance(rgb, width, height, instance.mask, instance.color, weight, edge);
    }
    for (const instance of input.instances) {
      const box = instance.box ?? maskBbox(instance.mask);
      if (instance.box && options.drawBoxes !== false)
        svg.push(boxElement(instance.box, instance.color, style));
      if (instance.caption && options.drawCaptions !== false && box[2] > 0) {
        svg.push(tagElement(instance.caption, box, instance.color, style, width));
      }
    }
  } else {
    if (input.width !== width || input.height !== height || input.classMap.length !== width * height) {
      throw new SegserveError('INVALID_ARGUMENT', {
        reason: `class map ${input.width}x${input.height} (${input.classMap.length} values) does not match the ${width}x${height} image`,
      });
    }
    const present = blendClassMap(rgb, input.classMap, width, height, input.colors, weight, edge);
    if (input.captions && options.drawCaptions !== false) {
      const rows: Array<{ text: string; color: Rgb }> = [];
      input.colors.forEach((color, classId) => {
        const text = input.captions?.[classId];
        if (color && text && present[classId]) rows.push({ text, color });
      });
      if (rows.length > 0) svg.push(legendElement(rows, style));
    }
  }

  let pipeline = sharp(rgb, { raw: { width, height, channels: 3 } });
  if (svg.length > 0) {
    const document = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">${svg.join('')}</svg>`;
    // Composite first and flatten the result, so the encoder gets three channels and no alpha.
    const composited = await pipeline
      .composite([{ input: Buffer.from(document), left: 0, top: 0 }])
      .removeAlpha()
      .raw()
      .toBuffer();
    pipeline = sharp(composited, { raw: { width, height, channels: 3 } });
  }
  return options.format === 'jpeg' ? pipeline.jpeg({ quality: 90 }).toBuffer() : pipeline.png().toBuffer();
}

/** Copies any 1-, 3- or 4-channel image to RGB; alpha is dropped (the overlay is opaque). */
function toRgb(image: RawImage): Uint8Array {
  const { width, height, channels, data } = image;
  if (![1, 3, 4].includes(channels) || data.length !== width * height * channels || width < 1 || height < 1) {
    throw new SegserveError('INVALID_ARGUMENT', {
      reason: `raw image ${width}x${height}x${channels} does not match its ${data.length} bytes`,
    });
  }
  if (channels === 3) return Uint8Array.from(data);
  const rgb = new Uint8Array(width * height * 3);
  for (let i = 0, j = 0; j < rgb.length; i += channels, j += 3) {
    rgb[j] = data[i];
    rgb[j + 1] = data[channels === 1 ? i : i + 1];
    rgb[j + 2] = data[channels === 1 ? i : i + 2];
  }
  return rgb;
}

function blendInstance(
  rgb: Uint8Array,
  width: number,
  height: number,
  mask: CroppedMask,
  color: Rgb,
  weight: number,
  edge: number,
): void {
  const { left, top, cropWidth: cw, cropHeight: ch, data } = mask;
  if (
    mask.width !== width ||
    mask.height !== height ||
    left < 0 ||
    top < 0 ||
    left + cw > width ||
    top + ch > height ||
    data.length !== cw * ch
  ) {
    throw new SegserveError('INVALID_ARGUMENT', {
      reason: `instance mask ${cw}x${ch} at (${left}, ${top}) of a ${mask.width}x${mask.height} image does not fit the ${width}x${height} image`,
    });
  }
  const [r, g, b] = color;
  const keep = 256 - weight;
  const rw = r * weight + 128;
  const gw = g * weight + 128;
  const bw = b * weight + 128;
  // Inside the crop, a pixel is on the edge when a mask pixel within `edge` steps (4 directions) is off;
  // pixels beyond the crop count as off.
  const off = (x: number, y: number): boolean =>
    x < 0 || y < 0 || x >= cw || y >= ch || data[y * cw + x] === 0;
  for (let y = 0; y < ch; y++) {
    let o = ((top + y) * width + left) * 3;
    for (let x = 0; x < cw; x++, o += 3) {
      if (data[y * cw + x] === 0) continue;
      let isEdge = false;
      for (let d = 1; d <= edge && !isEdge; d++) {
        isEdge = off(x - d, y) || off(x + d, y) || off(x, y - d) || off(x, y + d);
      }
      if (isEdge) {
        rgb[o] = r;
        rgb[o + 1] = g;
        rgb[o + 2] = b;
      } else {
        rgb[o] = (rgb[o] * keep + rw) >> 8;
        rgb[o + 1] = (rgb[o + 1] * keep + gw) >> 8;
        rgb[o + 2] = (rgb[o + 2] * keep + bw) >> 8;
      }
    }
  }
}

/** Tints every pixel of a drawn class; returns which class indices occur in drawn pixels. */
function blendClassMap(
  rgb: Uint8Array,
  classMap: Uint8Array,
  width: number,
  height: number,
  colors: Array<Rgb | null>,
  weight: number,
  edge: number,
): boolean[] {
  const keep = 256 - weight;
  // Per class: whether it is drawn, its colour, and colour x weight (+ rounding), precomputed once.
  const drawn = new Uint8Array(256);
  const solid = new Uint8Array(256 * 3);
  const tint = new Int32Array(256 * 3);
  colors.forEach((color, c) => {
    if (!color || c > 255) return;
    drawn[c] = 1;
    for (let k = 0; k < 3; k++) {
      solid[c * 3 + k] = color[k];
      tint[c * 3 + k] = color[k] * weight + 128;
    }
  });
  const present: boolean[] = new Array(256).fill(false);
  const differs = (c: number, x: number, y: number): boolean =>
    x >= 0 && y >= 0 && x < width && y < height && classMap[y * width + x] !== c;
  for (let y = 0, i = 0; y < height; y++) {
    for (let x = 0; x < width; x++, i++) {
      const c = classMap[i];
      if (drawn[c] === 0) continue;
      present[c] = true;
      const o = i * 3;
      let isEdge = false;
      for (let d = 1; d <= edge && !isEdge; d++) {
        isEdge = differs(c, x - d, y) || differs(c, x + d, y) || differs(c, x, y - d) || differs(c, x, y + d);
      }
      if (isEdge) {
        rgb[o] = solid[c * 3];
        rgb[o + 1] = solid[c * 3 + 1];
        rgb[o + 2] = solid[c * 3 + 2];
      } else {
        rgb[o] = (rgb[o] * keep + tint[c * 3]) >> 8;
        rgb[o + 1] = (rgb[o + 1] * keep + tint[c * 3 + 1]) >> 8;
        rgb[o + 2] = (rgb[o + 2] * keep + tint[c * 3 + 2]) >> 8;
      }
    }
  }
  return present;
}

interface TextStyle {
  fontSize: number;
  padding: number;
  stroke: number;
}

/** Text and lines scale with the image so captions stay legible on large photos and fit on small ones. */
function textStyle(width: number, height: number): TextStyle {
  const short = Math.min(width, height);
  const fontSize = Math.min(24, Math.max(10, Math.round(short / 30)));
  return {
    fontSize,
    padding: Math.max(2, Math.round(fontSize / 4)),
    stroke: Math.max(1, Math.round(short / 250)),
  };
}

/** Rough advance of DejaVu Sans at this size; the tag only needs to be wide enough, not exact. */
function textWidth(text: string, fontSize: number): number {
  return Math.ceil(text.length * fontSize * 0.62);
}

/** Escapes markup and drops control characters, which XML 1.0 forbids even as references. */
function escapeXml(text: string): string {
  let out = '';
  for (const c of text) {
    const code = c.charCodeAt(0);
    if (code < 0x20 && c !== '\t' && c !== '\n' && c !== '\r') continue;
    out += '&<>"\''.includes(c) ? `&#${code};` : c;
  }
  return out;
}

function cssColor([r, g, b]: Rgb): string {
  return `rgb(${r},${g},${b})`;
}

/** Black text on light colours, white on dark ones (relative luminance). */
function textColorOn([r, g, b]: Rgb): string {
  return 0.2126 * r + 0.7152 * g + 0.0722 * b > 140 ? '#000' : '#fff';
}

/** The stroke is inset by half its width so it covers whole pixels inside the box instead of blurring across its edge. */
function boxElement(box: [number, number, number, number], color: Rgb, style: TextStyle): string {
  const [x, y, w, h] = box;
  const inset = style.stroke / 2;
  return `<rect x="${x + inset}" y="${y + inset}" width="${Math.max(0, w - style.stroke)}" height="${Math.max(0, h - style.stroke)}" fill="none" stroke="${cssColor(color)}" stroke-width="${style.stroke}"/>`;
}

/** A filled tag above the box's top-left corner, or just inside it when the box touches the top edge. */
function tagElement(
  caption: string,
  box: [number, number, number, number],
  color: Rgb,
  style: TextStyle,
  imageWidth: number,
): string {
  const { fontSize, padding } = style;
  const tagWidth = textWidth(caption, fontSize) + 2 * padding;
  const tagHeight = fontSize + 2 * padding;
  const x = Math.max(0, Math.min(box[0], imageWidth - tagWidth));
  const y = box[1] - tagHeight >= 0 ? box[1] - tagHeight : Math.max(0, box[1]);
  return (
    `<rect x="${x}" y="${y}" width="${tagWidth}" height="${tagHeight}" fill="${cssColor(color)}"/>` +
    `<text x="${x + padding}" y="${y + padding + fontSize * 0.8}" font-family="${FONT_FAMILY}" font-size="${fontSize}" fill="${textColorOn(color)}">${escapeXml(caption)}</text>`
  );
}

/** Legend in the top-left corner: one swatch and caption per drawn class, on a dark translucent panel. */
function legendElement(rows: Array<{ text: string; color: Rgb }>, style: TextStyle): string {
  const { fontSize, padding } = style;
  const rowHeight = fontSize + padding;
  const panelWidth = padding * 3 + fontSize + Math.max(...rows.map((row) => textWidth(row.text, fontSize)));
  const parts = [
    `<rect x="0" y="0" width="${panelWidth}" height="${rows.length * rowHeight + padding}" fill="rgb(0,0,0)" fill-opacity="0.6"/>`,
  ];
  rows.forEach((row, i) => {
    const y = padding + i * rowHeight;
    parts.push(
      `<rect x="${padding}" y="${y}" width="${fontSize}" height="${fontSize}" fill="${cssColor(row.color)}"/>`,
      `<text x="${2 * padding + fontSize}" y="${y + fontSize * 0.85}" font-family="${FONT_FAMILY}" font-size="${fontSize}" fill="#fff">${escapeXml(row.text)}</text>`,
    );
  });
  return parts.join('');
}
