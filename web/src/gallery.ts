/**
 * The images of a session as a strip of cards with their state. It is a listbox: one tab stop, arrow keys,
 * Home and End move through the cards, and the selection follows, so a keyboard user flips through results.
 */
import { h, replace } from './dom';

export type ItemState = 'queued' | 'running' | 'done' | 'error';

export interface Card {
  id: number;
  name: string;
  /** Thumbnail address: the file's object URL or the image's own URL. */
  preview: string;
  state: ItemState;
  /** A few words on the state: "3 instances", "IMAGE_CORRUPT"... */
  status: string;
}

const STATE_TEXT: Record<ItemState, string> = {
  queued: 'Waiting',
  running: 'Segmenting',
  done: 'Done',
  error: 'Failed',
};

export class Gallery {
  readonly element: HTMLUListElement;
  private readonly cards = new Map<number, HTMLLIElement>();
  private selected: number | null = null;
  private readonly onSelect: (id: number) => void;

  constructor(onSelect: (id: number) => void) {
    this.onSelect = onSelect;
    this.element = h('ul', {
      class: 'gallery',
      role: 'listbox',
      'aria-label': 'Images',
      'aria-orientation': 'horizontal',
    });
    this.element.addEventListener('keydown', (event) => this.onKey(event));
  }

  add(card: Card): void {
    const element = h('li', { class: 'card', role: 'option', tabindex: -1, 'aria-selected': 'false' });
    element.addEventListener('click', () => this.select(card.id, true));
    this.cards.set(card.id, element);
    this.element.append(element);
    this.update(card);
    if (this.selected === null) this.select(card.id, false);
  }

  update(card: Card): void {
    const element = this.cards.get(card.id);
    if (!element) return;
    element.dataset.state = card.state;
    const thumbnail = h('img', { class: 'thumb', src: card.preview, alt: '', decoding: 'async' });
    // Bytes the browser cannot show (not an image, or a format it lacks) get a plain tile, not a broken icon.
    thumbnail.addEventListener('error', () =>
      thumbnail.replaceWith(h('span', { class: 'thumb no-preview', 'aria-hidden': 'true' }, 'No preview')),
    );
    replace(
      element,
      thumbnail,
      h('span', { class: 'card-name' }, card.name),
      h('span', { class: 'card-state' }, STATE_TEXT[card.state], card.status ? ` · ${card.status}` : ''),
    );
  }

  select(id: number, focus: boolean): void {
    if (!this.cards.has(id)) return;
    this.selected = id;
    for (const [cardId, element] of this.cards) {
      const chosen = cardId === id;
      element.setAttribute('aria-selected', String(chosen));
      element.tabIndex = chosen ? 0 : -1;
    }
    if (focus) this.cards.get(id)?.focus();
    this.onSelect(id);
  }

  clear(): void {
    this.cards.clear();
    this.selected = null;
    this.element.replaceChildren();
  }

  private onKey(event: KeyboardEvent): void {
    const ids = [...this.cards.keys()];
    const at = this.selected === null ? -1 : ids.indexOf(this.selected);
    const target: Record<string, number> = {
      ArrowRight: at + 1,
      ArrowDown: at + 1,
      ArrowLeft: at - 1,
      ArrowUp: at - 1,
      Home: 0,
      End: ids.length - 1,
    };
    const next = target[event.key];
    if (next === undefined) return;
    event.preventDefault();
    this.select(ids[Math.max(0, Math.min(ids.length - 1, next))], true);
  }
}
