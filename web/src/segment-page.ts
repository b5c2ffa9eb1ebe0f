/**
 * The segment page: images in (drop, pick, paste, URL), a model and version, the results as a gallery with
 * progress and one result at a time in the viewer. Images are sent two at a time: the server queues per model,
 * and more parallel requests would only wait there while making the first results arrive later.
 */
import { type Answer, type ImageSource, segment } from './api';
import { imageIdFor } from './coco';
import { h, loadImage, replace } from './dom';
import { dropZone } from './drop-zone';
import { type Card, Gallery } from './gallery';
import { type Choice, ModelPicker } from './model-picker';
import { models } from './model-store';
import { describeError, problem } from './problem';
import { Viewer } from './viewer';

const CONCURRENCY = 2;

interface Item extends Card {
  source: ImageSource;
  /** 1-based place in the session, the COCO image id of names that carry none. */
  position: number;
  answer?: Answer;
  error?: unknown;
  image?: Promise<HTMLImageElement | null>;
  viewer?: Viewer;
}

function plural(count: number, word: string): string {
  return `${count} ${word}${count === 1 ? '' : 's'}`;
}

/** The last path segment of a URL, or its host: what the gallery and the downloads call the image. */
function nameOfUrl(url: string): string {
  try {
    const parsed = new URL(url);
    const last = decodeURIComponent(parsed.pathname.split('/').filter(Boolean).pop() ?? '');
    return last || parsed.host || url;
  } catch {
    return url;
  }
}

function isEditable(target: EventTarget | null): boolean {
  return (
    target instanceof HTMLElement &&
    (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName))
  );
}

export class SegmentPage {
  readonly element: HTMLElement;
  private readonly picker: ModelPicker;
  private readonly gallery: Gallery;
  private readonly banner = h('div', { class: 'banner-slot' });
  private readonly progress = h('progress', { max: 1, value: 0, 'aria-hidden': 'true' });
  private readonly progressText = h('span', { role: 'status' });
  private readonly progressRow: HTMLElement;
  private readonly result = h('div', { class: 'result' });
  private readonly items: Item[] = [];
  private selected: Item | null = null;
  private choice: Choice | null = null;
  private nextId = 1;
  private running = 0;
  /** Bumped when the model changes or the session is cleared: answers of older runs are dropped. */
  private generation = 0;
  private abort = new AbortController();
  private readonly onPaste = (event: ClipboardEvent) => this.paste(event);

  constructor() {
    this.picker = new ModelPicker((choice) => this.modelChanged(choice));
    this.gallery = new Gallery((id) => this.select(id));
    const clear = h('button', { type: 'button', class: 'button secondary' }, 'Clear');
    clear.addEventListener('click', () => this.clear());
    this.progressRow = h(
      'div',
      { class: 'progress-row', hidden: true },
      this.progress,
      this.progressText,
      clear,
    );
    this.element = h(
      'div',
      { class: 'page segment-page' },
      h('h1', {}, 'Segment images'),
      h(
        'div',
        { class: 'toolbar' },
        this.picker.element,
        dropZone({ files: (files) => this.addFiles(files), url: (url) => this.addUrl(url) }),
      ),
      this.banner,
      this.progressRow,
      this.gallery.element,
      this.result,
    );
    this.showSelected();
  }

  mount(): void {
    document.addEventListener('paste', this.onPaste);
    models().then(
      (list) => {
        replace(this.banner);
        // The address names a model when a link (or a reload) asks for one; otherwise, back from the models
        // page, the session keeps the model it had.
        const query = new URLSearchParams(location.search);
        const version = Number(query.get('version'));
        const named = query.get('model');
        this.picker.setModels(
          list,
          named
            ? { model: named, version: Number.isInteger(version) && version > 0 ? version : undefined }
            : (this.choice ?? {}),
        );
        // A link from the models page may name another model than the one these images ran with.
        const choice = this.picker.choice();
        if (choice.model !== this.choice?.model || choice.version !== this.choice?.version) {
          this.modelChanged(choice);
        } else this.rememberChoice(choice);
      },
      (error: unknown) => replace(this.banner, problem(error, 'The model list could not be loaded')),
    );
  }

  unmount(): void {
    document.removeEventListener('paste', this.onPaste);
  }

  private paste(event: ClipboardEvent): void {
    const files = [...(event.clipboardData?.files ?? [])];
    if (files.length > 0) {
      event.preventDefault();
      this.addFiles(files);
      return;
    }
    const text = event.clipboardData?.getData('text/plain').trim() ?? '';
    if (!isEditable(event.target) && /^https?:\/\/\S+$/.test(text)) {
      event.preventDefault();
      this.addUrl(text);
    }
  }

  private addFiles(files: File[]): void {
    this.add(files.map((file) => ({ name: file.name || 'pasted image', source: { kind: 'file', file } })));
  }

  private addUrl(url: string): void {
    if (url) this.add([{ name: nameOfUrl(url), source: { kind: 'url', url } }]);
  }

  private add(entries: Array<{ name: string; source: ImageSource }>): void {
    let first: Item | undefined;
    for (const entry of entries) {
      const preview =
        entry.source.kind === 'file' ? URL.createObjectURL(entry.source.file) : entry.source.url;
      const item: Item = {
        id: this.nextId++,
        position: this.items.length + 1,
        name: entry.name,
        source: entry.source,
        preview,
        state: 'queued',
        status: '',
      };
      this.items.push(item);
      this.gallery.add(item);
      first ??= item;
    }
    if (first) this.gallery.select(first.id, false);
    this.pump();
  }

  private clear(): void {
    this.generation++;
    this.abort.abort();
    this.abort = new AbortController();
    this.running = 0;
    for (const item of this.items) if (item.source.kind === 'file') URL.revokeObjectURL(item.preview);
    this.items.length = 0;
    this.selected = null;
    this.gallery.clear();
    this.showSelected();
  }

  private modelChanged(choice: Choice): void {
    this.choice = choice;
    this.rememberChoice(choice);
    if (this.items.length === 0) return;
    // Same images, another model: run them all again.
    this.generation++;
    this.abort.abort();
    this.abort = new AbortController();
    this.running = 0;
    for (const item of this.items) {
      Object.assign(item, {
        state: 'queued',
        status: '',
        answer: undefined,
        error: undefined,
        viewer: undefined,
      });
      this.gallery.update(item);
    }
    this.showSelected();
    this.pump();
  }

  /** The choice goes into the address, so a reload or a shared link keeps the model. */
  private rememberChoice(choice: Choice): void {
    const query = new URLSearchParams();
    if (choice.model) query.set('model', choice.model);
    if (choice.version !== undefined) query.set('version', String(choice.version));
    const search = query.toString() ? `?${query}` : '';
    if (location.pathname === '/' && location.search !== search) history.replaceState(null, '', `/${search}`);
  }

  private pump(): void {
    const { model, version } = this.picker.choice();
    // Without a ready model the items wait; choosing one starts them.
    while (model && this.running < CONCURRENCY) {
      const item = this.items.find((i) => i.state === 'queued');
      if (!item) break;
      this.run(item, model, version);
    }
    this.updateProgress();
  }

  private async run(item: Item, model: string, version: number | undefined): Promise<void> {
    const generation = this.generation;
    this.running++;
    this.setState(item, 'running', '');
    try {
      const answer = await segment(item.source, model, version, this.abort.signal);
      if (generation !== this.generation) return;
      item.answer = answer;
      const result = answer.answer;
      const best = result.task === 'classification' ? result.classes[0] : undefined;
      this.setState(
        item,
        'done',
        result.task === 'instance'
          ? plural(result.instances?.length ?? 0, 'instance')
          : best
            ? `${best.label} ${best.score.toFixed(2)}`
            : plural(result.classes?.length ?? 0, 'class'),
      );
    } catch (error) {
      if (generation !== this.generation) return;
      item.error = error;
      this.setState(item, 'error', describeError(error).code);
    } finally {
      if (generation === this.generation) {
        this.running--;
        this.pump();
      }
    }
  }

  private setState(item: Item, state: Item['state'], status: string): void {
    item.state = state;
    item.status = status;
    this.gallery.update(item);
    if (item === this.selected) this.showSelected();
  }

  private updateProgress(): void {
    const total = this.items.length;
    const done = this.items.filter((i) => i.state === 'done' || i.state === 'error').length;
    const failed = this.items.filter((i) => i.state === 'error').length;
    this.progressRow.hidden = total === 0;
    // A single image needs no strip of cards.
    this.gallery.element.hidden = total < 2;
    this.progress.max = Math.max(total, 1);
    this.progress.value = done;
    const failures = failed > 0 ? `, ${failed} failed` : '';
    this.progressText.textContent =
      done === total
        ? `${done} of ${total} done${failures}`
        : `Segmenting: ${done} of ${total} done${failures}`;
  }

  private select(id: number): void {
    const item = this.items.find((i) => i.id === id) ?? null;
    if (item === this.selected) return;
    this.selected = item;
    this.showSelected();
  }

  private async showSelected(): Promise<void> {
    const item = this.selected;
    if (!item) {
      replace(
        this.result,
        h(
          'p',
          { class: 'empty' },
          'Choose a model, then drop, paste or pick images (or give a URL). Masks, labels, scores and boxes appear here.',
        ),
      );
      return;
    }
    if (item.state === 'queued' || item.state === 'running') {
      replace(
        this.result,
        h(
          'div',
          { class: 'pending', 'aria-busy': 'true' },
          h('img', { class: 'pending-image', src: item.preview, alt: '' }),
          h('p', {}, item.state === 'queued' ? `${item.name} is waiting…` : `Segmenting ${item.name}…`),
        ),
      );
      return;
    }
    if (item.state === 'error' || !item.answer) {
      replace(this.result, problem(item.error, `${item.name} could not be segmented`));
      return;
    }
    if (!item.viewer) {
      item.image ??= loadImage(item.preview);
      const image = await item.image;
      // The user may have picked another image, or another model, while this one decoded.
      if (item !== this.selected || !item.answer) return;
      try {
        item.viewer ??= new Viewer({
          name: item.name,
          imageId: imageIdFor(item.name, item.position),
          source: item.source,
          answer: item.answer.answer,
          text: item.answer.text,
          image,
        });
      } catch (error) {
        replace(this.result, problem(error, `The answer for ${item.name} cannot be shown`));
        return;
      }
    }
    replace(this.result, item.viewer.element);
  }
}
