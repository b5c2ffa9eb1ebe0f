/**
 * The annotate page's tool panel: brush or eraser, brush size, the class to paint (numbered for the 1-9 keys),
 * the instances of an instance label (select, reclass, delete, add), undo and redo. It edits the LabelState and
 * tells the page to redraw; the page maps keys to the same methods, so buttons and shortcuts cannot disagree.
 */
import { colorForIndex } from '../../src/masks/palette.js';
import { h, replace, swatch, uniqueId } from './dom';
import * as fmt from './format';
import type { Brush } from './label-canvas';
import type { LabelState, Tool } from './label-state';

export const MIN_BRUSH = 1;
export const MAX_BRUSH = 200;

export class LabelTools {
  readonly element: HTMLElement;
  readonly brush: Brush;
  private readonly toolInputs = new Map<Tool, HTMLInputElement>();
  private readonly classInputs = new Map<number, HTMLInputElement>();
  private readonly sizeInput: HTMLInputElement;
  private readonly sizeValue = h('output', {});
  private readonly undoButton = h('button', { type: 'button', class: 'button secondary' }, 'Undo');
  private readonly redoButton = h('button', { type: 'button', class: 'button secondary' }, 'Redo');
  private readonly instanceList = h('ul', { class: 'item-list instance-list' });
  private readonly instanceTitle = h('legend', {});

  constructor(
    private readonly state: LabelState,
    brush: Brush,
    /** The label or the brush changed: redraw. */
    private readonly changed: () => void,
  ) {
    const classes = state.paintClasses;
    this.brush = { ...brush, classId: classes.includes(brush.classId) ? brush.classId : classes[0] };
    this.sizeInput = h('input', {
      type: 'range',
      min: MIN_BRUSH,
      max: 60,
      step: 1,
      value: this.brush.size,
      'aria-label': 'Brush size',
    });
    this.sizeInput.addEventListener('input', () => this.setSize(Number(this.sizeInput.value)));
    this.undoButton.addEventListener('click', () => this.undo());
    this.redoButton.addEventListener('click', () => this.redo());
    this.element = h(
      'div',
      { class: 'label-tools' },
      this.toolPanel(),
      this.classPanel(),
      state.isInstance ? this.instancePanel() : null,
    );
    this.update();
  }

  private toolPanel(): HTMLElement {
    const group = uniqueId('tool');
    const option = (tool: Tool, text: string, key: string) => {
      const input = h('input', {
        type: 'radio',
        name: group,
        value: tool,
        checked: this.brush.tool === tool,
      });
      input.addEventListener('change', () => this.setTool(tool));
      this.toolInputs.set(tool, input);
      return h('label', { class: 'segment' }, input, h('span', {}, text, ' ', h('kbd', {}, key)));
    };
    return h(
      'fieldset',
      { class: 'panel' },
      h('legend', {}, 'Tool'),
      h(
        'div',
        { class: 'tool-row' },
        h(
          'div',
          { class: 'segmented', role: 'group', 'aria-label': 'Tool' },
          option('brush', 'Brush', 'B'),
          option('eraser', 'Eraser', 'E'),
        ),
        h('div', { class: 'button-row' }, this.undoButton, this.redoButton),
      ),
      h('label', { class: 'opacity brush-size' }, h('span', {}, 'Size'), this.sizeInput, this.sizeValue),
    );
  }

  private classPanel(): HTMLElement {
    const group = uniqueId('class');
    const options = this.state.paintClasses.map((classId, position) => {
      const input = h('input', {
        type: 'radio',
        name: group,
        value: classId,
        checked: classId === this.brush.classId,
      });
      input.addEventListener('change', () => this.pickClass(classId));
      this.classInputs.set(classId, input);
      return h(
        'li',
        {},
        h(
          'label',
          { class: 'class-option' },
          input,
          this.state.isInstance ? null : swatch(colorForIndex(classId)),
          h('span', { class: 'class-name' }, this.state.labels[classId]),
          position < 9 ? h('kbd', {}, String(position + 1)) : null,
        ),
      );
    });
    return h(
      'fieldset',
      { class: 'panel' },
      h('legend', {}, this.state.isInstance ? 'Class of new instances' : 'Class'),
      h('ul', { class: 'class-list' }, ...options),
    );
  }

  private instancePanel(): HTMLElement {
    const add = h(
      'button',
      { type: 'button', class: 'button secondary' },
      'Add instance ',
      h('kbd', {}, 'N'),
    );
    add.addEventListener('click', () => this.addInstance());
    return h(
      'fieldset',
      { class: 'panel' },
      this.instanceTitle,
      this.instanceList,
      h('div', { class: 'button-row' }, add),
    );
  }

  setTool(tool: Tool): void {
    this.brush.tool = tool;
    this.update();
    this.changed();
  }

  setSize(size: number): void {
    this.brush.size = Math.max(MIN_BRUSH, Math.min(MAX_BRUSH, Math.round(size)));
    this.update();
    this.changed();
  }

  /** [ and ]: about 20% smaller or larger, at least one pixel. */
  stepSize(direction: -1 | 1): void {
    const step = Math.max(1, Math.round(this.brush.size * 0.2));
    this.setSize(this.brush.size + direction * step);
  }

  pickClass(classId: number): void {
    this.brush.classId = classId;
    this.update();
  }

  /** The n-th class of the list (keys 1-9). */
  pickNth(n: number): void {
    const classId = this.state.paintClasses[n - 1];
    if (classId !== undefined) this.pickClass(classId);
  }

  undo(): void {
    if (this.state.undo()) this.edited();
  }

  redo(): void {
    if (this.state.redo()) this.edited();
  }

  addInstance(): void {
    if (!this.state.isInstance) return;
    this.state.addInstance(this.brush.classId);
    this.brush.tool = 'brush';
    this.edited();
  }

  deleteSelected(): void {
    if (this.state.selected < 0) return;
    this.state.deleteInstance(this.state.selected);
    this.edited();
  }

  select(index: number): void {
    this.state.select(index);
    this.edited();
  }

  /** After a change of the label: the panel and the canvas show it. */
  edited(): void {
    this.update();
    this.changed();
  }

  /** Brings every control in line with the state and the brush. */
  update(): void {
    for (const [tool, input] of this.toolInputs) input.checked = tool === this.brush.tool;
    for (const [classId, input] of this.classInputs) input.checked = classId === this.brush.classId;
    this.sizeInput.value = String(Math.min(this.brush.size, Number(this.sizeInput.max)));
    this.sizeValue.textContent = `${this.brush.size} px`;
    this.undoButton.disabled = !this.state.canUndo;
    this.redoButton.disabled = !this.state.canRedo;
    if (this.state.isInstance) this.updateInstances();
  }

  private updateInstances(): void {
    const { state } = this;
    this.instanceTitle.textContent = `Instances (${state.instances.length})`;
    const group = uniqueId('instance');
    const rows = state.instances.map((instance, index) => {
      const radio = h('input', { type: 'radio', name: group, checked: index === state.selected });
      radio.addEventListener('change', () => this.select(index));
      const classSelect = h(
        'select',
        { class: 'instance-class', 'aria-label': `Class of instance ${index + 1}` },
        ...state.labels.map((label, classId) =>
          h('option', { value: classId, selected: classId === instance.classId }, label),
        ),
      );
      classSelect.addEventListener('change', () => {
        classSelect.blur();
        state.setInstanceClass(index, Number(classSelect.value));
        this.edited();
      });
      const remove = h(
        'button',
        { type: 'button', class: 'icon-button', 'aria-label': `Delete instance ${index + 1}` },
        '×',
      );
      remove.addEventListener('click', () => {
        state.deleteInstance(index);
        this.edited();
      });
      return h(
        'li',
        { class: `item-row${index === state.selected ? ' active' : ''}`, 'data-instance': index },
        h('label', { class: 'check' }, radio, swatch(colorForIndex(index)), `#${index + 1}`),
        classSelect,
        h('span', { class: 'num' }, fmt.pixels(state.area(index))),
        remove,
      );
    });
    replace(
      this.instanceList,
      ...(rows.length > 0 ? rows : [h('li', { class: 'hint' }, 'No instance: paint to add one.')]),
    );
  }
}
