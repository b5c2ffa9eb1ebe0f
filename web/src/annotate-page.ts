/**
 * The annotate page (`/annotate`): pick a model, and the page claims the most uncertain item of its queue and
 * shows the image with the model's prediction over it. Accept it, or correct it (brush, eraser, classes, or
 * instances for instance models; undo and redo) and submit; or skip or reject the item. The next item is claimed
 * and loaded while the current one is worked on, so it shows at once after each action.
 *
 * Who annotates is a name kept in this browser (localStorage), sent with every action. Items the page holds are
 * released when it is left; a claim the page lost to its expiry is taken again before submitting.
 */
import type { AnnotationItemJson, AnnotationSummaryJson } from '../../src/learning/annotations/types.js';
import type { LabelDocument } from '../../src/learning/label-document.js';
import * as api from './annotate-api';
import { ApiError } from './api';
import { h, loadImage, replace, uniqueId } from './dom';
import * as fmt from './format';
import { type Brush, LabelCanvas } from './label-canvas';
import { LabelState } from './label-state';
import { LabelTools } from './label-tools';
import { models } from './model-store';
import { problem } from './problem';

interface Loaded {
  item: AnnotationItemJson;
  prediction: LabelDocument;
  /** null when the browser cannot show the image (the label is then drawn on grey). */
  image: HTMLImageElement | null;
}

interface Editing {
  loaded: Loaded;
  state: LabelState;
  canvas: LabelCanvas;
  tools: LabelTools;
}

const ANNOTATOR_KEY = 'segserve.annotator';
const MODEL_KEY = 'segserve.annotate.model';

/** The keys of the page, as its help lists them. */
const SHORTCUTS: Array<[string, string]> = [
  ['B', 'Brush'],
  ['E', 'Eraser'],
  ['[ ]', 'Smaller, larger brush'],
  ['1–9', 'Class to paint'],
  ['N', 'New instance (instance models)'],
  ['Del', 'Delete the selected instance'],
  ['Esc', 'Deselect the instance (the brush then starts a new one)'],
  ['V', 'Show or hide the label'],
  ['Ctrl+Z', 'Undo (Ctrl+Shift+Z or Ctrl+Y: redo)'],
  ['A', 'Accept the prediction as it is'],
  ['Enter', 'Submit the label as shown'],
  ['S', 'Skip (later, or for someone else)'],
  ['R', 'Reject (not worth a label)'],
];

function stored(key: string): string | null {
  try {
    return localStorage.getItem(key);
  } catch {
    return null;
  }
}

function store(key: string, value: string): void {
  try {
    localStorage.setItem(key, value);
  } catch {
    // Private modes may refuse storage: the value then lasts as long as the page.
  }
}

async function load(item: AnnotationItemJson): Promise<Loaded> {
  const [prediction, image] = await Promise.all([api.prediction(item.id), loadImage(api.imageUrl(item.id))]);
  return { item, prediction, image };
}

/** Keys typed into a field (or Enter on a button) belong to it, not to the page's shortcuts. */
function ownsKey(target: EventTarget | null, key: string): boolean {
  if (!(target instanceof HTMLElement)) return false;
  if (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName)) {
    // Radios, sliders and checkboxes only take arrows and space: letters and digits stay the page's.
    const choice = target instanceof HTMLInputElement && /^(radio|range|checkbox)$/.test(target.type);
    return !choice || key === ' ';
  }
  return (key === 'Enter' || key === ' ') && /^(BUTTON|A|SUMMARY)$/.test(target.tagName);
}

export class AnnotatePage {
  readonly element: HTMLElement;
  private readonly modelSelect: HTMLSelectElement;
  private readonly annotatorInput: HTMLInputElement;
  private readonly progress = h('p', { class: 'annotate-progress', role: 'status' });
  private readonly banner = h('div', { class: 'banner-slot' });
  private readonly work = h('div', { class: 'annotate-work' });
  private readonly actions: Record<'accept' | 'submit' | 'skip' | 'reject', HTMLButtonElement>;
  private readonly onKey = (event: KeyboardEvent) => this.key(event);
  private readonly onLeave = () => this.releaseHeld(true);
  private editing: Editing | null = null;
  private next: Promise<Loaded | null> | null = null;
  private brush: Brush = { tool: 'brush', classId: 1, size: 12 };
  private busy = false;
  /** Bumped when the model or the annotator changes: results of older requests are dropped. */
  private generation = 0;
  private labelled = 0;
  private mounted = false;

  constructor() {
    const modelId = uniqueId('annotate-model');
    const annotatorId = uniqueId('annotator');
    this.modelSelect = h('select', { id: modelId, disabled: true }, h('option', {}, 'Loading models…'));
    this.modelSelect.addEventListener('change', () => {
      // Focus left on the list would keep the letter keys (A, S, R...) from the page.
      this.modelSelect.blur();
      store(MODEL_KEY, this.modelSelect.value);
      void this.start();
    });
    const name = stored(ANNOTATOR_KEY) ?? `annotator-${Math.random().toString(36).slice(2, 7)}`;
    store(ANNOTATOR_KEY, name);
    this.annotatorInput = h('input', {
      id: annotatorId,
      type: 'text',
      value: name,
      maxlength: 128,
      autocomplete: 'nickname',
      spellcheck: false,
    });
    this.annotatorInput.addEventListener('change', () => {
      this.annotatorInput.blur();
      const value = this.annotatorInput.value.trim();
      if (!value) {
        this.annotatorInput.value = stored(ANNOTATOR_KEY) ?? '';
        return;
      }
      // Claims are the old name's: give them back, and claim again as the new one.
      void this.releaseHeld(false, stored(ANNOTATOR_KEY) ?? value).then(() => {
        store(ANNOTATOR_KEY, value);
        void this.start();
      });
    });
    const button = (text: string, key: string, kind: string, action: () => void) => {
      const element = h(
        'button',
        { type: 'button', class: `button ${kind}`, disabled: true },
        text,
        ' ',
        h('kbd', {}, key),
      );
      element.addEventListener('click', action);
      return element;
    };
    this.actions = {
      accept: button('Accept', 'A', 'accept', () => void this.accept()),
      submit: button('Submit', 'Enter', '', () => void this.submit()),
      skip: button('Skip', 'S', 'secondary', () => void this.skip()),
      reject: button('Reject', 'R', 'secondary danger', () => void this.reject()),
    };
    this.element = h(
      'div',
      { class: 'page annotate-page' },
      h('h1', {}, 'Annotate'),
      h(
        'div',
        { class: 'toolbar annotate-toolbar' },
        h('div', { class: 'field' }, h('label', { for: modelId }, 'Model'), this.modelSelect),
        h('div', { class: 'field' }, h('label', { for: annotatorId }, 'Your name'), this.annotatorInput),
        this.progress,
      ),
      this.banner,
      this.work,
    );
  }

  private get annotator(): string {
    return stored(ANNOTATOR_KEY) ?? this.annotatorInput.value.trim();
  }

  mount(): void {
    this.mounted = true;
    document.addEventListener('keydown', this.onKey);
    window.addEventListener('pagehide', this.onLeave);
    models().then(
      (list) => {
        const names = list.models.map((m) => m.name);
        const wanted = new URLSearchParams(location.search).get('model') ?? stored(MODEL_KEY);
        const pick = names.find((n) => n === wanted) ?? list.default_model ?? names[0];
        this.modelSelect.replaceChildren(
          ...list.models.map((m) =>
            h(
              'option',
              { value: m.name, selected: m.name === pick },
              m.task ? `${m.name} (${m.task})` : m.name,
            ),
          ),
        );
        this.modelSelect.disabled = names.length === 0;
        if (pick === undefined) {
          replace(
            this.work,
            h('p', { class: 'empty-state' }, 'No model is served, so there is nothing to annotate.'),
          );
          return;
        }
        // Back on the page with items still held: keep them.
        if (!this.editing || this.editing.loaded.item.model !== pick) void this.start();
      },
      (error: unknown) => replace(this.banner, problem(error, 'The model list could not be loaded')),
    );
  }

  unmount(): void {
    this.mounted = false;
    document.removeEventListener('keydown', this.onKey);
    window.removeEventListener('pagehide', this.onLeave);
    void this.releaseHeld(true);
    this.editing = null;
  }

  /** Gives back the items this page holds (the one shown and the one prefetched). */
  private async releaseHeld(leaving: boolean, annotator = this.annotator): Promise<void> {
    const held = [this.editing?.loaded.item.id];
    const next = this.next;
    this.next = null;
    if (leaving) {
      // No time to wait for a prefetch still in flight: its claim expires by itself.
      held.push(...(await Promise.race([next, Promise.resolve(null)]).then((n) => [n?.item.id])));
    } else held.push((await next?.catch(() => null))?.item.id);
    await Promise.all(
      held.flatMap((id) => (id ? [api.release(id, annotator, leaving).catch(() => undefined)] : [])),
    );
  }

  /** Starts over on the chosen model: the most uncertain item first. */
  private async start(): Promise<void> {
    const generation = ++this.generation;
    const previous = this.editing;
    this.editing = null;
    this.next = null;
    this.setBusy(true);
    replace(this.banner);
    replace(this.work, h('p', { class: 'hint' }, 'Claiming the most uncertain item…'));
    if (previous && previous.loaded.item.model !== this.modelSelect.value) {
      void api.release(previous.loaded.item.id, this.annotator).catch(() => undefined);
    }
    try {
      const item = await api.claimNext(this.modelSelect.value, this.annotator, []);
      const loaded = item ? await load(item) : null;
      if (generation !== this.generation) return;
      this.show(loaded);
    } catch (error) {
      if (generation !== this.generation) return;
      replace(this.work);
      replace(this.banner, problem(error, 'The queue could not be read'));
    }
    void this.refreshProgress();
  }

  /** Claims and loads the item after the one shown, so it is ready when this one is done. */
  private prefetch(): void {
    const shown = this.editing?.loaded.item.id;
    if (!shown) return;
    const model = this.modelSelect.value;
    this.next = api
      .claimNext(model, this.annotator, [shown])
      .then((item) => (item ? load(item) : null))
      .catch(() => null);
  }

  private show(loaded: Loaded | null): void {
    this.setBusy(false);
    if (!loaded) {
      this.editing = null;
      const again = h('button', { type: 'button', class: 'button secondary' }, 'Check again');
      again.addEventListener('click', () => void this.start());
      replace(
        this.work,
        h(
          'div',
          { class: 'empty-state annotate-empty' },
          h('p', {}, `Nothing left to label for ${this.modelSelect.value}.`),
          h('p', { class: 'hint' }, 'Uncertain predictions join the queue as the model serves.'),
          again,
        ),
      );
      this.setBusy(true);
      return;
    }
    const state = new LabelState(loaded.prediction);
    let canvas: LabelCanvas | undefined;
    const tools = new LabelTools(state, this.brush, () => canvas?.refresh());
    this.brush = tools.brush;
    canvas = new LabelCanvas(
      state,
      loaded.image,
      () => tools.brush,
      () => tools.update(),
    );
    this.editing = { loaded, state, canvas, tools };
    replace(this.work, this.editor(this.editing));
    this.prefetch();
  }

  private editor({ loaded, canvas, tools }: Editing): HTMLElement {
    const { item } = loaded;
    const opacity = h('input', { type: 'range', min: 0, max: 100, value: Math.round(canvas.opacity * 100) });
    const opacityValue = h('output', {}, fmt.percent(canvas.opacity));
    opacity.addEventListener('input', () => {
      canvas.opacity = Number(opacity.value) / 100;
      opacityValue.textContent = fmt.percent(canvas.opacity);
      canvas.composite();
    });
    const shown = h('input', { type: 'checkbox', checked: canvas.showLabel, 'data-testid': 'show-label' });
    shown.addEventListener('change', () => {
      canvas.showLabel = shown.checked;
      canvas.composite();
    });
    const meta = [
      `${item.model} v${item.version}`,
      `uncertainty ${item.uncertainty.toFixed(3)}`,
      `sampled by ${item.strategy}`,
      `${item.image.width} × ${item.image.height}`,
      item.skip_count > 0 ? `skipped ${item.skip_count}×` : null,
    ].filter(Boolean);
    const help = h(
      'details',
      { class: 'panel shortcuts' },
      h('summary', {}, 'Keyboard shortcuts'),
      h(
        'dl',
        { class: 'facts' },
        ...SHORTCUTS.flatMap(([key, what]) => [h('dt', {}, h('kbd', {}, key)), h('dd', {}, what)]),
      ),
    );
    // Open on wide screens, where there is room; a phone keeps it folded.
    if (window.matchMedia('(min-width: 901px)').matches) help.open = true;
    return h(
      'div',
      { class: 'annotate-layout', 'data-item': item.id },
      h(
        'div',
        { class: 'annotate-main' },
        h(
          'div',
          { class: 'view-controls' },
          h('label', { class: 'opacity' }, h('span', {}, 'Opacity'), opacity, opacityValue),
          h('label', { class: 'check' }, shown, 'Label ', h('kbd', {}, 'V')),
        ),
        h('div', { class: 'label-stage' }, canvas.element),
        h('p', { class: 'meta item-meta' }, meta.join(' · ')),
        h(
          'div',
          { class: 'action-bar' },
          this.actions.accept,
          this.actions.submit,
          this.actions.skip,
          this.actions.reject,
        ),
      ),
      h('div', { class: 'annotate-side' }, tools.element, help),
    );
  }

  private setBusy(busy: boolean): void {
    this.busy = busy;
    for (const button of Object.values(this.actions)) button.disabled = busy;
  }

  private async refreshProgress(): Promise<void> {
    const model = this.modelSelect.value;
    let summary: AnnotationSummaryJson;
    try {
      summary = await api.summary(model);
    } catch {
      return;
    }
    if (model !== this.modelSelect.value) return;
    const mine = this.labelled > 0 ? ` · ${this.labelled} labelled by you` : '';
    this.progress.textContent = `${summary.queued} left in the queue${mine}`;
    this.progress.dataset.queued = String(summary.queued);
  }

  private accept(): Promise<void> {
    return this.act('Accepting', (id) => api.submitLabel(id, this.annotator, { format: 'accept' }), true);
  }

  private submit(): Promise<void> {
    const state = this.editing?.state;
    if (!state) return Promise.resolve();
    return this.act('Submitting', (id) => api.submitLabel(id, this.annotator, state.submission()), true);
  }

  private skip(): Promise<void> {
    return this.act('Skipping', (id) => api.skip(id, this.annotator), false);
  }

  private reject(): Promise<void> {
    return this.act('Rejecting', (id) => api.reject(id, this.annotator), false);
  }

  /**
   * Does `action` on the item shown, then shows the next one. A claim that expired while the item was open is
   * taken again once (if nobody else took it meanwhile).
   */
  private async act(doing: string, action: (id: string) => Promise<unknown>, labels: boolean): Promise<void> {
    const editing = this.editing;
    if (!editing || this.busy) return;
    const { id } = editing.loaded.item;
    const generation = this.generation;
    this.setBusy(true);
    replace(this.banner);
    try {
      try {
        await action(id);
      } catch (error) {
        if (!(error instanceof ApiError && error.code === 'SAMPLE_NOT_CLAIMED')) throw error;
        await api.claim(id, this.annotator);
        await action(id);
      }
    } catch (error) {
      this.setBusy(false);
      replace(this.banner, problem(error, `${doing} the item failed`));
      return;
    }
    if (labels) this.labelled += 1;
    if (generation !== this.generation) return;
    await this.advance(generation);
  }

  /** Shows the prefetched item, or claims one now when there was none ready. */
  private async advance(generation: number): Promise<void> {
    const pending = this.next;
    this.next = null;
    try {
      let loaded = pending ? await pending : null;
      if (!loaded) {
        const item = await api.claimNext(this.modelSelect.value, this.annotator, []);
        loaded = item ? await load(item) : null;
      }
      if (generation !== this.generation || !this.mounted) return;
      this.show(loaded);
    } catch (error) {
      replace(this.banner, problem(error, 'The next item could not be loaded'));
    }
    void this.refreshProgress();
  }

  private key(event: KeyboardEvent): void {
    if (event.defaultPrevented || ownsKey(event.target, event.key)) return;
    const editing = this.editing;
    if (!editing) return;
    const { tools, canvas } = editing;
    const key = event.key;
    if (event.ctrlKey || event.metaKey) {
      const lower = key.toLowerCase();
      if (lower === 'z' && !event.shiftKey) tools.undo();
      else if ((lower === 'z' && event.shiftKey) || lower === 'y') tools.redo();
      else return;
      event.preventDefault();
      return;
    }
    if (event.altKey) return;
    const actions: Record<string, () => void> = {
      b: () => tools.setTool('brush'),
      e: () => tools.setTool('eraser'),
      '[': () => tools.stepSize(-1),
      ']': () => tools.stepSize(1),
      n: () => tools.addInstance(),
      Delete: () => tools.deleteSelected(),
      Backspace: () => tools.deleteSelected(),
      Escape: () => tools.select(-1),
      v: () => {
        canvas.showLabel = !canvas.showLabel;
        canvas.composite();
        const box = this.work.querySelector<HTMLInputElement>('[data-testid="show-label"]');
        if (box) box.checked = canvas.showLabel;
      },
      a: () => void this.accept(),
      Enter: () => void this.submit(),
      s: () => void this.skip(),
      r: () => void this.reject(),
    };
    const run = /^[1-9]$/.test(key)
      ? () => tools.pickNth(Number(key))
      : actions[key.length === 1 ? key.toLowerCase() : key];
    if (!run) return;
    event.preventDefault();
    run();
  }
}
