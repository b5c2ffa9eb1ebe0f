/**
 * The models page's training runs in Chromium, against segserve as `segserve serve` runs it (the embedded
 * database), after two runs were reported through the admin API as `segserve train` reports them: one that
 * succeeded and produced version 2, which the gate accepted, and one that failed half-way. The rows say what the
 * API says; the learning curves are drawn (path shapes read back, and the chart's pixels in each series' colour);
 * picking the other run redraws them; the produced version links to its row; a model without runs says so.
 *
 * Registered from web-ui.test.ts, inside its Chromium suite, so the UI is built once.
 */
import { rm } from 'node:fs/promises';
import type { Browser, Locator } from 'playwright-core';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningServer, startServer } from '../../src/host/server.js';
import { AdminKeys } from '../../src/http/admin-auth.js';
import type { TrainingRunJson } from '../../src/learning/training/wire-types.js';
import { CURVE_COLORS, CURVE_OTHER_COLORS } from '../../web/src/monitor-colors.js';
import { ADMIN_KEY, adminHeaders } from '../helpers/lifecycle.js';
import { testStorage } from '../helpers/storage.js';
import { tinySoftmaxModel, tinyYoloSegModel } from '../helpers/tiny-models.js';
import { writeRepository } from '../http/helpers.js';
import { DESKTOP, openPage, PHONE, type Pixels, screenshot } from './browser.js';
import { pixelsOfColor } from './chart-check.js';

/** An ISBI-like run: loss falling, validation rising, `count` of `total` epochs. */
function epochs(count: number, total: number, start: number): Array<Record<string, unknown>> {
  return Array.from({ length: count }, (_, i) => {
    const t = (i + 1) / total;
    return {
      event: 'epoch',
      epoch: i + 1,
      epochs: total,
      iteration: (i + 1) * 20,
      iterations: total * 20,
      loss: Number((start - 0.4 * t).toFixed(4)),
      val: {
        pixel_accuracy: Number((0.78 + 0.13 * t).toFixed(4)),
        mean_iou: Number((0.55 + 0.2 * t).toFixed(4)),
        dice: { membrane: Number((0.6 + 0.19 * t).toFixed(4)) },
      },
    };
  });
}

/** The points of an SVG path of `M x y L x y ...`. */
function pathPoints(d: string): Array<[number, number]> {
  return [...d.matchAll(/[ML]([\d.]+) ([\d.]+)/g)].map((m) => [Number(m[1]), Number(m[2])]);
}

/** An element's pixels as the page shows them (a screenshot of it alone). */
async function elementPixels(element: Locator): Promise<Pixels> {
  const png = await element.screenshot({ animations: 'disabled' });
  const { data, info } = await sharp(png).ensureAlpha().raw().toBuffer({ resolveWithObject: true });
  return { width: info.width, height: info.height, data: new Uint8Array(data) };
}

export function describeTrainingRuns(browser: () => Browser): void {
  describe('models page: training runs', () => {
    let dir: string;
    let server: RunningServer;
    let succeeded: TrainingRunJson;
    let failed: TrainingRunJson;

    const admin = async (path: string, body: unknown): Promise<TrainingRunJson> => {
      const response = await fetch(`${server.url}/v1/admin/training-runs${path}`, {
        method: 'POST',
        headers: adminHeaders(),
        body: JSON.stringify(body),
      });
      expect(response.status, path).toBeLessThan(300);
      return (await response.json()) as TrainingRunJson;
    };

    /** Start, every epoch, finish: as `segserve train` reports a run. */
    async function record(
      start: Record<string, unknown>,
      reported: Array<Record<string, unknown>>,
      finish: Record<string, unknown>,
    ): Promise<TrainingRunJson> {
      const { id } = await admin('', start);
      for (const epoch of reported) await admin(`/${id}/epochs`, epoch);
      return admin(`/${id}/finish`, finish);
    }

    beforeAll(async () => {
      dir = await writeRepository({
        softmax: { ...tinySoftmaxModel(), versions: [1, 2] },
        yolo: tinyYoloSegModel(),
      });
      server = await startServer({
        modelsDir: dir,
        port: 0,
        host: '127.0.0.1',
        logger: false,
        predictionLog: 'off',
        storage: testStorage(dir),
        adminKeys: AdminKeys.fromEntries([{ text: `trainer ${ADMIN_KEY}`, where: 'test' }]),
      });
      failed = await record(
        { model: 'softmax', kind: 'unet', dataset: 'isbi', dataset_version: 'a1b2c3d4e5f60718', params: {} },
        epochs(3, 8, 0.7),
        { state: 'failed', error: 'TRAINING_FAILED: the trainer exited with code 137 at epoch 4' },
      );
      succeeded = await record(
        {
          model: 'softmax',
          kind: 'unet',
          dataset: 'isbi',
          dataset_version: '9f8e7d6c5b4a3928',
          params: { epochs: 6, seed: 1 },
        },
        epochs(6, 6, 0.65),
        {
          state: 'succeeded',
          code_version: 'abc1234',
          metrics: { pixel_accuracy: 0.9112, mean_iou: 0.7504, dice: { membrane: 0.7873 } },
          produced: { version: 2, gate: { accepted: true } },
        },
      );
    });

    afterAll(async () => {
      await server?.close();
      if (dir) await rm(dir, { recursive: true, force: true });
    });

    it('lists the runs, draws the learning curves of the one picked, and links the version it produced', async () => {
      const { page, errors } = await openPage(browser());
      await page.goto(`${server.url}/models`);
      const card = page.locator('[data-model="softmax"]');
      const section = card.getByRole('region', { name: 'Training runs' });
      await expect.poll(() => section.locator('.run-row').count()).toBe(2);

      // Newest first, each as the API reports it.
      const rows = section.locator('.run-row');
      expect(await rows.nth(0).getAttribute('data-run')).toBe(succeeded.id);
      const first = (await rows.nth(0).textContent()) ?? '';
      for (const part of [
        'succeeded',
        'unet',
        succeeded.id.slice(0, 8),
        'dataset isbi version 9f8e7d6c5b4a',
        '6 epochs',
        'pixel accuracy 0.911',
        'mean IoU 0.750',
        'Dice membrane 0.787',
        'produced v2',
        'gate accepted',
      ]) {
        expect(first, part).toContain(part);
      }
      expect(first).toMatch(/· \d+ s/);
      const second = (await rows.nth(1).textContent()) ?? '';
      for (const part of [
        'failed',
        'dataset isbi version a1b2c3d4e5f6',
        '3 of 8 epochs',
        'last epoch: pixel accuracy',
        'the trainer exited with code 137 at epoch 4',
      ]) {
        expect(second, part).toContain(part);
      }
      expect(second).not.toContain('produced');

      // The newest run's curves: one loss line, three validation lines, one point per epoch, each in its colour.
      const curves = section.locator('.learning-curves');
      expect(await section.getByRole('button', { pressed: true }).count()).toBe(1);
      expect(await rows.nth(0).getByRole('button').getAttribute('aria-pressed')).toBe('true');
      expect(await curves.getAttribute('data-run')).toBe(succeeded.id);
      const expected: Record<string, string> = {
        loss: CURVE_COLORS.loss,
        pixel_accuracy: CURVE_COLORS.pixel_accuracy,
        mean_iou: CURVE_COLORS.mean_iou,
        'dice membrane': CURVE_OTHER_COLORS[0],
      };
      const lines = curves.locator('path.curve-line');
      expect(await lines.evaluateAll((paths) => paths.map((p) => p.getAttribute('data-series')))).toEqual(
        Object.keys(expected),
      );
      for (const [series, color] of Object.entries(expected)) {
        const line = curves.locator(`path.curve-line[data-series="${series}"]`);
        expect(await line.getAttribute('stroke'), series).toBe(color);
        const points = pathPoints((await line.getAttribute('d')) ?? '');
        expect(points, series).toHaveLength(6);
        for (let i = 1; i < points.length; i++) {
          expect(points[i][0], series).toBeGreaterThan(points[i - 1][0]);
          // SVG's y grows downwards: the loss falls, so its line goes down; the scores rise, so theirs go up.
          if (series === 'loss') expect(points[i][1], series).toBeGreaterThan(points[i - 1][1]);
          else expect(points[i][1], series).toBeLessThan(points[i - 1][1]);
        }
      }
      // Drawn, not only present: each chart shows its series' colours on screen.
      const [lossChart, scoreChart] = [
        curves.locator('.curve-chart').nth(0),
        curves.locator('.curve-chart').nth(1),
      ];
      const lossPixels = await elementPixels(lossChart);
      expect(lossPixels.width).toBeGreaterThan(250);
      expect(pixelsOfColor(lossPixels, CURVE_COLORS.loss), 'loss').toBeGreaterThan(40);
      const scorePixels = await elementPixels(scoreChart);
      for (const series of ['pixel_accuracy', 'mean_iou', 'dice membrane']) {
        expect(pixelsOfColor(scorePixels, expected[series]), series).toBeGreaterThan(40);
      }
      const text = (await curves.textContent()) ?? '';
      for (const label of [
        'Loss',
        'Validation',
        'epoch',
        'score',
        'pixel accuracy',
        'mean IoU',
        'Dice membrane',
      ]) {
        expect(text, label).toContain(label);
      }
      expect(await curves.locator('.curve-legend li').allTextContents()).toEqual([
        'loss0.250',
        'pixel accuracy0.910',
        'mean IoU0.750',
        'Dice membrane0.790',
      ]);

      await page.setViewportSize(DESKTOP);
      await section.scrollIntoViewIfNeeded();
      await screenshot(page, 'models-training-runs-desktop');

      // The failed run's curves: the three epochs it got through, the loss in the same colour.
      await rows.nth(1).getByRole('button').click();
      await expect.poll(() => curves.getAttribute('data-run')).toBe(failed.id);
      expect(await rows.nth(0).getByRole('button').getAttribute('aria-pressed')).toBe('false');
      expect(await rows.nth(1).getByRole('button').getAttribute('aria-pressed')).toBe('true');
      const loss = curves.locator('path.curve-line[data-series="loss"]');
      expect(await loss.getAttribute('stroke')).toBe(CURVE_COLORS.loss);
      expect(pathPoints((await loss.getAttribute('d')) ?? '')).toHaveLength(3);
      expect(await curves.locator('h4').textContent()).toContain(failed.id.slice(0, 8));

      // The produced version links to its row in the version list.
      await rows.nth(0).getByRole('link', { name: 'v2' }).click();
      await expect.poll(() => page.evaluate('document.activeElement?.id')).toBe('version-softmax-2');
      expect(new URL(page.url()).pathname).toBe('/models');

      // A model without runs says so.
      expect(
        await page
          .locator('[data-model="yolo"]')
          .getByRole('region', { name: 'Training runs' })
          .locator('.empty-state')
          .textContent(),
      ).toBe('No training run recorded. segserve train reports its runs here.');

      // On a phone the rows and charts fit the screen's width.
      await rows.nth(0).getByRole('button').click();
      await page.setViewportSize(PHONE);
      expect(await page.evaluate('document.documentElement.scrollWidth')).toBeLessThanOrEqual(PHONE.width);
      const phoneChart = await curves.locator('.curve-chart').first().boundingBox();
      expect(phoneChart?.width ?? 0).toBeLessThan(PHONE.width);
      await section.scrollIntoViewIfNeeded();
      await screenshot(page, 'models-training-runs-phone');
      await page.setViewportSize(DESKTOP);
      await page.emulateMedia({ colorScheme: 'dark' });
      expect(pixelsOfColor(await elementPixels(lossChart), CURVE_COLORS.loss), 'loss, dark').toBeGreaterThan(
        40,
      );
      await screenshot(page, 'models-training-runs-dark-desktop');
      expect(errors).toEqual([]);
      await page.context().close();
    });
  });
}
