/**
 * The downloads of one result: the mask PNG (from the server, in its dataset conventions), the overlay PNG as
 * shown (from the canvas, with the current toggles and opacity; from the server when the browser may not read
 * the image's pixels), the COCO results computed in the browser and the answer JSON exactly as received.
 */

import type { SegmentationJson } from '../../src/serving/types.js';
import { ApiError, type ImageSource, segmentToPng } from './api';
import { cocoResults } from './coco';
import { h } from './dom';
import { section } from './panels';

export function save(blob: Blob, fileName: string): void {
  const url = URL.createObjectURL(blob);
  const link = h('a', { href: url, download: fileName, hidden: true });
  document.body.append(link);
  link.click();
  link.remove();
  // Revoking at once can cancel a download that has not read the blob yet; a minute is ample.
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

function json(value: unknown): Blob {
  return new Blob([JSON.stringify(value, null, 2)], { type: 'application/json' });
}

/** "photo.jpg" -> "photo": the stem of every downloaded file's name. */
function stem(name: string): string {
  const dot = name.lastIndexOf('.');
  return (dot > 0 ? name.slice(0, dot) : name) || 'image';
}

export interface DownloadInput {
  name: string;
  imageId: number;
  source: ImageSource;
  answer: SegmentationJson;
  text: string;
  /** The overlay as shown, or null when the canvas holds pixels of another origin (it cannot be read). */
  overlayAsShown(): Promise<Blob | null>;
}

export function downloadsPanel(input: DownloadInput): HTMLElement {
  const status = h('p', { class: 'download-status', role: 'status' });
  const base = stem(input.name);
  const { answer, source } = input;

  const action = (label: string, description: string, run: () => Promise<void>) => {
    const button = h('button', { type: 'button', class: 'button secondary', title: description }, label);
    button.addEventListener('click', async () => {
      button.disabled = true;
      status.textContent = '';
      status.classList.remove('error');
      try {
        await run();
      } catch (error) {
        status.classList.add('error');
        status.textContent =
          error instanceof ApiError
            ? `${label}: ${error.code}: ${error.message}`
            : `${label}: ${(error as Error).message}`;
      } finally {
        button.disabled = false;
      }
    });
    return button;
  };

  const answerJson = action('Answer JSON', 'The API answer exactly as received', async () => {
    save(new Blob([input.text], { type: 'application/json' }), `${base}-segserve.json`);
  });
  // A classifier answers labels and scores: there is no mask, overlay or COCO result to save.
  if (answer.task === 'classification') {
    return section('Downloads', h('div', { class: 'button-row' }, answerJson), status);
  }
  const buttons = [
    action('Mask PNG', 'The mask PNG from the server (class ids, or instance numbers 1..N)', async () => {
      save(await segmentToPng(source, answer.model, answer.version, 'mask'), `${base}-mask.png`);
    }),
    action(
      'Overlay PNG',
      'The overlay as shown here (the server draws it when the image is from another site)',
      async () => {
        const shown = await input.overlayAsShown();
        save(
          shown ?? (await segmentToPng(source, answer.model, answer.version, 'overlay')),
          `${base}-overlay.png`,
        );
      },
    ),
    action('COCO results', 'COCO results JSON for this image (pycocotools loadRes format)', async () => {
      save(json(cocoResults(answer, input.imageId, input.name)), `${base}-coco.json`);
    }),
    answerJson,
  ];
  return section('Downloads', h('div', { class: 'button-row' }, ...buttons), status);
}
