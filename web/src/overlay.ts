/**
 * Draws masks over the image on a canvas, at the image's own resolution. The visible masks are painted once into
 * an opaque colour layer (and a map of which region owns each pixel); opacity, hover and boxes are then only
 * canvas compositing, so sliders and hover stay instant however many masks there are.
 */
import type { Rgb } from '../../src/masks/palette.js';
import type { Box } from '../../src/tasks/types.js';
import { forEachSpan, rleBox } from './rle';

export interface Region {
  /** Position in the answer's list (instances or classes): what the owner map and the UI refer to. */
  index: number;
  classId: number;
  label: string;
  color: Rgb;
  /** The mask's RLE counts (column-major runs). */
  counts: number[];
  box: Box;
  /** Instances only: drawn on a tag above the box, e.g. "person 0.91". */
  caption?: string;
}

export interface DrawOptions {
  opacity: number;
  /** Boxes and caption tags of the visible regions that have a caption. */
  boxes: boolean;
  hovered: Region | null;
}

function canvas(width: number, height: number): HTMLCanvasElement {
  const element = document.createElement('canvas');
  element.width = width;
  element.height = height;
  return element;
}

function context2d(element: HTMLCanvasElement): CanvasRenderingContext2D {
  const ctx = element.getContext('2d');
  if (!ctx) throw new Error('this browser cannot draw on a canvas');
  return ctx;
}

const css = ([r, g, b]: Rgb, alpha = 1) => `rgba(${r}, ${g}, ${b}, ${alpha})`;

/** Black or white text, whichever reads better on the colour (WCAG relative luminance, roughly). */
function textColor([r, g, b]: Rgb): string {
  return 0.2126 * r + 0.7152 * g + 0.0722 * b > 140 ? '#111' : '#fff';
}

export class Overlay {
  readonly width: number;
  readonly height: number;
  private readonly layer: HTMLCanvasElement;
  /** Region index owning each pixel of the layer, -1 where none is visible. */
  private readonly owner: Int32Array;
  private visible: Region[] = [];
  private highlight: { region: Region; layer: HTMLCanvasElement } | null = null;

  constructor(width: number, height: number) {
    this.width = width;
    this.height = height;
    this.layer = canvas(width, height);
    this.owner = new Int32Array(width * height).fill(-1);
  }

  /** Repaints the colour layer with `regions`, in order: a later region wins where masks overlap. */
  show(regions: Region[]): void {
    const { width, height, owner } = this;
    const image = new ImageData(width, height);
    const data = image.data;
    owner.fill(-1);
    for (const region of regions) {
      const [r, g, b] = region.color;
      forEachSpan(region.counts, height, (x, yStart, yEnd) => {
        for (let y = yStart, i = yStart * width + x; y < yEnd; y++, i += width) {
          data[i * 4] = r;
          data[i * 4 + 1] = g;
          data[i * 4 + 2] = b;
          data[i * 4 + 3] = 255;
          owner[i] = region.index;
        }
      });
    }
    context2d(this.layer).putImageData(image, 0, 0);
    this.visible = regions;
  }

  /** Index of the visible region drawn at image pixel (x, y), or -1. */
  regionAt(x: number, y: number): number {
    const px = Math.floor(x);
    const py = Math.floor(y);
    if (px < 0 || py < 0 || px >= this.width || py >= this.height) return -1;
    return this.owner[py * this.width + px];
  }

  /** The image (or a neutral grey when the browser cannot show it), then masks, highlight, boxes and tags. */
  draw(target: HTMLCanvasElement, base: CanvasImageSource | null, options: DrawOptions): void {
    const ctx = context2d(target);
    drawBase(ctx, base, this.width, this.height);
    ctx.globalAlpha = options.opacity;
    ctx.drawImage(this.layer, 0, 0);
    ctx.globalAlpha = 1;
    if (options.hovered) ctx.drawImage(this.highlightOf(options.hovered), 0, 0);
    if (options.boxes) this.drawBoxes(ctx, options.hovered);
  }

  /** The hovered region alone: a stronger tint and a white outline, so it stands out under any opacity. */
  private highlightOf(region: Region): HTMLCanvasElement {
    if (this.highlight?.region === region) return this.highlight.layer;
    const { width, height } = this;
    // The mask's own bounds, not the instance box: a decoder may let a mask reach past its box.
    const [left, top, boxWidth, boxHeight] = rleBox(region.counts, height);
    const inside = new Uint8Array(boxWidth * boxHeight);
    forEachSpan(region.counts, height, (x, yStart, yEnd) => {
      for (let y = yStart; y < yEnd; y++) inside[(y - top) * boxWidth + (x - left)] = 1;
    });
    const image = new ImageData(Math.max(boxWidth, 1), Math.max(boxHeight, 1));
    const [r, g, b] = region.color;
    const at = (x: number, y: number) =>
      x >= 0 && y >= 0 && x < boxWidth && y < boxHeight && inside[y * boxWidth + x] === 1;
    for (let y = 0; y < boxHeight; y++) {
      for (let x = 0; x < boxWidth; x++) {
        if (!at(x, y)) continue;
        const edge = !at(x - 1, y) || !at(x + 1, y) || !at(x, y - 1) || !at(x, y + 1);
        const o = (y * boxWidth + x) * 4;
        image.data[o] = edge ? 255 : r;
        image.data[o + 1] = edge ? 255 : g;
        image.data[o + 2] = edge ? 255 : b;
        image.data[o + 3] = edge ? 255 : 110;
      }
    }
    const layer = canvas(width, height);
    if (boxWidth > 0 && boxHeight > 0) context2d(layer).putImageData(image, left, top);
    this.highlight = { region, layer };
    return layer;
  }

  private drawBoxes(ctx: CanvasRenderingContext2D, hovered: Region | null): void {
    const longSide = Math.max(this.width, this.height);
    const line = Math.max(2, Math.round(longSide / 400));
    const font = Math.max(12, Math.round(longSide / 45));
    ctx.font = `600 ${font}px system-ui, sans-serif`;
    ctx.textBaseline = 'middle';
    for (const region of this.visible) {
      if (region.caption === undefined) continue;
      const [x, y, w, h] = region.box;
      ctx.lineWidth = region === hovered ? line * 2 : line;
      ctx.strokeStyle = css(region.color);
      ctx.strokeRect(x, y, w, h);
      const tagHeight = Math.round(font * 1.4);
      const tagWidth = Math.ceil(ctx.measureText(region.caption).width) + font;
      // Above the box when there is room, else just inside its top edge; never past the right border.
      const tagX = Math.max(0, Math.min(x - line / 2, this.width - tagWidth));
      const tagY = y - tagHeight >= 0 ? y - tagHeight : y;
      ctx.fillStyle = css(region.color);
      ctx.fillRect(tagX, tagY, tagWidth, tagHeight);
      ctx.fillStyle = textColor(region.color);
      ctx.fillText(region.caption, tagX + font / 2, tagY + tagHeight / 2);
    }
  }
}

export function drawBase(
  ctx: CanvasRenderingContext2D,
  base: CanvasImageSource | null,
  width: number,
  height: number,
): void {
  ctx.clearRect(0, 0, width, height);
  if (base) ctx.drawImage(base, 0, 0, width, height);
  else {
    ctx.fillStyle = '#808080';
    ctx.fillRect(0, 0, width, height);
  }
}
