/**
 * The models page's version history in Chromium, against segserve as `segserve serve` runs it (the embedded
 * database), after a real promotion sequence through the admin API and the evaluation gate: the aliases beside
 * the versions, one bar per evaluated version with the stable one marked, and the timeline with who acted.
 *
 * Registered from web-ui.test.ts, inside its Chromium suite, so the UI is built once.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningServer, startServer } from '../../src/host/server.js';
import { AdminKeys } from '../../src/http/admin-auth.js';
import { ADMIN_KEY, adminHeaders } from '../helpers/lifecycle.js';
import { testStorage } from '../helpers/storage.js';
import { softmaxWeightsBlindTo, tinySoftmaxModel, tinySoftmaxVariant } from '../helpers/tiny-models.js';
import { writeRepository } from '../http/helpers.js';
import { sceneClassMap, writeMaskFolder } from '../lifecycle/evaluation-fixtures.js';
import { openPage, screenshot } from './browser.js';

export function describeVersionHistory(browser: () => Browser): void {
  describe('models page: version history', () => {
    let work: string;
    let dir: string;
    let server: RunningServer;

    beforeAll(async () => {
      work = await mkdtemp(join(tmpdir(), 'segserve-history-ui-'));
      const dataset = await writeMaskFolder(
        join(work, 'gate-data'),
        [1, 2].map((i) => ({ image: `images/${i}.png`, mask: `masks/${i}.png`, values: sceneClassMap() })),
        ['background', 'red', 'green', 'blue'],
      );
      const model = tinySoftmaxModel();
      dir = await writeRepository({
        softmax: {
          ...model,
          versions: [1, 2, 3],
          config: { ...(model.config as object), evaluation: { dataset, tolerance: 0.01 } },
        },
      });
      // Three versions that see the scene differently: v1 misses green, v2 green and blue, v3 nothing.
      await writeFile(join(dir, 'softmax', '1', 'model.onnx'), tinySoftmaxVariant(softmaxWeightsBlindTo(2)));
      await writeFile(
        join(dir, 'softmax', '2', 'model.onnx'),
        tinySoftmaxVariant(softmaxWeightsBlindTo(2, 3)),
      );
      await writeFile(join(dir, 'softmax', '3', 'model.onnx'), tinySoftmaxVariant(softmaxWeightsBlindTo()));
      server = await startServer({
        modelsDir: dir,
        port: 0,
        host: '127.0.0.1',
        logger: false,
        predictionLog: 'off',
        storage: testStorage(work),
        adminKeys: AdminKeys.fromEntries([{ text: `release-bot ${ADMIN_KEY}`, where: 'test' }]),
      });
      const alias = (name: string, version: number) =>
        fetch(`${server.url}/v1/admin/models/softmax/aliases/${name}`, {
          method: 'PUT',
          headers: adminHeaders(),
          body: JSON.stringify({ version }),
        });
      expect((await alias('stable', 1)).status).toBe(200);
      expect((await alias('stable', 2)).status).toBe(409);
      expect((await alias('stable', 3)).status).toBe(200);
      expect((await alias('canary', 2)).status).toBe(200);
    });

    afterAll(async () => {
      await server?.close();
      if (dir) await rm(dir, { recursive: true, force: true });
      if (work) await rm(work, { recursive: true, force: true });
    });

    it('shows aliases, evaluations and the timeline of promotions and refusals', async () => {
      const { page, errors } = await openPage(browser());
      await page.goto(`${server.url}/models`);
      const card = page.locator('[data-model="softmax"]');
      await expect.poll(() => card.locator('.version-history').count()).toBe(1);
      const versions = card.locator('.versions li');
      expect(await versions.filter({ hasText: 'v3' }).locator('.alias').allTextContents()).toEqual([
        'stable',
      ]);
      expect(await versions.filter({ hasText: 'v2' }).locator('.alias').allTextContents()).toEqual([
        'canary',
      ]);
      // One bar per evaluated version; the stable one marked.
      expect(await card.locator('.evaluation-chart .eval-bar').count()).toBe(3);
      expect(await card.locator('.evaluation-chart .eval-bar-stable').count()).toBe(1);
      const values = await card.locator('.evaluation-chart .chart-value').allTextContents();
      expect(values[2]).toBe('1.000');
      expect(Number(values[1])).toBeLessThan(Number(values[0]));
      const timeline = await card.locator('.timeline .event').allTextContents();
      expect(timeline[0]).toContain('alias canary → v2');
      expect(
        timeline.some((t) => /v2 refused by the gate \(miou 0\.\d+ vs 0\.\d+, tolerance 0\.01\)/.test(t)),
      ).toBe(true);
      expect(timeline.every((t) => t.includes('by release-bot'))).toBe(true);
      await card.scrollIntoViewIfNeeded();
      await screenshot(page, 'models-version-history-desktop');
      expect(errors).toEqual([]);
      await page.context().close();
    });
  });
}
