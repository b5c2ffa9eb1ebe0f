/**
 * Where images come in: a drop zone that is also a button (click, Enter or Space opens the file picker), and a
 * URL field (the server fetches the URL). Pasting is handled by the page, which hears it anywhere. Every file
 * goes to the server as it is: the server, not the browser, decides what is an image it can read.
 */
import { h, uniqueId } from './dom';

export interface Inputs {
  files(files: File[]): void;
  url(url: string): void;
}

export function dropZone(inputs: Inputs): HTMLElement {
  const hintId = uniqueId('drop-hint');
  const picker = h('input', {
    type: 'file',
    accept: 'image/*',
    multiple: true,
    class: 'visually-hidden',
    tabindex: -1,
    'aria-hidden': 'true',
  });
  picker.addEventListener('change', () => {
    if (picker.files && picker.files.length > 0) inputs.files([...picker.files]);
    // Picking the same file again must fire `change` again.
    picker.value = '';
  });

  const zone = h(
    'div',
    { class: 'drop-zone', role: 'button', tabindex: 0, 'aria-describedby': hintId },
    h('span', { class: 'drop-title' }, 'Drop images here or choose files'),
    h(
      'span',
      { class: 'drop-hint', id: hintId },
      'One or many · JPEG, PNG, WebP, GIF, TIFF, AVIF · or paste',
    ),
  );
  zone.addEventListener('click', () => picker.click());
  zone.addEventListener('keydown', (event) => {
    if (event.key === 'Enter' || event.key === ' ') {
      // Space would scroll the page otherwise.
      event.preventDefault();
      picker.click();
    }
  });
  zone.addEventListener('dragover', (event) => {
    event.preventDefault();
    zone.classList.add('dragging');
  });
  zone.addEventListener('dragleave', () => zone.classList.remove('dragging'));
  zone.addEventListener('drop', (event) => {
    event.preventDefault();
    zone.classList.remove('dragging');
    const files = [...(event.dataTransfer?.files ?? [])];
    if (files.length > 0) inputs.files(files);
    else {
      // An image dragged from another page arrives as its address.
      const url = event.dataTransfer?.getData('text/uri-list').split('\n')[0]?.trim();
      if (url) inputs.url(url);
    }
  });

  const urlId = uniqueId('url');
  const url = h('input', {
    id: urlId,
    type: 'url',
    name: 'url',
    placeholder: 'https://example.com/cat.jpg',
    required: true,
    autocomplete: 'url',
  });
  const form = h(
    'form',
    { class: 'url-form' },
    h('label', { for: urlId }, 'Image URL'),
    h('div', { class: 'url-row' }, url, h('button', { type: 'submit', class: 'button' }, 'Segment URL')),
  );
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    inputs.url(url.value.trim());
    url.value = '';
  });

  return h('div', { class: 'inputs' }, zone, picker, form);
}
