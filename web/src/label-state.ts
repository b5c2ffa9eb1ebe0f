/**
 * The label being edited on the annotate page, without any DOM: a class map (semantic and binary models) or a
 * list of instance masks (instance models), brush and eraser strokes, instances added, deleted and reclassed,
 * undo and redo, and the label to submit. Masks are whole-image byte arrays: an annotator edits one image at a
 * time, and painting a byte is what a brush does.
 *
 * A stroke paints every pixel whose centre lies within the brush radius of the path the pointer took (the path
 * as straight segments between pointer positions), so what is painted follows from the geometry alone.
 */

import type { LabelBodyJson } from '../../src/learning/annotations/types.js';
import type { LabelDocument } from '../../src/learning/label-document.js';
import { decodeRle, toCompressedRle } from '../../src/masks/rle.js';

export type Tool = 'brush' | 'eraser';

export interface Instance {
  classId: number;
  mask: Uint8Array;
}

/** A rectangle of image pixels [x0, x1) x [y0, y1): what a change touched, for a partial redraw. */
export interface Rect {
  x0: number;
  y0: number;
  x1: number;
  y1: number;
}

interface Edit {
  undo(): void;
  redo(): void;
}

/** Undo steps kept; older ones are dropped (each stroke keeps only the pixels it changed). */
const UNDO_LIMIT = 200;

/** Pixels whose centre is within `radius` of the segment (ax, ay)-(bx, by), clipped to the image. */
export function forEachPixelNear(
  ax: number,
  ay: number,
  bx: number,
  by: number,
  radius: number,
  width: number,
  height: number,
  visit: (index: number) => void,
): Rect {
  const x0 = Math.max(0, Math.floor(Math.min(ax, bx) - radius));
  const y0 = Math.max(0, Math.floor(Math.min(ay, by) - radius));
  const x1 = Math.min(width, Math.ceil(Math.max(ax, bx) + radius) + 1);
  const y1 = Math.min(height, Math.ceil(Math.max(ay, by) + radius) + 1);
  const dx = bx - ax;
  const dy = by - ay;
  const length2 = dx * dx + dy * dy;
  const r2 = radius * radius;
  for (let y = y0; y < y1; y++) {
    const cy = y + 0.5;
    for (let x = x0; x < x1; x++) {
      const cx = x + 0.5;
      // The nearest point of the segment to the pixel centre: its projection, clamped to the ends.
      const t = length2 === 0 ? 0 : Math.max(0, Math.min(1, ((cx - ax) * dx + (cy - ay) * dy) / length2));
      const ex = cx - (ax + t * dx);
      const ey = cy - (ay + t * dy);
      if (ex * ex + ey * ey <= r2) visit(y * width + x);
    }
  }
  return { x0, y0, x1: Math.max(x0, x1), y1: Math.max(y0, y1) };
}

/** One stroke in progress: records the first value of every pixel it changes, for its undo step. */
class Stroke {
  private readonly before = new Map<number, number>();

  constructor(
    private readonly target: Uint8Array,
    private readonly value: number,
  ) {}

  paint(index: number): void {
    const old = this.target[index];
    if (old === this.value) return;
    if (!this.before.has(index)) this.before.set(index, old);
    this.target[index] = this.value;
  }

  /** The stroke as an undo step, or undefined when it changed nothing. */
  finish(): Edit | undefined {
    if (this.before.size === 0) return undefined;
    const indices = Int32Array.from(this.before.keys());
    const old = Uint8Array.from(this.before.values());
    const { target, value } = this;
    return {
      undo: () => {
        for (let k = 0; k < indices.length; k++) target[indices[k]] = old[k];
      },
      redo: () => {
        for (const index of indices) target[index] = value;
      },
    };
  }
}

export class LabelState {
  readonly width: number;
  readonly height: number;
  readonly task: LabelDocument['task'];
  readonly labels: readonly string[];
  /** Semantic and binary: the class id of every pixel, row-major. */
  readonly map: Uint8Array;
  /** Instance models: the instances, later ones drawn over earlier ones. */
  readonly instances: Instance[] = [];
  /** The instance brush and eraser work on; -1 when none is selected. */
  selected = -1;
  private readonly initial: { map: Uint8Array; instances: Instance[] };
  private readonly undoStack: Edit[] = [];
  private readonly redoStack: Edit[] = [];
  private stroke: { stroke: Stroke; instance?: Instance } | undefined;
  /** An instance the stroke being painted added: undone together with the stroke, dropped if it paints nothing. */
  private pendingAdd: Edit | undefined;

  constructor(prediction: LabelDocument) {
    const { width, height, task, labels } = prediction;
    this.width = width;
    this.height = height;
    this.task = task;
    this.labels = labels;
    this.map = new Uint8Array(width * height);
    for (const segment of prediction.segments) {
      const mask = decodeRle(segment.rle).data;
      if (task === 'instance') this.instances.push({ classId: segment.class_id, mask });
      else for (let i = 0; i < mask.length; i++) if (mask[i]) this.map[i] = segment.class_id;
    }
    this.selected = this.instances.length > 0 ? 0 : -1;
    this.initial = {
      map: this.map.slice(),
      instances: nonEmpty(this.instances).map((instance) => ({ ...instance, mask: instance.mask.slice() })),
    };
  }

  get isInstance(): boolean {
    return this.task === 'instance';
  }

  /** The classes a person paints with: all of them for instances, all but the background (0) otherwise. */
  get paintClasses(): number[] {
    const ids = this.labels.map((_, id) => id);
    return this.isInstance ? ids : ids.slice(1);
  }

  get canUndo(): boolean {
    return this.undoStack.length > 0;
  }

  get canRedo(): boolean {
    return this.redoStack.length > 0;
  }

  /**
   * Starts a stroke. Semantic: the brush paints `classId`, the eraser paints background. Instances: both work on
   * the selected instance; the brush with none selected first adds an instance of `classId`.
   */
  beginStroke(tool: Tool, classId: number): void {
    if (!this.isInstance) {
      this.stroke = { stroke: new Stroke(this.map, tool === 'brush' ? classId : 0) };
      return;
    }
    let instance = this.instances[this.selected];
    let added: Edit | undefined;
    if (!instance) {
      if (tool === 'eraser') return;
      added = this.addInstanceEdit(classId);
      added.redo();
      instance = this.instances[this.selected];
    }
    this.stroke = { stroke: new Stroke(instance.mask, tool === 'brush' ? 1 : 0), instance };
    if (added) this.pendingAdd = added;
  }

  /** Paints along the segment; answers what changed on screen (the segment's neighbourhood). */
  paintSegment(ax: number, ay: number, bx: number, by: number, radius: number): Rect | undefined {
    const current = this.stroke;
    if (!current) return undefined;
    return forEachPixelNear(ax, ay, bx, by, radius, this.width, this.height, (index) =>
      current.stroke.paint(index),
    );
  }

  endStroke(): void {
    const current = this.stroke;
    this.stroke = undefined;
    if (!current) return;
    const painted = current.stroke.finish();
    const added = this.pendingAdd;
    this.pendingAdd = undefined;
    if (added && painted) {
      this.record({
        undo: () => {
          painted.undo();
          added.undo();
        },
        redo: () => {
          added.redo();
          painted.redo();
        },
      });
    } else if (added) added.undo();
    else if (painted) this.record(painted);
  }

  /** Adds an empty instance of `classId` and selects it: the brush then paints it. */
  addInstance(classId: number): void {
    const edit = this.addInstanceEdit(classId);
    edit.redo();
    this.record(edit);
  }

  private addInstanceEdit(classId: number): Edit {
    const instance: Instance = { classId, mask: new Uint8Array(this.width * this.height) };
    const previous = this.selected;
    return {
      redo: () => {
        this.instances.push(instance);
        this.selected = this.instances.length - 1;
      },
      undo: () => {
        this.instances.splice(this.instances.indexOf(instance), 1);
        this.selected = previous;
      },
    };
  }

  deleteInstance(index: number): void {
    const instance = this.instances[index];
    if (!instance) return;
    const previous = this.selected;
    const edit: Edit = {
      redo: () => {
        this.instances.splice(index, 1);
        this.selected = Math.min(index, this.instances.length - 1);
      },
      undo: () => {
        this.instances.splice(index, 0, instance);
        this.selected = previous;
      },
    };
    edit.redo();
    this.record(edit);
  }

  /** Gives an instance another class. */
  setInstanceClass(index: number, classId: number): void {
    const instance = this.instances[index];
    if (!instance || instance.classId === classId) return;
    const old = instance.classId;
    const edit: Edit = {
      redo: () => {
        instance.classId = classId;
      },
      undo: () => {
        instance.classId = old;
      },
    };
    edit.redo();
    this.record(edit);
  }

  select(index: number): void {
    this.selected = index >= 0 && index < this.instances.length ? index : -1;
  }

  undo(): boolean {
    const edit = this.undoStack.pop();
    if (!edit) return false;
    edit.undo();
    this.redoStack.push(edit);
    return true;
  }

  redo(): boolean {
    const edit = this.redoStack.pop();
    if (!edit) return false;
    edit.redo();
    this.undoStack.push(edit);
    return true;
  }

  private record(edit: Edit): void {
    this.undoStack.push(edit);
    if (this.undoStack.length > UNDO_LIMIT) this.undoStack.shift();
    this.redoStack.length = 0;
  }

  /** Whether the label differs from the prediction it started from. */
  get changed(): boolean {
    if (!this.isInstance) return !sameBytes(this.map, this.initial.map);
    const now = nonEmpty(this.instances);
    const before = this.initial.instances;
    return (
      now.length !== before.length ||
      now.some(
        (instance, i) => instance.classId !== before[i].classId || !sameBytes(instance.mask, before[i].mask),
      )
    );
  }

  /** Pixels of instance `index`. */
  area(index: number): number {
    const mask = this.instances[index]?.mask;
    let area = 0;
    if (mask) for (let i = 0; i < mask.length; i++) area += mask[i];
    return area;
  }

  /**
   * What to submit: the prediction unchanged is sent as accepted; anything else as COCO RLE, one segment per
   * class present (semantic) or per instance that has pixels.
   */
  submission(): LabelBodyJson {
    if (!this.changed) return { format: 'accept' };
    const { width, height } = this;
    if (this.isInstance) {
      return {
        format: 'rle',
        segments: nonEmpty(this.instances).map((instance) => ({
          class_id: instance.classId,
          rle: toCompressedRle({ width, height, data: instance.mask }),
        })),
      };
    }
    const present = new Set(this.map);
    present.delete(0);
    return {
      format: 'rle',
      segments: [...present]
        .sort((a, b) => a - b)
        .map((classId) => ({
          class_id: classId,
          rle: toCompressedRle({ width, height, data: this.map.map((v) => (v === classId ? 1 : 0)) }),
        })),
    };
  }
}

/** Instances with at least one pixel: an instance erased away, or added and never painted, is no instance. */
function nonEmpty(instances: Instance[]): Instance[] {
  return instances.filter((instance) => instance.mask.some((v) => v !== 0));
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
