/**
 * The annotate page's canvas: the image with the label being edited laid over it, painted with the pointer
 * (mouse, pen or finger). The label's colour layer is an offscreen canvas at the image's resolution, updated only
 * in the rectangle a stroke touched, then composited over the image at the chosen opacity, so painting stays
 * smooth on large images.
 */
import { colorForIndex, type Rgb } from '../../src/masks/palette.js';
import { h } from './dom';
import type { LabelState, Rect, Tool } from './label-state';
import { drawBase } from './overlay';

export interface Brush {
  tool: Tool;
  /** Class the brush paints (semantic), or gives a new instance (instance models). */
  classId: number;
  /** Diameter in image pixels. */
  size: number;
}

function context2d(canvas: HTMLCanvasElement): CanvasRenderingContext2D {
  const ctx = canvas.getContext('2d');
  if (!ctx) throw new Error('this browser cannot draw on a canvas');
  return ctx;
}

/** Instances other than the selected one are drawn fainter, so the one being edited stands out. */
const OTHER_INSTANCE_ALPHA = 130;

export class LabelCanvas {
  readonly element: HTMLCanvasElement;
  opacity = 0.55;
  /** false hides the label to look at the image alone. */
  showLabel = true;
  private readonly layer: HTMLCanvasElement;
  private readonly pixels: ImageData;
  private cursor: { x: number; y: number } | null = null;
  private last: { x: number; y: number } | null = null;
  /** The pointer painting the stroke in progress: a second finger neither starts nor bends it. */
  private pointer: number | null = null;

  constructor(
    private readonly state: LabelState,
    private readonly image: HTMLImageElement | null,
    private readonly brush: () => Brush,
    /** Called when a stroke ends (the label changed). */
    private readonly changed: () => void,
  ) {
    const { width, height } = state;
    this.element = h('canvas', {
      width,
      height,
      class: 'label-canvas',
      role: 'img',
      'data-testid': 'annotate-canvas',
      'aria-label': 'The image with the label being edited; paint on it with the brush or the eraser',
    });
    // Fills the width available, at most 70% of the window's height, keeping the image's proportions.
    this.element.style.aspectRatio = `${width} / ${height}`;
    this.element.style.maxWidth = `min(100%, calc(70vh * ${width / height}))`;
    // Small images are shown larger than they are: show their pixels, which is what is painted.
    if (width < 512) this.element.style.imageRendering = 'pixelated';
    this.layer = h('canvas', { width, height });
    this.pixels = new ImageData(width, height);
    this.listen();
    this.repaint({ x0: 0, y0: 0, x1: width, y1: height });
  }

  /** Repaints the whole label (after undo, redo, a deleted instance, another selection). */
  refresh(): void {
    this.repaint({ x0: 0, y0: 0, x1: this.state.width, y1: this.state.height });
  }

  private listen(): void {
    const canvas = this.element;
    canvas.addEventListener('pointerdown', (event) => {
      if (event.button !== 0 || this.pointer !== null) return;
      event.preventDefault();
      this.pointer = event.pointerId;
      canvas.setPointerCapture(event.pointerId);
      const point = this.point(event);
      const brush = this.brush();
      this.state.beginStroke(brush.tool, brush.classId);
      this.last = point;
      this.cursor = point;
      this.paint(point, point);
    });
    canvas.addEventListener('pointermove', (event) => {
      if (this.pointer !== null && event.pointerId !== this.pointer) return;
      this.cursor = this.point(event);
      if (this.last) {
        // The browser may merge several moves into one event; painting through each keeps curves exact.
        const moves = event.getCoalescedEvents?.() ?? [];
        for (const move of moves.length > 0 ? moves : [event]) {
          const point = this.point(move);
          this.paint(this.last, point);
          this.last = point;
        }
      } else this.composite();
    });
    const end = (event: PointerEvent) => {
      if (event.pointerId !== this.pointer) return;
      this.pointer = null;
      this.last = null;
      this.state.endStroke();
      this.refresh();
      this.changed();
    };
    canvas.addEventListener('pointerup', end);
    canvas.addEventListener('pointercancel', end);
    canvas.addEventListener('pointerleave', () => {
      this.cursor = null;
      this.composite();
    });
  }

  /** The image coordinates (pixel borders: pixel (x, y) spans [x, x+1)) under the pointer. */
  private point(event: PointerEvent): { x: number; y: number } {
    const rect = this.element.getBoundingClientRect();
    return {
      x: ((event.clientX - rect.left) * this.state.width) / rect.width,
      y: ((event.clientY - rect.top) * this.state.height) / rect.height,
    };
  }

  private paint(from: { x: number; y: number }, to: { x: number; y: number }): void {
    const rect = this.state.paintSegment(from.x, from.y, to.x, to.y, this.brush().size / 2);
    if (rect) this.repaint(rect);
  }

  /** Recolours the layer inside `rect` from the state, then redraws the canvas. */
  private repaint(rect: Rect): void {
    const { state, pixels } = this;
    const { width } = state;
    const data = pixels.data;
    for (let y = rect.y0; y < rect.y1; y++) {
      for (let x = rect.x0; x < rect.x1; x++) {
        const i = y * width + x;
        const [color, alpha] = this.colorAt(i);
        data[i * 4] = color[0];
        data[i * 4 + 1] = color[1];
        data[i * 4 + 2] = color[2];
        data[i * 4 + 3] = alpha;
      }
    }
    const w = rect.x1 - rect.x0;
    const hgt = rect.y1 - rect.y0;
    if (w > 0 && hgt > 0) context2d(this.layer).putImageData(pixels, 0, 0, rect.x0, rect.y0, w, hgt);
    this.composite();
  }

  private colorAt(i: number): [Rgb, number] {
    const { state } = this;
    if (!state.isInstance) {
      const classId = state.map[i];
      return classId === 0 ? [[0, 0, 0], 0] : [colorForIndex(classId), 255];
    }
    // Later instances are drawn over earlier ones, as in the server's overlay.
    for (let k = state.instances.length - 1; k >= 0; k--) {
      if (state.instances[k].mask[i])
        return [colorForIndex(k), k === state.selected ? 255 : OTHER_INSTANCE_ALPHA];
    }
    return [[0, 0, 0], 0];
  }

  /** The image, the label at its opacity, and the brush outline under the pointer. */
  composite(): void {
    const { width, height } = this.state;
    const ctx = context2d(this.element);
    drawBase(ctx, this.image, width, height);
    if (this.showLabel) {
      ctx.globalAlpha = this.opacity;
      ctx.drawImage(this.layer, 0, 0);
      ctx.globalAlpha = 1;
    }
    if (this.cursor) {
      const rect = this.element.getBoundingClientRect();
      const onePixel = rect.width > 0 ? width / rect.width : 1;
      const { size, tool } = this.brush();
      // Dark under light, so the outline shows on any image; dashed for the eraser.
      ctx.beginPath();
      ctx.arc(this.cursor.x, this.cursor.y, Math.max(size / 2, onePixel), 0, Math.PI * 2);
      ctx.setLineDash(tool === 'eraser' ? [4 * onePixel, 3 * onePixel] : []);
      ctx.lineWidth = 3 * onePixel;
      ctx.strokeStyle = 'rgb(0 0 0 / 70%)';
      ctx.stroke();
      ctx.lineWidth = 1.25 * onePixel;
      ctx.strokeStyle = '#ffffff';
      ctx.stroke();
      ctx.setLineDash([]);
    }
  }
}
