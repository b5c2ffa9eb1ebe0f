/**
 * The web UI end to end in Debian's Chromium, against segserve itself (buildApp on a loopback port, the UI built
 * from the current sources in beforeAll). Tiny models always run; the shipped models and COCO photos run where
 * ../shared is present. The overlay is checked from the canvas pixels against the API's own answer, decoded here
 * with the server's RLE decoder and palette; downloads are compared with what the server computes.
 */
import { readFile, rm } from 'node:fs/promises';
import type { Browser, Page } from 'playwright-core';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { type RunningServer, startServer } from '../../src/host/server.js';
import type { RawImage } from '../../src/image/types.js';
import { ModelRepository } from '../../src/models/index.js';
import type { MonitorJson } from '../../src/monitoring/monitor-types.js';
import { toCocoResults } from '../../src/serving/encode.js';
import type { SegmentationJson } from '../../src/serving/types.js';
import {
  CLASS_COLORS,
  LIMIT_COLOR,
  OUTCOME_COLORS,
  SPREAD_COLOR,
  STAGE_COLORS,
} from '../../web/src/monitor-colors.js';
import { readHumanManifest } from '../helpers/datasets.js';
import { REPOSITORY_DIR } from '../helpers/paths.js';
import { writeSelfieFolder } from '../helpers/selfie-folder.js';
import { segment } from '../helpers/serving.js';
import { describeWithShared, sharedPath } from '../helpers/shared.js';
import { testStorage } from '../helpers/storage.js';
import { semanticScene, tinySoftmaxModel, tinyYoloSegModel, yoloScene } from '../helpers/tiny-models.js';
import {
  listen,
  png,
  type RunningApp,
  type TinyRepository,
  tinyRepository,
  writeRepository,
} from '../http/helpers.js';
import { describeAnnotatePage } from './annotate-check.js';
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
import { drawnPixels, pixelsOfColor } from './chart-check.js';
import { describeClassifierPage } from './classifier-check.js';
import { describeMonitorJobs } from './monitor-jobs-check.js';
import { compareOverlay, regionsOf } from './overlay-check.js';
import { describeShadowPage } from './shadow-check.js';
import { describeTrainingRuns } from './training-runs-check.js';
import { describeVersionHistory } from './version-history-check.js';

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
      for (const path of ['/', '/models', '/monitor', '/annotate', '/shadow']) {
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
        expect(await row.textContent()).toContain(`${(cls.area ?? 0).toLocaleString('en')} px`);
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

  describeAnnotatePage(() => browser);
  describeVersionHistory(() => browser);
  describeTrainingRuns(() => browser);
  describeClassifierPage(() => browser);
  describeShadowPage(() => browser);
  describeMonitorJobs(() => browser);

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

  describeWithShared(
    'monitor page on a real model',
    ['models', 'mediapipe-selfie-segmentation', 'selfie_segmentation.onnx'],
    () => {
      let dir: string;
      let server: RunningServer;
      let photos: Buffer[];
      /** Drift is scored after a reference and a full window: 20 + 20 predictions. */
      const DRIFT_SIZE = 20;

      beforeAll(async () => {
        // The shipped selfie config, reading the shared ONNX file, with drift over a reference the test fills.
        // The tiny YOLO beside it: an instance model, for the score chart.
        dir = await writeRepository({ yolo: tinyYoloSegModel() });
        await writeSelfieFolder(dir, 'selfie', {
          monitoring: { drift: { reference_size: DRIFT_SIZE, window: DRIFT_SIZE, threshold: 0.25 } },
        });
        // The composition root itself: metrics, drift watch and monitor history wired as `segserve serve` does.
        server = await startServer({
          modelsDir: dir,
          port: 0,
          host: '127.0.0.1',
          logger: false,
          predictionLog: 'off',
          storage: testStorage(dir),
        });
        const samples = (await readHumanManifest()).slice(0, 2 * DRIFT_SIZE + 6);
        photos = await Promise.all(samples.map((sample) => readFile(sample.image)));
      });
      afterAll(async () => {
        await server?.close();
        if (dir) await rm(dir, { recursive: true, force: true });
      });

      const monitorJson = async (): Promise<MonitorJson> =>
        (await (await fetch(`${server.url}/v1/monitor`)).json()) as MonitorJson;

      /** The page with a clock the test moves: polls happen when the test says, not when the machine is slow. */
      async function openMonitor(viewport = DESKTOP) {
        const opened = await openPage(browser, viewport);
        const csp: string[] = [];
        opened.page.on('console', (message) => {
          if (/Content Security Policy/i.test(message.text())) csp.push(message.text());
        });
        const polls: string[] = [];
        opened.page.on('request', (request) => {
          if (new URL(request.url()).pathname === '/v1/monitor') polls.push(request.url());
        });
        return { ...opened, csp, polls };
      }

      it('shows the empty state before any prediction', async () => {
        const { page, errors, csp } = await openMonitor();
        await page.goto(`${server.url}/monitor`);
        const card = page.locator('[data-model="selfie"]');
        await expect
          .poll(() => card.locator('.empty-state').textContent())
          .toBe('No predictions in the last 15 minutes.');
        expect(await card.getByRole('heading', { level: 2 }).textContent()).toBe('selfie v1');
        expect(await page.locator('.server-card .empty-state').textContent()).toBe(
          'No requests in the last 15 minutes.',
        );
        expect(await card.locator('canvas').count()).toBe(0);
        await screenshots(page, 'monitor-empty');
        expect(errors).toEqual([]);
        expect(csp).toEqual([]);
        await page.context().close();
      });

      it('draws the charts of real predictions, with the series of each model, live', {
        timeout: 120_000,
      }, async () => {
        for (const photo of photos) {
          const response = await fetch(`${server.url}/v1/models/selfie/segment`, {
            method: 'POST',
            body: new Uint8Array(photo),
          });
          expect(response.status).toBe(200);
        }
        const scene = new Uint8Array(await png(yoloScene()));
        for (let i = 0; i < 3; i++) {
          await fetch(`${server.url}/v1/models/yolo/segment`, { method: 'POST', body: scene });
        }
        const bad = await fetch(`${server.url}/v1/models/selfie/segment`, {
          method: 'POST',
          body: 'not an image',
        });
        expect(bad.status).toBe(415);
        // Drift scores are sampled once a second, after the last prediction's event.
        await vi.waitFor(
          async () => {
            const selfie = (await monitorJson()).models.find((m) => m.model === 'selfie');
            expect(selfie?.drift?.phase).toBe('monitoring');
            expect(Object.keys(selfie?.drift?.signals ?? {}).length).toBeGreaterThan(0);
          },
          { timeout: 10_000 },
        );

        const { page, errors, csp, polls } = await openMonitor();
        await page.clock.install();
        // The last minute: 12 buckets, wide bars (the traffic of this test fits in one or two).
        await page.goto(`${server.url}/monitor?window=60`);
        expect(await page.getByLabel('Time window').inputValue()).toBe('60');
        const id = 'selfie-v1';
        const canvases = [
          'requests-server',
          `requests-${id}`,
          `latency-${id}`,
          `queue-${id}`,
          `uncertainty-${id}`,
          `classes-${id}`,
          `drift-${id}`,
          'uncertainty-yolo-v1',
          'classes-yolo-v1',
        ];
        for (const testId of canvases) await page.getByTestId(testId).waitFor();

        // Pixels, not elements: each chart holds its series drawn in its own colour.
        const expectDrawn = async (testId: string, color: string) => {
          const pixels = await canvasPixels(page, testId);
          expect(pixels.width, testId).toBeGreaterThan(300);
          expect(drawnPixels(pixels), testId).toBeGreaterThan(1000);
          expect(pixelsOfColor(pixels, color), `${testId} in ${color}`).toBeGreaterThan(8);
        };
        await expectDrawn('requests-server', OUTCOME_COLORS.ok);
        await expectDrawn(`requests-${id}`, OUTCOME_COLORS.ok);
        await expectDrawn(`requests-${id}`, OUTCOME_COLORS.client_error);
        await expectDrawn(`latency-${id}`, STAGE_COLORS.infer);
        await expectDrawn(`latency-${id}`, LIMIT_COLOR);
        await expectDrawn(`queue-${id}`, LIMIT_COLOR);
        await expectDrawn(`uncertainty-${id}`, SPREAD_COLOR);
        await expectDrawn(`classes-${id}`, CLASS_COLORS[0]);
        await expectDrawn(`classes-${id}`, CLASS_COLORS[1]);
        await expectDrawn(`drift-${id}`, LIMIT_COLOR);
        await expectDrawn('uncertainty-yolo-v1', SPREAD_COLOR);

        // The model's series by name: card title, chart titles, legends.
        const card = page.locator('[data-model="selfie"]');
        expect(await card.getByRole('heading', { level: 2 }).textContent()).toBe('selfie v1');
        const text = (await card.textContent()) ?? '';
        for (const label of [
          'Requests per second',
          'Latency by stage',
          'Entropy per prediction',
          'Class mix',
          'Drift (PSI per signal)',
          'infer',
          'p95 total',
          'median',
          'background',
          'person',
          'brightness',
          'threshold 0.25',
          'binary',
        ]) {
          expect(text, label).toContain(label);
        }
        // The drift badge and tile say what the API says (20 photos against 20 is a small sample: it may drift).
        const drifting = (await monitorJson()).models.find((m) => m.model === 'selfie')?.drift?.detected;
        expect(text).toContain(drifting ? 'drift detected' : 'no drift');
        expect(await page.locator('[data-model="yolo"]').textContent()).toContain('Instance scores');
        const tile = (name: string) => page.locator('.tile').filter({ hasText: name });
        expect(await tile('Models ready').locator('.tile-value').textContent()).toBe('2 / 2');
        expect(await tile('Drift').locator('.tile-value').textContent()).toBe(drifting ? 'detected' : 'none');
        expect(await tile('Drift').getAttribute('data-state')).toBe(drifting ? 'bad' : 'ok');
        expect(Number(await tile('Requests / s').locator('.tile-value').textContent())).toBeGreaterThan(0);
        expect(await tile('Requests / s').getAttribute('data-state')).toBe('ok');

        // Live: a poll every 5 s while shown; none while the tab is hidden; one at once when it is back.
        const before = polls.length;
        await page.clock.runFor(5_100);
        await expect.poll(() => polls.length).toBe(before + 1);
        await page.evaluate(`(() => {
          Object.defineProperty(document, 'hidden', { configurable: true, get: () => true });
          document.dispatchEvent(new Event('visibilitychange'));
        })()`);
        await expect
          .poll(() => page.locator('.monitor-status').textContent())
          .toBe('Paused while this tab is hidden.');
        await page.clock.runFor(30_000);
        expect(polls.length).toBe(before + 1);
        await page.evaluate(`(() => {
          Object.defineProperty(document, 'hidden', { configurable: true, get: () => false });
          document.dispatchEvent(new Event('visibilitychange'));
        })()`);
        await expect.poll(() => polls.length).toBe(before + 2);
        await expect.poll(() => page.locator('.monitor-status').textContent()).toMatch(/^Live · updated /);

        await screenshot(page, 'monitor-desktop');
        // The whole history: the same traffic, now thin bars at the right end.
        await page.getByLabel('Time window').selectOption('900');
        await expect.poll(() => page.getByTestId(`latency-${id}`).count()).toBe(1);
        await expect.poll(() => new URL(page.url()).search).toBe('?window=900');
        await screenshot(page, 'monitor-15m-desktop');
        await page.getByLabel('Time window').selectOption('60');
        // The charts are rebuilt in the colours of the scheme the system switches to (grid lines: --border).
        await page.emulateMedia({ colorScheme: 'dark' });
        await expect
          .poll(async () => pixelsOfColor(await canvasPixels(page, `latency-${id}`), '#2e3845', 4))
          .toBeGreaterThan(100);
        await screenshot(page, 'monitor-dark-desktop');
        await page.emulateMedia({ colorScheme: 'light' });
        await expect
          .poll(async () => pixelsOfColor(await canvasPixels(page, `latency-${id}`), '#d7dde5', 4))
          .toBeGreaterThan(100);

        // On a phone the charts stack in one column and shrink to its width.
        await page.setViewportSize(PHONE);
        await expect
          .poll(async () => (await canvasPixels(page, `latency-${id}`)).width)
          .toBeLessThan(PHONE.width);
        const boxes = await Promise.all(
          [`requests-${id}`, `latency-${id}`, `queue-${id}`].map((testId) =>
            page.getByTestId(testId).boundingBox(),
          ),
        );
        expect(new Set(boxes.map((box) => Math.round(box?.x ?? -1))).size).toBe(1);
        expect(boxes[0]!.y).toBeLessThan(boxes[1]!.y);
        expect(boxes[1]!.y).toBeLessThan(boxes[2]!.y);
        const pageWidth = await page.evaluate('document.documentElement.scrollWidth');
        expect(pageWidth).toBeLessThanOrEqual(PHONE.width);
        await expectDrawn(`latency-${id}`, STAGE_COLORS.infer);
        await screenshot(page, 'monitor-phone');
        expect(errors).toEqual([]);
        expect(csp).toEqual([]);
        await page.context().close();
      });
    },
  );
});
