/**
 * One segmented image: the original and the overlay (blended or side by side), opacity, toggles per class and
 * per instance, hover details, uncertainty, timings and downloads. Colours follow the server's rule
 * (colorForIndex of the instance's position, or of the class id), so this view and the server's overlay agree.
 */
import { colorForIndex } from '../../src/masks/palette.js';
import { rleCounts } from '../../src/masks/rle.js';
import type { CompressedRle } from '../../src/masks/types.js';
import type { SegmentationJson } from '../../src/serving/types.js';
import type { ImageSource } from './api';
import { h, replace, swatch, uniqueId } from './dom';
import { downloadsPanel } from './downloads';
import * as fmt from './format';
import { drawBase, Overlay, type Region } from './overlay';
import { classDetails, instanceDetails, section, timingsPanel, uncertaintyPanel } from './panels';
import { rleBox } from './rle';

export interface ViewerInput {
  name: string;
  imageId: number;
  source: ImageSource;
  answer: SegmentationJson;
  text: string;
  /** The decoded original, or null when the browser cannot show it (masks are then drawn on grey). */
  image: HTMLImageElement | null;
}

/** Regions in paint order: instances least confident first, so the most confident wins where masks overlap. */
function regionsOf(answer: SegmentationJson): Region[] {
  const { width, height } = answer.image;
  // An answer without masks (never asked for by this UI) still shows its boxes over an empty layer.
  const countsOf = (mask: CompressedRle | undefined) => (mask ? rleCounts(mask) : [width * height]);
  // A classification has no masks: nothing is drawn over the image.
  if (answer.task === 'classification') return [];
  if (answer.task === 'instance') {
    const instances = answer.instances ?? [];
    return instances
      .map((inst, index) => ({
        index,
        classId: inst.class_id,
        label: inst.label,
        color: colorForIndex(index),
        counts: countsOf(inst.mask),
        box: inst.box,
        caption: `${inst.label} ${inst.score.toFixed(2)}`,
      }))
      .sort((a, b) => instances[a.index].score - instances[b.index].score);
  }
  return (answer.classes ?? []).map((cls, index) => {
    const counts = countsOf(cls.mask);
    return {
      index,
      classId: cls.class_id,
      label: cls.label,
      color: colorForIndex(cls.class_id),
      counts,
      box: rleBox(counts, height),
    };
  });
}

export class Viewer {
  readonly element: HTMLElement;
  private readonly input: ViewerInput;
  private readonly overlay: Overlay;
  /** By answer index (not paint order). */
  private readonly regions: Region[];
  private readonly paintOrder: Region[];
  private readonly hidden = new Set<number>();
  private readonly composite: HTMLCanvasElement;
  private readonly original: HTMLCanvasElement;
  private readonly details = h('div', { class: 'details', 'aria-live': 'polite' });
  private readonly toggles = new Map<number, HTMLInputElement>();
  private readonly classToggles = new Map<number, HTMLInputElement>();
  private readonly rows = new Map<number, HTMLElement>();
  private opacity = 0.5;
  private boxes = true;
  private hovered: Region | null = null;

  constructor(input: ViewerInput) {
    this.input = input;
    const { width, height } = input.answer.image;
    this.paintOrder = regionsOf(input.answer);
    this.regions = [...this.paintOrder].sort((a, b) => a.index - b.index);
    this.overlay = new Overlay(width, height);
    this.overlay.show(this.paintOrder);
    this.composite = h('canvas', {
      width,
      height,
      class: 'view-canvas',
      role: 'img',
      'data-testid': 'overlay-canvas',
      'aria-label':
        input.answer.task === 'classification'
          ? `${input.name} (a classification has no masks)`
          : `${input.name} with its ${input.answer.task === 'instance' ? 'instance' : 'class'} masks`,
    });
    this.original = h('canvas', {
      width,
      height,
      class: 'view-canvas',
      role: 'img',
      'data-testid': 'original-canvas',
      'aria-label': `${input.name}, original`,
    });
    const ctx = this.original.getContext('2d');
    if (ctx) drawBase(ctx, input.image, width, height);
    this.element = this.build();
    this.showDetails(null);
    this.redraw();
  }

  private build(): HTMLElement {
    const { answer, name } = this.input;
    const stage = h(
      'div',
      { class: 'stage', 'data-mode': 'blended' },
      h('figure', { class: 'frame original' }, this.original, h('figcaption', {}, 'Original')),
      h('figure', { class: 'frame' }, this.composite, h('figcaption', {}, 'Overlay')),
    );
    this.composite.addEventListener('pointermove', (event) => this.pointAt(event));
    this.composite.addEventListener('pointerdown', (event) => this.pointAt(event));
    this.composite.addEventListener('pointerleave', () => this.hover(null));

    const main = h(
      'div',
      { class: 'viewer-main' },
      // Opacity, side by side and boxes are about masks, which a classification does not have.
      answer.task === 'classification' ? null : this.controls(stage),
      stage,
      this.input.image
        ? null
        : h('p', { class: 'note' }, 'The browser cannot show this image, so the masks are drawn on grey.'),
      this.details,
    );
    const summary = h(
      'section',
      { class: 'panel result-summary' },
      h('h2', { class: 'result-title' }, name),
      h(
        'p',
        { class: 'meta' },
        `${answer.model} v${answer.version} · ${answer.task} · ${answer.image.width} × ${answer.image.height} ${answer.image.format}`,
      ),
    );
    const side = h(
      'div',
      { class: 'viewer-side' },
      summary,
      answer.task === 'instance'
        ? this.instancePanels()
        : answer.task === 'classification'
          ? this.scoresPanel()
          : this.classPanel(),
      answer.gate ? this.gatePanel(answer.gate) : null,
      uncertaintyPanel(answer),
      timingsPanel(answer.timings),
      downloadsPanel({ ...this.input, overlayAsShown: () => this.overlayAsShown() }),
    );
    return h('article', { class: 'viewer', 'aria-label': `Result for ${name}` }, main, side);
  }

  private controls(stage: HTMLElement): HTMLElement {
    const group = uniqueId('view');
    const mode = (value: string, text: string, checked: boolean) => {
      const radio = h('input', { type: 'radio', name: group, value, checked });
      radio.addEventListener('change', () => {
        if (radio.checked) stage.dataset.mode = value;
      });
      return h('label', { class: 'segment' }, radio, h('span', {}, text));
    };
    const opacity = h('input', { type: 'range', min: 0, max: 100, step: 1, value: this.opacity * 100 });
    const opacityValue = h('output', {}, fmt.percent(this.opacity));
    opacity.addEventListener('input', () => {
      this.opacity = Number(opacity.value) / 100;
      opacityValue.textContent = fmt.percent(this.opacity);
      this.redraw();
    });
    const boxes = h('input', { type: 'checkbox', checked: this.boxes });
    boxes.addEventListener('change', () => {
      this.boxes = boxes.checked;
      this.redraw();
    });
    return h(
      'div',
      { class: 'view-controls' },
      h(
        'fieldset',
        { class: 'segmented' },
        h('legend', { class: 'visually-hidden' }, 'View'),
        mode('blended', 'Blended', true),
        mode('side', 'Side by side', false),
      ),
      h('label', { class: 'opacity' }, h('span', {}, 'Opacity'), opacity, opacityValue),
      this.input.answer.task === 'instance'
        ? h('label', { class: 'check' }, boxes, 'Boxes and labels')
        : null,
    );
  }

  /** Class chips (all instances of a class at once) and one row per instance. */
  private instancePanels(): HTMLElement {
    const instances = this.input.answer.instances ?? [];
    if (instances.length === 0) return section('Instances', h('p', { class: 'hint' }, 'Nothing was found.'));
    const byClass = new Map<number, Region[]>();
    for (const region of this.regions)
      byClass.set(region.classId, [...(byClass.get(region.classId) ?? []), region]);
    const chips = [...byClass.entries()].map(([classId, members]) => {
      const box = h('input', { type: 'checkbox', checked: true });
      box.addEventListener('change', () => {
        for (const m of members) this.setHidden(m.index, !box.checked);
        this.refresh();
      });
      this.classToggles.set(classId, box);
      return h('label', { class: 'chip' }, box, `${members[0].label} (${members.length})`);
    });
    const rows = this.regions.map((region) => {
      const inst = instances[region.index];
      return this.regionRow(region, `${inst.label} ${inst.score.toFixed(2)}`, fmt.pixels(inst.area));
    });
    return h(
      'div',
      {},
      h('fieldset', { class: 'panel' }, h('legend', {}, 'Classes'), h('div', { class: 'chips' }, ...chips)),
      h(
        'fieldset',
        { class: 'panel' },
        h('legend', {}, `Instances (${instances.length})`),
        h('ul', { class: 'item-list' }, ...rows),
      ),
    );
  }

  /** A classifier's answer: its best classes with their scores, best first. */
  private scoresPanel(): HTMLElement {
    const classes = this.input.answer.task === 'classification' ? this.input.answer.classes : [];
    const rows = classes.map((cls) => {
      const bar = h('span', { class: 'bar' });
      bar.style.setProperty('--share', String(Math.min(1, Math.max(0, cls.score))));
      return h(
        'li',
        { class: 'item-row score-row' },
        h('span', {}, cls.label),
        h('span', { class: 'bar-cell' }, bar),
        h('span', { class: 'num' }, fmt.score(cls.score)),
      );
    });
    return h(
      'fieldset',
      { class: 'panel' },
      h('legend', {}, `Classes (top ${classes.length})`),
      h('ul', { class: 'item-list' }, ...rows),
    );
  }

  /** What the gate classifier of a gated model said about this image. */
  private gatePanel(gate: NonNullable<SegmentationJson['gate']>): HTMLElement {
    return section(
      'Gate',
      h('p', {}, `${gate.model} v${gate.version} accepted it as ${gate.label} (${fmt.score(gate.score)}).`),
    );
  }

  /** The legend of semantic and binary answers: colour, label, area and share, one toggle per class. */
  private classPanel(): HTMLElement {
    const { answer } = this.input;
    const imageArea = answer.image.width * answer.image.height;
    const rows = this.regions.map((region) => {
      const area = answer.classes?.[region.index].area ?? 0;
      return this.regionRow(region, region.label, `${fmt.pixels(area)} · ${fmt.percent(area / imageArea)}`);
    });
    const empty =
      rows.length === 0 ? h('p', { class: 'hint' }, 'No class other than background was found.') : null;
    return h(
      'fieldset',
      { class: 'panel' },
      h('legend', {}, 'Classes'),
      empty ?? h('ul', { class: 'item-list' }, ...rows),
    );
  }

  /** A list row with the region's show/hide toggle, its colour, `text` and a figure (its area) on the right. */
  private regionRow(region: Region, text: string, figure: string): HTMLElement {
    const box = h('input', { type: 'checkbox', checked: true });
    box.addEventListener('change', () => {
      this.setHidden(region.index, !box.checked);
      this.refresh();
    });
    this.toggles.set(region.index, box);
    const row = h(
      'li',
      { class: 'item-row' },
      h('label', { class: 'check' }, box, swatch(region.color), text),
      h('span', { class: 'num' }, figure),
    );
    this.hoverWith(row, region);
    return row;
  }

  /** Pointer over a list row, or keyboard focus inside it, highlights its region as hovering the canvas does. */
  private hoverWith(row: HTMLElement, region: Region): void {
    this.rows.set(region.index, row);
    row.addEventListener('pointerenter', () => this.hover(region));
    row.addEventListener('pointerleave', () => this.hover(null));
    row.addEventListener('focusin', () => this.hover(region));
    row.addEventListener('focusout', () => this.hover(null));
  }

  private setHidden(index: number, hidden: boolean): void {
    if (hidden) this.hidden.add(index);
    else this.hidden.delete(index);
  }

  /** After a toggle: repaint the layer and bring every checkbox (and tri-state class chip) in line. */
  private refresh(): void {
    this.overlay.show(this.paintOrder.filter((r) => !this.hidden.has(r.index)));
    for (const [index, box] of this.toggles) box.checked = !this.hidden.has(index);
    for (const [classId, box] of this.classToggles) {
      const members = this.regions.filter((r) => r.classId === classId);
      const shown = members.filter((r) => !this.hidden.has(r.index)).length;
      box.checked = shown === members.length;
      box.indeterminate = shown > 0 && shown < members.length;
    }
    if (this.hovered && this.hidden.has(this.hovered.index)) this.hover(null);
    else this.redraw();
  }

  private pointAt(event: PointerEvent): void {
    const rect = this.composite.getBoundingClientRect();
    const x = ((event.clientX - rect.left) / rect.width) * this.overlay.width;
    const y = ((event.clientY - rect.top) / rect.height) * this.overlay.height;
    const index = this.overlay.regionAt(x, y);
    this.hover(index < 0 ? null : this.regions[index]);
  }

  private hover(region: Region | null): void {
    if (region === this.hovered) return;
    // The row of the region under the pointer lights up too, so canvas and list point at each other.
    if (this.hovered) this.rows.get(this.hovered.index)?.classList.remove('active');
    if (region) this.rows.get(region.index)?.classList.add('active');
    this.hovered = region;
    this.showDetails(region);
    this.redraw();
  }

  private showDetails(region: Region | null): void {
    const { answer } = this.input;
    if (!region) {
      const hint =
        answer.task === 'classification'
          ? 'A classifier answers labels and scores for the whole image; there are no masks.'
          : `Point at ${answer.task === 'instance' ? 'an instance' : 'a class'} (or focus its row) to see its details.`;
      replace(this.details, h('p', { class: 'hint' }, hint));
      return;
    }
    const inst = answer.instances?.[region.index];
    const cls = answer.classes?.[region.index];
    if (inst) replace(this.details, instanceDetails(inst, swatch(region.color)));
    else if (cls && cls.area !== undefined) {
      const imageArea = answer.image.width * answer.image.height;
      replace(this.details, classDetails(cls.label, cls.class_id, cls.area, imageArea, swatch(region.color)));
    }
  }

  private redraw(): void {
    this.overlay.draw(this.composite, this.input.image, {
      opacity: this.opacity,
      boxes: this.boxes,
      hovered: this.hovered,
    });
  }

  /** A fresh rendering without the hover highlight; null when the image's origin forbids reading it back. */
  private overlayAsShown(): Promise<Blob | null> {
    const { width, height } = this.overlay;
    const target = h('canvas', { width, height });
    this.overlay.draw(target, this.input.image, { opacity: this.opacity, boxes: this.boxes, hovered: null });
    return new Promise((resolve, reject) => {
      try {
        target.toBlob((blob) => resolve(blob), 'image/png');
      } catch (error) {
        if (error instanceof DOMException && error.name === 'SecurityError') resolve(null);
        else reject(error);
      }
    });
  }
}
