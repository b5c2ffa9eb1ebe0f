/**
 * The segment page in Chromium with a classification model and a gated model (tiny models built here): a
 * classifier's answer shows its classes and scores without masks (no mask, overlay or COCO download to offer),
 * a gated model's shows what the gate said and the gate stage among the timings, and a refused image shows the
 * refusal's code.
 *
 * Registered from web-ui.test.ts, inside its Chromium suite, so the UI is built once (two files building
 * dist/web at once would empty it under each other).
 */

import type { Browser } from 'playwright-core';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  paintRgb,
  RED,
  semanticScene,
  tinyColourClassifier,
  tinyRedClassifier,
  tinySoftmaxModel,
} from '../helpers/tiny-models.js';
import { listen, type RunningApp, type TinyRepository, tinyRepository } from '../http/helpers.js';
import { openPage, screenshot } from './browser.js';

async function pngOf(image: ReturnType<typeof semanticScene>): Promise<Buffer> {
  return sharp(Buffer.from(image.data), { raw: { width: image.width, height: image.height, channels: 3 } })
    .resize(image.width * 8, image.height * 8, { kernel: 'nearest' })
    .png()
    .toBuffer();
}

export function describeClassifierPage(browserOf: () => Browser): void {
  describe('the segment page with classifiers and gates', () => {
    let browser: Browser;
    let repo: TinyRepository;
    let server: RunningApp;

    beforeAll(async () => {
      browser = browserOf();
      const softmax = tinySoftmaxModel();
      repo = await tinyRepository({
        colour: tinyColourClassifier(),
        'red-or-not': tinyRedClassifier(),
        gated: {
          bytes: softmax.bytes,
          config: {
            ...(softmax.config as object),
            pipeline: { gate: { model: 'red-or-not', accept: ['red'], min_score: 0.6 } },
          },
        },
      });
      server = await listen({ repository: repo.repository });
    });
    afterAll(async () => {
      await server?.app.close();
      await repo?.close();
    });

    async function upload(model: string, name: string, buffer: Buffer) {
      const { page, errors } = await openPage(browser);
      await page.goto(`${server.base}/?model=${model}`);
      await expect.poll(() => page.getByLabel('Model', { exact: true }).inputValue()).toBe(model);
      await page.locator('input[type=file]').setInputFiles([{ name, mimeType: 'image/png', buffer }]);
      return { page, errors };
    }

    it('shows a classification: its classes and scores, the uncertainty, and only the JSON download', async () => {
      const { page, errors } = await upload('colour', 'scene.png', await pngOf(semanticScene()));
      const classes = page.getByRole('group', { name: 'Classes (top 4)' });
      await classes.waitFor();
      expect(await classes.getByRole('listitem').allTextContents()).toEqual([
        expect.stringMatching(/^grey/),
        expect.stringMatching(/^red/),
        expect.stringMatching(/^blue/),
        expect.stringMatching(/^green/),
      ]);
      expect(await page.getByText('Best score', { exact: true }).count()).toBe(1);
      expect(await page.getByRole('button', { name: 'Answer JSON' }).count()).toBe(1);
      expect(await page.getByRole('button', { name: 'Mask PNG' }).count()).toBe(0);
      await screenshot(page, 'classifier-desktop');
      expect(errors).toEqual([]);
    });

    it('shows what the gate said for an accepted image, and the refusal for another', async () => {
      const red = paintRgb(16, 16, [{ x0: 0, y0: 0, x1: 16, y1: 16, rgb: RED }]);
      const accepted = await upload('gated', 'red.png', await pngOf(red));
      await accepted.page.getByText('red-or-not v1 accepted it as red').waitFor();
      const timings = accepted.page.locator('table.timings');
      expect(await timings.getByRole('rowheader', { name: 'Gate' }).count()).toBe(1);
      expect(accepted.errors).toEqual([]);

      const refused = await upload('gated', 'scene.png', await pngOf(semanticScene()));
      const alert = refused.page.getByRole('alert');
      await alert.waitFor();
      expect(await alert.locator('.problem-code').textContent()).toBe('GATE_REFUSED');
      expect(await alert.textContent()).toContain('the gate scored red 0.1406');
      expect(refused.errors).toEqual([]);
    });
  });
}
