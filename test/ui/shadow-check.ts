/**
 * The shadow page in Chromium: an endpoint's shadow variant with its counts, the agreement distribution (one
 * bar per bin, those under the alert's 0.8 marked) and the requests that disagree most, each with the served
 * and the shadow masks laid over the image side by side (the mask layer exactly over the image). Tiny models
 * always (softmax v1 serving, v2 blind to green in shadow); yolov8n-seg v2 serving and v1 (int8) in shadow on
 * COCO photos where ../shared is present. The endpoint's traffic policy is put in force through the admin API.
 *
 * Registered from web-ui.test.ts, inside its Chromium suite, so the UI is built once.
 */
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ModelRepository } from '../../src/models/index.js';
import { ShadowTraffic } from '../../src/monitoring/shadow/index.js';
import { COCO_MINI } from '../helpers/datasets.js';
import { REPOSITORY_DIR } from '../helpers/paths.js';
import { serviceFor } from '../helpers/serving.js';
import { describeWithShared } from '../helpers/shared.js';
import {
  paintRgb,
  RED,
  semanticScene,
  softmaxWeightsBlindTo,
  tinySoftmaxModel,
  tinySoftmaxVariant,
} from '../helpers/tiny-models.js';
import { openTemporaryRepository, type TinyRepository, writeRepository } from '../http/helpers.js';
import { oneVariant, type ShadowApp, shadowApp, until } from '../monitoring/shadow-helpers.js';
import { DESKTOP, openPage, PHONE, screenshot } from './browser.js';

/** An RGB image scaled up by nearest neighbour, as PNG (the tiny scene at a size a page shows). */
async function scaledPng(image: ReturnType<typeof semanticScene>, factor: number): Promise<Uint8Array> {
  const { width, height, data } = image;
  return new Uint8Array(
    await sharp(Buffer.from(data), { raw: { width, height, channels: 3 } })
      .resize(width * factor, height * factor, { kernel: 'nearest' })
      .png()
      .toBuffer(),
  );
}

/** Sends each image to `path`, one at a time, each copy done before the next request. */
async function serveThrough(
  base: string,
  path: string,
  images: Uint8Array[],
  shadows: ShadowTraffic,
  endpoint: string,
): Promise<void> {
  for (const [i, image] of images.entries()) {
    const response = await fetch(`${base}${path}`, { method: 'POST', body: image });
    expect(response.status).toBe(200);
    await response.arrayBuffer();
    await until(
      () => {
        const requests = shadows.summary(endpoint).variants[0]?.requests;
        return (requests?.compared ?? 0) + (requests?.dropped ?? 0) + (requests?.failed ?? 0) === i + 1;
      },
      `copy ${i + 1}`,
    );
    await shadows.settled();
  }
}

/** The boxes of the image and of the mask laid over it, in every comparison on the page. */
async function layersAligned(page: Page): Promise<boolean> {
  const stacks = page.locator('.mask-stack');
  const count = await stacks.count();
  for (let i = 0; i < count; i++) {
    const [image, mask] = await Promise.all([
      stacks.nth(i).locator('img').first().boundingBox(),
      stacks.nth(i).locator('img.mask-layer').boundingBox(),
    ]);
    if (!image || !mask) return false;
    for (const key of ['x', 'y', 'width', 'height'] as const) {
      if (Math.abs(image[key] - mask[key]) > 0.5) return false;
    }
  }
  return count > 0;
}

/** Every image of the page decoded (a broken link would have no natural size). */
async function imagesLoaded(page: Page): Promise<boolean> {
  return page.evaluate(
    `[...document.querySelectorAll('.mask-stack img')].every((i) => i.complete && i.naturalWidth > 0)`,
  ) as Promise<boolean>;
}

interface Setup {
  repo?: TinyRepository;
  repository?: ModelRepository;
  shadows: ShadowTraffic;
  app: ShadowApp;
}

/** The app over `repository` with endpoint `photos`: `model` v`version` serving, `shadow` in shadow. */
async function startWith(
  repository: ModelRepository,
  model: string,
  version: number,
  shadow: { name: string; version: number },
): Promise<Pick<Setup, 'shadows' | 'app'>> {
  const shadows = new ShadowTraffic(serviceFor(repository), { keep: 3 });
  const app = await shadowApp({ repository, shadows });
  await app.putPolicy(
    'photos',
    oneVariant(model, version, [{ name: shadow.name, model, version: shadow.version, sample_rate: 1 }]),
  );
  return { shadows, app };
}

export function describeShadowPage(browser: () => Browser): void {
  describe('shadow page', () => {
    let setup: Setup;

    beforeAll(async () => {
      const softmax = tinySoftmaxModel();
      const dir = await writeRepository({ softmax: { ...softmax, versions: [1, 2] } });
      // Version 2 is blind to green.
      await writeFile(join(dir, 'softmax', '2', 'model.onnx'), tinySoftmaxVariant(softmaxWeightsBlindTo(2)));
      const repo = await openTemporaryRepository(dir);
      setup = {
        repo,
        ...(await startWith(repo.repository, 'softmax', 1, { name: 'blind', version: 2 })),
      };
      const withGreen = await scaledPng(semanticScene(), 16);
      const withoutGreen = await scaledPng(paintRgb(16, 16, [{ x0: 2, y0: 2, x1: 8, y1: 8, rgb: RED }]), 16);
      await serveThrough(
        setup.app.base,
        '/v1/models/photos/segment',
        [withGreen, withoutGreen, withGreen, withoutGreen, withoutGreen],
        setup.shadows,
        'photos',
      );
    });

    afterAll(async () => {
      await setup?.app.close();
      await setup?.shadows.close();
      await setup?.repo?.close();
    });

    it('shows the counts, the agreement distribution and the most disagreeing requests side by side', async () => {
      const { page, errors } = await openPage(browser());
      await page.goto(`${setup.app.base}/`);
      await page.getByRole('link', { name: 'Shadow' }).click();
      await expect.poll(() => page.locator('[data-variant="blind"]').count()).toBe(1);
      expect(await page.getByRole('link', { name: 'Shadow' }).getAttribute('aria-current')).toBe('page');
      expect(await page.locator('#shadow-endpoint').inputValue()).toBe('photos');
      const card = page.locator('[data-variant="blind"]');
      const text = (await card.textContent()) ?? '';
      expect(text).toContain('softmax v2');
      expect(text).toMatch(/Compared\s*5/);
      expect(text).toMatch(/Mean agreement\s*0\.87/); // (2 x 2/3 + 3 x 1) / 5
      // 20 bars; the two requests at 2/3 in one bin under the threshold, the three at 1 in the last.
      const bars = card.locator('.agreement-bar');
      expect(await bars.count()).toBe(20);
      expect(await bars.nth(13).getAttribute('data-count')).toBe('2');
      expect(await bars.nth(19).getAttribute('data-count')).toBe('3');
      expect(await card.locator('.agreement-bar-low[data-count="2"]').count()).toBe(1);
      // keep: 3, least agreeing first: both 2/3 ones, then one at 1.
      const agreements = await card.locator('.comparison-agreement').allTextContents();
      expect(agreements).toEqual(['0.67', '0.67', '1.00']);
      const first = card.locator('.shadow-comparison').first();
      expect(await first.locator('.class-legend').textContent()).toContain('green: IoU 0.00');
      expect(await first.locator('figcaption').allTextContents()).toEqual([
        'Served: softmax v1 (main)',
        'Shadow: blind (softmax v2)',
      ]);
      await expect.poll(() => imagesLoaded(page)).toBe(true);
      expect(await layersAligned(page)).toBe(true);
      await screenshot(page, 'shadow-page-desktop');
      expect(errors).toEqual([]);
      await page.context().close();
    });

    it('fits a phone: the two masks stay side by side, nothing wider than the screen', async () => {
      const { page, errors } = await openPage(browser(), PHONE);
      await page.goto(`${setup.app.base}/shadow?endpoint=photos`);
      await expect.poll(() => page.locator('.shadow-comparison').count()).toBe(3);
      await expect.poll(() => imagesLoaded(page)).toBe(true);
      await screenshot(page, 'shadow-page-phone');
      const widths = (await page.evaluate(
        '[document.documentElement.scrollWidth, window.innerWidth]',
      )) as number[];
      expect(widths[0]).toBeLessThanOrEqual(widths[1]);
      const [served, shadow] = await Promise.all(
        ['served', 'shadow'].map((side) =>
          page.locator(`.mask-view[data-side="${side}"]`).first().boundingBox(),
        ),
      );
      expect(served && shadow && Math.abs(served.y - shadow.y) < 1 && shadow.x > served.x).toBe(true);
      expect(errors).toEqual([]);
      await page.context().close();
    });

    it('says when an endpoint has no shadow variants', async () => {
      const { page, errors } = await openPage(browser(), DESKTOP);
      await page.goto(`${setup.app.base}/shadow?endpoint=nowhere`);
      await expect.poll(() => page.locator('.shadow-page .empty-state').first().isVisible()).toBe(true);
      expect(await page.locator('.shadow-page .empty-state').first().textContent()).toContain(
        'No endpoint has shadow variants yet',
      );
      expect(await page.locator('[data-variant]').count()).toBe(0);
      expect(errors).toEqual([]);
      await page.context().close();
    });
  });

  describeWithShared('shadow page on real models', ['models', 'yolov8n-seg-coco'], () => {
    let setup: Setup;

    beforeAll(async () => {
      const repository = await ModelRepository.open(REPOSITORY_DIR, { models: ['yolov8n-seg'] });
      expect((await repository.loadVersion('yolov8n-seg', 1)).state).toBe('ready');
      setup = {
        repository,
        ...(await startWith(repository, 'yolov8n-seg', 2, { name: 'int8', version: 1 })),
      };
      const names = (await readdir(join(COCO_MINI, 'images'))).sort().slice(0, 12);
      const photos = await Promise.all(
        names.map(async (n) => new Uint8Array(await readFile(join(COCO_MINI, 'images', n)))),
      );
      await serveThrough(setup.app.base, '/v1/models/photos/segment', photos, setup.shadows, 'photos');
    }, 300_000);

    afterAll(async () => {
      await setup?.app.close();
      await setup?.shadows.close();
      await setup?.repository?.close();
    });

    it('shows the photos that disagree most with both answers’ masks', async () => {
      const { page, errors } = await openPage(browser());
      await page.goto(`${setup.app.base}/shadow?endpoint=photos`);
      await expect.poll(() => page.locator('.shadow-comparison').count()).toBe(3);
      await expect.poll(() => imagesLoaded(page)).toBe(true);
      expect(await layersAligned(page)).toBe(true);
      expect(await page.locator('[data-variant="int8"]').textContent()).toMatch(/Compared\s*12/);
      await screenshot(page, 'shadow-page-coco-desktop');
      expect(errors).toEqual([]);
      await page.context().close();
    });
  });
}
