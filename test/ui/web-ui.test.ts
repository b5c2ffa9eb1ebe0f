/**
 * The web UI end to end in Debian's Chromium, against segserve itself (buildApp on a loopback port, the UI built
 * from the current sources in beforeAll). Tiny models always run; the shipped models and COCO photos run where
 * ../shared is present. The overlay is checked from the canvas pixels against the API's own answer, decoded here
 * with the server's RLE decoder and palette; downloads are compared with what the server computes.
 */
import { readFile } from 'node:fs/promises';
import type { Browser, Page } from 'playwright-core';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RawImage } from '../../src/image/types.js';
import { ModelRepository } from '../../src/models/index.js';
import { toCocoResults } from '../../src/serving/encode.js';
import type { SegmentationJson } from '../../src/serving/types.js';
import { REPOSITORY_DIR } from '../helpers/paths.js';
import { segment } from '../helpers/serving.js';
import { describeWithShared, sharedPath } from '../helpers/shared.js';
import { semanticScene, tinySoftmaxModel, tinyYoloSegModel, yoloScene } from '../helpers/tiny-models.js';
import { listen, type RunningApp, type TinyRepository, tinyRepository } from '../http/helpers.js';
import {
  buildWebUi,
  canvasPixels,
  DESKTOP,
  describeWithChromium,
  download,
  launchBrowser,
  openPage,
  PHONE,
  screenshot,
} from './browser.js';
import { compareOverlay, regionsOf } from './overlay-check.js';

interface UploadFile {
  name: string;
  mimeType: string;
  buffer: Buffer;
}

interface ApiError {
  error: { code: string; message: string };
}

const NOT_AN_IMAGE: UploadFile = {
  name: 'notes.jpg',
  mimeType: 'image/jpeg',
  buffer: Buffer.from('These are meeting notes, saved with the wrong extension.\n'),
};

async function scaledPng(image: RawImage, factor: number): Promise<Buffer> {
  return sharp(Buffer.from(image.data), {
    raw: { width: image.width, height: image.height, channels: image.channels },
  })
    .resize(image.width * factor, image.height * factor, { kernel: 'nearest' })
    .png()
    .toBuffer();
}

/** The API's answer for the same bytes, asked for exactly as the UI asks. */
async function apiSegment(base: string, model: string, file: UploadFile, format = 'json'): Promise<Response> {
  const form = new FormData();
  form.append('file', new Blob([new Uint8Array(file.buffer)], { type: file.mimeType }), file.name);
  const query = format === 'json' ? 'format=json&mask_format=rle' : `format=${format}`;
  return fetch(`${base}/v1/models/${model}/segment?${query}`, { method: 'POST', body: form });
}

async function apiAnswer(base: string, model: string, file: UploadFile): Promise<SegmentationJson> {
  const response = await apiSegment(base, model, file);
  expect(response.status).toBe(200);
  return (await response.json()) as SegmentationJson;
}

/** Opens the segment page with a model chosen through the address, as the models page links to it. */
async function openSegmentPage(page: Page, base: string, model: string): Promise<void> {
  await page.goto(`${base}/?model=${encodeURIComponent(model)}`);
  await expect.poll(() => page.getByLabel('Model', { exact: true }).inputValue()).toBe(model);
}

/** The keyboard path: focus the drop zone, Enter opens the file picker, the files are chosen there. */
async function uploadByKeyboard(page: Page, files: UploadFile[]): Promise<void> {
  await page.getByRole('button', { name: /Drop images here/ }).focus();
  const [chooser] = await Promise.all([page.waitForEvent('filechooser'), page.keyboard.press('Enter')]);
  await chooser.setFiles(files);
}

/**
 * Files arriving by paste (anywhere on the page) or by a drop on the drop zone, as the browser delivers them.
 * A script string, because the tests compile without the DOM library.
 */
async function deliverFiles(page: Page, how: 'paste' | 'drop', files: UploadFile[]): Promise<void> {
  const payload = files.map((f) => ({ name: f.name, type: f.mimeType, base64: f.buffer.toString('base64') }));
  const event =
    how === 'paste'
      ? "new ClipboardEvent('paste', { bubbles: true, cancelable: true, clipboardData: data })"
      : "new DragEvent('drop', { bubbles: true, cancelable: true, dataTransfer: data })";
  await page.evaluate(`(() => {
    const data = new DataTransfer();
    for (const file of ${JSON.stringify(payload)}) {
      const bytes = Uint8Array.from(atob(file.base64), (c) => c.charCodeAt(0));
      data.items.add(new File([bytes], file.name, { type: file.type }));
    }
    const target = ${how === 'paste' ? 'document.body' : "document.querySelector('.drop-zone')"};
    target.dispatchEvent(${event});
  })()`);
}

/** Pointer and focus away from the canvas and the lists, so no hover highlight is drawn. */
async function leaveCanvas(page: Page): Promise<void> {
  await page.mouse.move(0, 0);
  // The page's main element takes focus programmatically (tabindex -1): focus leaves the rows and checkboxes.
  await page.locator('#main').focus();
}

/** The overlay canvas against the original canvas: every visible mask pixel tinted, every other one untouched. */
async function expectOverlay(page: Page, answer: SegmentationJson, hidden: Set<string>): Promise<number> {
  await leaveCanvas(page);
  const original = await canvasPixels(page, 'original-canvas');
  const overlay = await canvasPixels(page, 'overlay-canvas');
  expect([original.width, original.height]).toEqual([answer.image.width, answer.image.height]);
  const visible = regionsOf(answer).filter((r) => !hidden.has(r.label));
  const result = compareOverlay(original, overlay, visible, 0.5);
  expect(result.mismatches, result.firstMismatches.join('\n')).toBe(0);
  const masked = new Set<number>();
  for (const region of visible) {
    for (let i = 0; i < region.mask.length; i++) if (region.mask[i]) masked.add(i);
  }
  expect(result.tinted).toBe(masked.size);
  return result.tinted;
}

function withoutTimings(answer: SegmentationJson): Omit<SegmentationJson, 'timings'> {
  const { timings: _timings, ...rest } = answer;
  return rest;
}

/**
 * The instance-model path shared by the tiny and the real model: upload, the overlay's pixels, a class toggled
 * off and back on, and every download compared with the server's own output for the same image.
 */
async function exerciseInstanceModel(
  page: Page,
  base: string,
  repository: ModelRepository,
  model: string,
  file: UploadFile,
  imageId: number,
): Promise<SegmentationJson> {
  await openSegmentPage(page, base, model);
  await uploadByKeyboard(page, [file]);
  await page.getByTestId('overlay-canvas').waitFor();
  const answer = await apiAnswer(base, model, file);
  const instances = answer.instances ?? [];
  expect(instances.length).toBeGreaterThan(0);
  await expect
    .poll(() => page.getByRole('group', { name: `Instances (${instances.length})` }).count())
    .toBe(1);

  await page.getByLabel('Boxes and labels').uncheck();
  expect(await expectOverlay(page, answer, new Set())).toBeGreaterThan(0);

  const label = instances[0].label;
  const count = instances.filter((i) => i.label === label).length;
  const chip = page
    .getByRole('group', { name: 'Classes' })
    .getByRole('checkbox', { name: `${label} (${count})` });
  await chip.uncheck();
  await expectOverlay(page, answer, new Set([label]));
  await chip.check();
  await expectOverlay(page, answer, new Set());

  const coco = await download(page, () => page.getByRole('button', { name: 'COCO results' }).click());
  const seg = await segment(repository, model, file.buffer);
  const expected = toCocoResults(seg, imageId, file.name);
  const got = JSON.parse(coco.bytes.toString('utf8')) as typeof expected;
  expect(got.map(({ score: _s, ...rest }) => rest)).toEqual(expected.map(({ score: _s, ...rest }) => rest));
  // The browser has the answer's 4-decimal scores; the server's COCO file keeps 5.
  for (const [i, entry] of got.entries()) expect(entry.score).toBeCloseTo(expected[i].score, 3);

  const raw = await download(page, () => page.getByRole('button', { name: 'Answer JSON' }).click());
  expect(withoutTimings(JSON.parse(raw.bytes.toString('utf8')))).toEqual(withoutTimings(answer));

  const mask = await download(page, () => page.getByRole('button', { name: 'Mask PNG' }).click());
  const apiMask = Buffer.from(await (await apiSegment(base, model, file, 'mask')).arrayBuffer());
  expect(mask.name).toMatch(/-mask\.png$/);
  expect(mask.bytes.equals(apiMask)).toBe(true);

  await leaveCanvas(page);
  const overlayPng = await download(page, () => page.getByRole('button', { name: 'Overlay PNG' }).click());
  const shown = await canvasPixels(page, 'overlay-canvas');
  const saved = await sharp(overlayPng.bytes).ensureAlpha().raw().toBuffer();
  expect(new Uint8Array(saved)).toEqual(shown.data);

  await page.getByLabel('Boxes and labels').check();
  return answer;
}

/** Screenshots at desktop and phone width, from the top of the page. */
async function screenshots(page: Page, name: string): Promise<void> {
  await page.setViewportSize(DESKTOP);
  await screenshot(page, `${name}-desktop`);
  await page.setViewportSize(PHONE);
  await screenshot(page, `${name}-phone`);
  await page.setViewportSize(DESKTOP);
}

describeWithChromium('web UI in Chromium', () => {
  let browser: Browser;

  beforeAll(async () => {
    await buildWebUi();
    browser = await launchBrowser();
  });
  afterAll(() => browser?.close());

  describe('tiny models', () => {
    let repo: TinyRepository;
    let server: RunningApp;
    const yolo: UploadFile = { name: 'scene-yolo.png', mimeType: 'image/png', buffer: Buffer.alloc(0) };
    const semantic: UploadFile = {
      name: 'scene-semantic.png',
      mimeType: 'image/png',
      buffer: Buffer.alloc(0),
    };

    beforeAll(async () => {
      repo = await tinyRepository({
        'tiny-yolo': { ...tinyYoloSegModel(), versions: [1, 2] },
        'tiny-softmax': tinySoftmaxModel(),
        broken: { bytes: new TextEncoder().encode('not an ONNX model'), config: tinySoftmaxModel().config },
      });
      server = await listen({ repository: repo.repository });
      yolo.buffer = await scaledPng(yoloScene(), 4);
      semantic.buffer = await scaledPng(semanticScene(), 16);
    });
    afterAll(async () => {
      await server?.app.close();
      await repo?.close();
    });

    it('serves the pages as index.html and the hashed assets with a year-long immutable cache', async () => {
      for (const path of ['/', '/models']) {
        const response = await fetch(`${server.base}${path}`);
        expect(response.status).toBe(200);
        expect(response.headers.get('content-type')).toMatch(/^text\/html/);
        expect(response.headers.get('cache-control')).toBe('no-cache');
        expect(response.headers.get('content-security-policy')).toContain("script-src 'self'");
        const html = await response.text();
        const script = /src="(\/assets\/[^"]+\.js)"/.exec(html)?.[1];
        expect(script).toBeDefined();
        const asset = await fetch(`${server.base}${script}`);
        expect(asset.status).toBe(200);
        expect(asset.headers.get('content-type')).toMatch(/javascript/);
        expect(asset.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
      }
      const missing = await fetch(`${server.base}/assets/missing-0000.js`);
      expect(missing.status).toBe(404);
      expect(((await missing.json()) as ApiError).error.code).toBe('ROUTE_NOT_FOUND');
    });

    it('lists every model with its task, versions and state, and the load error of a broken one', async () => {
      const { page, errors } = await openPage(browser);
      const list = (await (await fetch(`${server.base}/v1/models`)).json()) as {
        models: Array<{
          name: string;
          state: string;
          task?: string;
          error?: { code: string; message: string };
        }>;
      };
      await page.goto(`${server.base}/models`);
      await expect.poll(() => page.locator('[data-model]').count()).toBe(list.models.length);
      for (const model of list.models) {
        const card = page.locator(`[data-model="${model.name}"]`);
        await expect.poll(() => card.getByRole('heading', { level: 2 }).textContent()).toBe(model.name);
        const text = (await card.textContent()) ?? '';
        expect(text).toContain(model.state);
        if (model.task) expect(text).toContain(model.task);
        if (model.error) {
          expect(text).toContain(model.error.code);
          expect(text).toContain(model.error.message);
        }
      }
      expect(list.models.find((m) => m.name === 'broken')?.state).toBe('failed');
      expect(await page.locator('[data-model="tiny-yolo"]').textContent()).toMatch(/v2.*ready.*v1.*ready/);
      await screenshots(page, 'tiny-models');
      expect(errors).toEqual([]);
      await page.context().close();
    });

    it('draws instance masks where the API says, toggles a class, and downloads what the server computes', async () => {
      const { page, errors } = await openPage(browser);
      await exerciseInstanceModel(page, server.base, repo.repository, 'tiny-yolo', yolo, 1);
      await screenshots(page, 'tiny-segment-instance');
      await page.emulateMedia({ colorScheme: 'dark' });
      await screenshot(page, 'tiny-segment-instance-dark-desktop');
      expect(errors).toEqual([]);
      await page.context().close();
    });

    it('a pasted image: semantic legend with per-class areas; a class toggled off returns to the original', async () => {
      const { page, errors } = await openPage(browser);
      await openSegmentPage(page, server.base, 'tiny-softmax');
      await deliverFiles(page, 'paste', [semantic]);
      await page.getByTestId('overlay-canvas').waitFor();
      const answer = await apiAnswer(server.base, 'tiny-softmax', semantic);
      const classes = answer.classes ?? [];
      expect(classes.map((c) => c.label)).toEqual(['red', 'green', 'blue']);
      const legend = page.getByRole('group', { name: 'Classes' });
      for (const cls of classes) {
        const row = legend.getByRole('listitem').filter({ hasText: cls.label });
        expect(await row.textContent()).toContain(`${cls.area.toLocaleString('en')} px`);
      }
      await expectOverlay(page, answer, new Set());
      await legend.getByRole('checkbox', { name: 'green' }).uncheck();
      await expectOverlay(page, answer, new Set(['green']));

      const coco = await download(page, () => page.getByRole('button', { name: 'COCO results' }).click());
      const seg = await segment(repo.repository, 'tiny-softmax', semantic.buffer);
      expect(JSON.parse(coco.bytes.toString('utf8'))).toEqual(toCocoResults(seg, 1, semantic.name));
      await legend.getByRole('checkbox', { name: 'green' }).check();
      await screenshots(page, 'tiny-segment-semantic');
      expect(errors).toEqual([]);
      await page.context().close();
    });

    it("shows the API's code and message for a file that is not an image", async () => {
      const { page, errors } = await openPage(browser);
      await openSegmentPage(page, server.base, 'tiny-yolo');
      await uploadByKeyboard(page, [NOT_AN_IMAGE]);
      const expected = ((await (await apiSegment(server.base, 'tiny-yolo', NOT_AN_IMAGE)).json()) as ApiError)
        .error;
      expect(expected.code).toBe('IMAGE_UNSUPPORTED_FORMAT');
      const alert = page.locator('.result [role="alert"]');
      await expect.poll(() => alert.locator('.problem-code').textContent()).toBe(expected.code);
      expect(await alert.locator('.problem-message').textContent()).toBe(expected.message);
      await screenshots(page, 'tiny-segment-error');
      expect(errors).toEqual([]);
      await page.context().close();
    });

    it("shows the API's refusal of a URL it will not fetch", async () => {
      const { page, errors } = await openPage(browser);
      await openSegmentPage(page, server.base, 'tiny-yolo');
      const url = 'http://127.0.0.1:9/cat.jpg';
      await page.getByLabel('Image URL').fill(url);
      await page.getByLabel('Image URL').press('Enter');
      const response = await fetch(`${server.base}/v1/models/tiny-yolo/segment?format=json`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ url }),
      });
      const expected = ((await response.json()) as ApiError).error;
      expect(expected.code).toBe('URL_FORBIDDEN');
      const alert = page.locator('.result [role="alert"]');
      await expect.poll(() => alert.locator('.problem-code').textContent()).toBe(expected.code);
      expect(await alert.locator('.problem-message').textContent()).toBe(expected.message);
      expect(errors).toEqual([]);
      await page.context().close();
    });

    it('dropped images show as a gallery with progress and per-image errors, browsed with the arrow keys', async () => {
      const { page, errors } = await openPage(browser);
      await openSegmentPage(page, server.base, 'tiny-yolo');
      await deliverFiles(page, 'drop', [yolo, NOT_AN_IMAGE, semantic]);
      const progress = page.locator('.progress-row [role="status"]');
      await expect.poll(() => progress.textContent()).toBe('3 of 3 done, 1 failed');
      const gallery = page.getByRole('listbox', { name: 'Images' });
      const cards = gallery.getByRole('option');
      const selected = gallery.getByRole('option', { selected: true });
      expect(await cards.count()).toBe(3);
      expect(await cards.nth(1).textContent()).toContain('IMAGE_UNSUPPORTED_FORMAT');
      await expect.poll(() => selected.textContent()).toContain(yolo.name);
      await selected.focus();
      await page.keyboard.press('ArrowRight');
      await expect.poll(() => selected.textContent()).toContain(NOT_AN_IMAGE.name);
      await expect
        .poll(() => page.locator('.result .problem-code').textContent())
        .toBe('IMAGE_UNSUPPORTED_FORMAT');
      await page.keyboard.press('End');
      await expect.poll(() => selected.textContent()).toContain(semantic.name);
      await page.getByTestId('overlay-canvas').waitFor();
      await page.keyboard.press('Home');
      await screenshots(page, 'tiny-gallery');
      // Another version: the same images run again, and the results say which version answered.
      await page.getByLabel('Version', { exact: true }).selectOption('1');
      await expect.poll(() => progress.textContent()).toBe('3 of 3 done, 1 failed');
      await expect.poll(() => page.locator('.result .meta').textContent()).toContain('tiny-yolo v1 ');
      expect(page.url()).toBe(`${server.base}/?model=tiny-yolo&version=1`);
      // To the models page and back: the session keeps its images, results and model.
      await page.getByRole('link', { name: 'Models', exact: true }).click();
      await page.locator('[data-model]').first().waitFor();
      await page.getByRole('link', { name: 'Segment', exact: true }).click();
      await expect.poll(() => page.url()).toBe(`${server.base}/?model=tiny-yolo&version=1`);
      expect(await cards.count()).toBe(3);
      expect(await progress.textContent()).toBe('3 of 3 done, 1 failed');
      expect(await page.locator('.result .meta').textContent()).toContain('tiny-yolo v1 ');
      expect(errors).toEqual([]);
      await page.context().close();
    });
  });

  describeWithShared('shipped models on real photos', ['models', 'yolov8n-seg-coco'], () => {
    let repository: ModelRepository;
    let server: RunningApp;
    let photo: UploadFile;
    let person: UploadFile;

    beforeAll(async () => {
      repository = await ModelRepository.open(REPOSITORY_DIR);
      server = await listen({ repository });
      const name = '000000397133.jpg';
      photo = {
        name,
        mimeType: 'image/jpeg',
        buffer: await readFile(sharedPath('datasets', 'coco-val2017-mini', 'images', name)),
      };
      person = {
        name: '72.jpg',
        mimeType: 'image/jpeg',
        buffer: await readFile(sharedPath('datasets', 'human-segmentation', 'images', '72.jpg')),
      };
    });
    afterAll(async () => {
      await server?.app.close();
      await repository?.close();
    });

    it('yolov8n-seg on a COCO photo: masks where the API says, class toggle, downloads', async () => {
      const { page, errors } = await openPage(browser);
      const answer = await exerciseInstanceModel(page, server.base, repository, 'yolov8n-seg', photo, 397133);
      expect(answer.instances?.some((i) => i.label === 'person')).toBe(true);
      // Hover the most confident instance: its details appear beside the canvas.
      const top = answer.instances![0];
      const canvas = page.getByTestId('overlay-canvas');
      const shown = await canvas.boundingBox();
      const mask = regionsOf(answer).at(-1)!.mask;
      const inside = mask.findIndex(
        (on, i) => on === 1 && i % answer.image.width > top.box[0] + top.box[2] / 3,
      );
      const [x, y] = [inside % answer.image.width, Math.floor(inside / answer.image.width)];
      await page.mouse.move(
        shown!.x + ((x + 0.5) / answer.image.width) * shown!.width,
        shown!.y + ((y + 0.5) / answer.image.height) * shown!.height,
      );
      await expect.poll(() => page.locator('.details').textContent()).toContain(top.score.toFixed(3));
      await screenshot(page, 'segment-hover-desktop');
      await screenshots(page, 'segment');
      expect(errors).toEqual([]);
      await page.context().close();
    });

    it('pan-skin-clothes-hair on a person: legend with the areas the API reports', async () => {
      const { page, errors } = await openPage(browser);
      await openSegmentPage(page, server.base, 'pan-skin-clothes-hair');
      await uploadByKeyboard(page, [person]);
      await page.getByTestId('overlay-canvas').waitFor();
      const answer = await apiAnswer(server.base, 'pan-skin-clothes-hair', person);
      const legend = page.getByRole('group', { name: 'Classes' });
      expect(await legend.getByRole('checkbox').count()).toBe(answer.classes?.length);
      await expectOverlay(page, answer, new Set());
      await legend.getByRole('checkbox', { name: 'hair' }).uncheck();
      await expectOverlay(page, answer, new Set(['hair']));
      await legend.getByRole('checkbox', { name: 'hair' }).check();
      await screenshots(page, 'segment-semantic');
      await page.getByText('Side by side').click();
      await screenshot(page, 'segment-semantic-side-by-side-desktop');
      expect(errors).toEqual([]);
      await page.context().close();
    });

    it('the models page lists the shipped models with their tasks and states', async () => {
      const { page, errors } = await openPage(browser);
      await page.goto(server.base);
      await page.getByRole('link', { name: 'Models', exact: true }).click();
      await expect.poll(() => page.url()).toBe(`${server.base}/models`);
      const names = repository.list().map((m) => m.name);
      await expect.poll(() => page.locator('[data-model] h2').allTextContents()).toEqual(names);
      for (const model of repository.list()) {
        const text = (await page.locator(`[data-model="${model.name}"]`).textContent()) ?? '';
        expect(text).toContain(model.state);
        expect(text).toContain(model.task);
      }
      await screenshots(page, 'models');
      expect(errors).toEqual([]);
      await page.context().close();
    });
  });
});
