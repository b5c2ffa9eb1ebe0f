/**
 * The annotate page in Chromium, against segserve as `segserve serve` runs it (startServer: the embedded
 * database and a blob folder, opened on first use), with samples written through the server's own storage as
 * the sink writes them. Real mouse strokes paint on the canvas; the label the server stored is read back, decoded,
 * and compared pixel for pixel with what the strokes cover by their geometry: every pixel whose centre lies within
 * half the brush size of the stroke's path.
 *
 * Registered from web-ui.test.ts, inside its Chromium suite, so the UI is built once for both (two test files
 * building dist/web at once would empty it under each other).
 */
import { rm } from 'node:fs/promises';
import type { Browser, Page } from 'playwright-core';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningServer, startServer } from '../../src/host/server.js';
import type { AnnotationItemJson } from '../../src/learning/annotations/types.js';
import { classMapOf, type LabelDocument } from '../../src/learning/label-document.js';
import { decodeRle } from '../../src/masks/index.js';
import { boxPrediction, insertSample, instancePrediction } from '../helpers/samples.js';
import { testStorage } from '../helpers/storage.js';
import { tinySigmoidModel, tinySoftmaxModel, tinyYoloSegModel } from '../helpers/tiny-models.js';
import { writeRepository } from '../http/helpers.js';
import { DESKTOP, openPage, PHONE, screenshot } from './browser.js';

const W = 96;
const H = 64;
const SCENE_LABELS = ['background', 'red', 'green', 'blue'];
const PET_LABELS = ['cat', 'dog'];

/** A small landscape: sky, ground, a red box and a darker one; `seed` shifts the colours a little. */
async function landscape(seed: number): Promise<Buffer> {
  const data = Buffer.alloc(W * H * 3);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const o = (y * W + x) * 3;
      const sky = y < 26;
      let rgb = sky ? [110 + y * 3, 160 + y * 2, 235] : [96 + ((x * 7 + y * 3) % 23), 128 + seed * 9, 70];
      if (x >= 14 && x < 38 && y >= 30 && y < 54) rgb = [205, 48, 40];
      if (x >= 58 && x < 82 && y >= 18 && y < 50) rgb = [70, 60, 120];
      data.set(rgb, o);
    }
  }
  return sharp(data, { raw: { width: W, height: H, channels: 3 } })
    .png()
    .toBuffer();
}

/** Pixels whose centre is within `radius` of the segment a-b, each set to `value` (written independently of the page). */
function paintCapsule(
  map: Uint8Array,
  a: [number, number],
  b: [number, number],
  radius: number,
  value: number,
): void {
  const [ax, ay] = a;
  const [bx, by] = b;
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const [px, py] = [x + 0.5, y + 0.5];
      const length2 = (bx - ax) ** 2 + (by - ay) ** 2;
      const t =
        length2 === 0
          ? 0
          : Math.min(1, Math.max(0, ((px - ax) * (bx - ax) + (py - ay) * (by - ay)) / length2));
      const distance = Math.hypot(px - (ax + t * (bx - ax)), py - (ay + t * (by - ay)));
      if (distance <= radius) map[y * W + x] = value;
    }
  }
}

/** Drags the mouse over the canvas from a to b (image coordinates), with real pointer events. */
async function stroke(page: Page, a: [number, number], b: [number, number]): Promise<void> {
  const canvas = page.getByTestId('annotate-canvas');
  await canvas.scrollIntoViewIfNeeded();
  const box = await canvas.boundingBox();
  if (!box) throw new Error('the canvas is not shown');
  const at = ([x, y]: [number, number]) =>
    [box.x + (x * box.width) / W, box.y + (y * box.height) / H] as const;
  await page.mouse.move(...at(a));
  await page.mouse.down();
  await page.mouse.move(...at(b), { steps: 14 });
  await page.mouse.up();
}

/** The id of the item the page shows, once it shows `id`. */
async function expectShown(page: Page, id: string): Promise<void> {
  await expect
    .poll(() => page.locator('[data-item]').getAttribute('data-item'), { timeout: 15_000 })
    .toBe(id);
}

export function describeAnnotatePage(browser: () => Browser): void {
  describe('annotate page', () => {
    let dir: string;
    let server: RunningServer;
    const ids: Record<string, string> = {};

    const api = async <T>(path: string): Promise<T> => {
      const response = await fetch(`${server.url}${path}`);
      expect(response.status, path).toBe(200);
      return (await response.json()) as T;
    };

    beforeAll(async () => {
      dir = await writeRepository({
        scenes: tinySoftmaxModel(),
        pets: tinyYoloSegModel(),
        people: tinySigmoidModel(),
      });
      server = await startServer({
        modelsDir: dir,
        port: 0,
        host: '127.0.0.1',
        logger: false,
        predictionLog: 'off',
        monitoring: false,
        storage: testStorage(dir),
      });
      const scene = boxPrediction('semantic', W, H, SCENE_LABELS, [
        { classId: 3, x: 0, y: 0, w: W, h: 24 },
        { classId: 1, x: 18, y: 28, w: 26, h: 22 },
      ]);
      const pets = instancePrediction(W, H, PET_LABELS, [
        { classId: 0, score: 0.62, x: 14, y: 30, w: 24, h: 24 },
        { classId: 1, score: 0.41, x: 60, y: 20, w: 20, h: 28 },
      ]);
      const person = boxPrediction(
        'binary',
        W,
        H,
        ['background', 'red'],
        [{ classId: 1, x: 16, y: 30, w: 20, h: 22 }],
      );
      const add = async (
        name: string,
        model: string,
        prediction: LabelDocument,
        uncertainty: number,
        seed: number,
      ) => {
        ids[name] = await insertSample(server.storage, {
          model,
          image: await landscape(seed),
          prediction,
          uncertainty,
        });
      };
      await add('sceneFirst', 'scenes', scene, 0.91, 1);
      await add('sceneSecond', 'scenes', scene, 0.64, 2);
      await add('sceneThird', 'scenes', scene, 0.33, 3);
      await add('pets', 'pets', pets, 0.7, 4);
      await add('phoneFirst', 'people', person, 0.8, 5);
      await add('phoneSecond', 'people', person, 0.5, 6);
    });

    afterAll(async () => {
      await server?.close();
      if (dir) await rm(dir, { recursive: true, force: true });
    });

    it('claims the most uncertain item, paints a correction, submits it, and the stored label is what was painted', async () => {
      const { page, errors } = await openPage(browser(), DESKTOP);
      const requests: string[] = [];
      page.on('request', (request) =>
        requests.push(`${request.method()} ${new URL(request.url()).pathname}`),
      );
      await page.goto(`${server.url}/annotate?model=scenes`);
      await expectShown(page, ids.sceneFirst);
      const annotator = await page.getByLabel('Your name').inputValue();
      await expect.poll(() => page.locator('.annotate-progress').textContent()).toBe('3 left in the queue');
      // The next item is claimed and loaded while this one is worked on.
      await expect
        .poll(
          async () => (await api<AnnotationItemJson>(`/v1/annotations/${ids.sceneSecond}`)).claim?.annotator,
        )
        .toBe(annotator);
      await expect.poll(() => requests).toContain(`GET /v1/annotations/${ids.sceneSecond}/prediction`);

      // The correction: a green stroke over the ground, then the eraser across it and the red box.
      const expected = classMapOf(
        boxPrediction('semantic', W, H, SCENE_LABELS, [
          { classId: 3, x: 0, y: 0, w: W, h: 24 },
          { classId: 1, x: 18, y: 28, w: 26, h: 22 },
        ]),
      );
      await page.keyboard.press('2');
      await page.getByLabel('Brush size').fill('7');
      await stroke(page, [8.5, 57.5], [88.5, 57.5]);
      paintCapsule(expected, [8.5, 57.5], [88.5, 57.5], 3.5, 2);
      await page.keyboard.press('e');
      await page.getByLabel('Brush size').fill('5');
      await stroke(page, [30.5, 20.5], [50.5, 62.5]);
      paintCapsule(expected, [30.5, 20.5], [50.5, 62.5], 2.5, 0);
      // Undo takes the eraser stroke back, redo puts it again.
      await page.keyboard.press('Control+z');
      await page.keyboard.press('Control+Shift+z');
      await page.mouse.move(0, 0);
      await screenshot(page, 'annotate-semantic-desktop');
      await page.setViewportSize(PHONE);
      await screenshot(page, 'annotate-semantic-phone');
      await page.setViewportSize(DESKTOP);

      const submittedAt = requests.length;
      await page.keyboard.press('Enter');
      await expectShown(page, ids.sceneSecond);
      // Shown from what was prefetched: nothing of it was fetched after the submit.
      expect(requests.slice(submittedAt).filter((r) => r.includes(ids.sceneSecond))).toEqual([]);

      const item = await api<AnnotationItemJson>(`/v1/annotations/${ids.sceneFirst}`);
      expect(item).toMatchObject({ state: 'labelled', claim: null });
      expect(item.label).toMatchObject({ submitted_as: 'rle', labelled_by: annotator });
      const stored = await api<LabelDocument>(`/v1/annotations/${ids.sceneFirst}/label`);
      const got = classMapOf(stored);
      const wrong = got.reduce((n, v, i) => n + (v === expected[i] ? 0 : 1), 0);
      expect(wrong, 'pixels that differ from the painted strokes').toBe(0);
      expect(got).toEqual(expected);

      // Accept takes the prediction as it is; the queue counts down.
      await page.keyboard.press('a');
      await expectShown(page, ids.sceneThird);
      expect((await api<AnnotationItemJson>(`/v1/annotations/${ids.sceneSecond}`)).label?.submitted_as).toBe(
        'accepted',
      );
      await expect
        .poll(() => page.locator('.annotate-progress').textContent())
        .toBe('1 left in the queue · 2 labelled by you');
      // Leaving the page gives back what it held.
      await page.getByRole('link', { name: 'Segment', exact: true }).click();
      await expect
        .poll(async () => (await api<AnnotationItemJson>(`/v1/annotations/${ids.sceneThird}`)).claim)
        .toBeNull();
      expect(errors).toEqual([]);
      await page.context().close();
    });

    it('instance models: selects an instance and paints it, adds an instance of a class, deletes one', async () => {
      const { page, errors } = await openPage(browser(), DESKTOP);
      await page.goto(`${server.url}/annotate?model=pets`);
      await expectShown(page, ids.pets);
      const prediction = await api<LabelDocument>(`/v1/annotations/${ids.pets}/prediction`);
      const dog = decodeRle(prediction.segments[1].rle).data;
      const instances = page.getByRole('group', { name: /Instances/ });
      await expect.poll(() => instances.locator('[data-instance]').count()).toBe(2);

      // The dog (instance 2) grows by a stroke.
      await instances.locator('[data-instance="1"]').getByRole('radio').check();
      await page.getByLabel('Brush size').fill('5');
      await stroke(page, [70.5, 50.5], [70.5, 60.5]);
      paintCapsule(dog, [70.5, 50.5], [70.5, 60.5], 2.5, 1);
      // A new cat (class 1 of the list), painted by a stroke of its own.
      await page.keyboard.press('1');
      await page.keyboard.press('n');
      await stroke(page, [44.5, 8.5], [52.5, 14.5]);
      const cat = new Uint8Array(W * H);
      paintCapsule(cat, [44.5, 8.5], [52.5, 14.5], 2.5, 1);
      // The first cat goes.
      await instances.getByRole('button', { name: 'Delete instance 1' }).click();
      await expect.poll(() => instances.locator('[data-instance]').count()).toBe(2);
      await page.mouse.move(0, 0);
      await screenshot(page, 'annotate-instance-desktop');

      await page.getByRole('button', { name: /Submit/ }).click();
      await expect.poll(() => page.locator('.annotate-empty').count()).toBe(1);
      const stored = await api<LabelDocument>(`/v1/annotations/${ids.pets}/label`);
      expect(stored.segments.map((s) => s.class_id)).toEqual([1, 0]);
      expect(decodeRle(stored.segments[0].rle).data).toEqual(dog);
      expect(decodeRle(stored.segments[1].rle).data).toEqual(cat);
      await screenshot(page, 'annotate-empty-desktop');
      expect(errors).toEqual([]);
      await page.context().close();
    });

    it('on a phone: accept and skip with the buttons in reach', async () => {
      const { page, errors } = await openPage(browser(), PHONE);
      await page.goto(`${server.url}/annotate?model=people`);
      await expectShown(page, ids.phoneFirst);
      await screenshot(page, 'annotate-phone');
      const accept = page.getByRole('button', { name: /Accept/ });
      expect(await accept.isVisible()).toBe(true);
      await accept.click();
      await expectShown(page, ids.phoneSecond);
      await page.getByRole('button', { name: /Skip/ }).click();
      const first = await api<AnnotationItemJson>(`/v1/annotations/${ids.phoneFirst}`);
      expect(first.label?.submitted_as).toBe('accepted');
      await expect
        .poll(async () => (await api<AnnotationItemJson>(`/v1/annotations/${ids.phoneSecond}`)).skip_count)
        .toBe(1);
      expect(errors).toEqual([]);
      await page.context().close();
    });
  });
}
