/**
 * The monitor page's running jobs in Chromium, against a server started as `segserve serve` starts it (jobs on
 * the in-process queue): the empty state, then a job of a deliberately slow tiny model (with one input that
 * fails at once) listed with its target, a progress bar whose done and failed parts follow the API's counts
 * poll after poll, and its elapsed time; gone again once cancelled.
 *
 * Registered from web-ui.test.ts, inside its Chromium suite, so the UI is built once.
 */
import { rm } from 'node:fs/promises';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningServer, startServer } from '../../src/host/server.js';
import type { JobView } from '../../src/jobs/wire-types.js';
import { testStorage } from '../helpers/storage.js';
import { writeRepository } from '../http/helpers.js';
import { slowBinaryModel } from '../http/slow-model.js';
import { distinctScene } from '../learning/capture-helpers.js';
import { DESKTOP, openPage, PHONE, screenshot } from './browser.js';

/** Enough slow inputs (about 0.3 s each, two at a time) that the job outlives the checks below. */
const INPUTS = 120;

/**
 * The page polls every 5 s; a poll and its redraw fit well within this, even on a machine as loaded as CI's
 * (where the first answer may wait on the embedded database's first open).
 */
const POLL_WAIT = { timeout: 30_000 };

export function describeMonitorJobs(browser: () => Browser): void {
  describe('monitor page: running jobs', () => {
    let dir: string;
    let server: RunningServer;

    beforeAll(async () => {
      dir = await writeRepository({ slow: slowBinaryModel({ steps: 60, maxQueue: 8 }) });
      server = await startServer({
        modelsDir: dir,
        port: 0,
        host: '127.0.0.1',
        logger: false,
        predictionLog: 'off',
        storage: testStorage(dir),
      });
      const blobs = await server.storage.blobs();
      // Sorted first, so the job shows a failure from its first poll on.
      await blobs.put('batch/000-notes.png', new TextEncoder().encode('not an image'));
      for (let i = 1; i < INPUTS; i++)
        await blobs.put(`batch/${String(i).padStart(3, '0')}.png`, await distinctScene(i));
    }, 60_000);

    afterAll(async () => {
      await server?.close();
      if (dir) await rm(dir, { recursive: true, force: true });
    });

    const row = (page: Page, id: string) => page.locator(`.jobs-card [data-job="${id}"]`);
    const settled = async (page: Page, id: string) =>
      Number(await row(page, id).getByRole('progressbar').getAttribute('aria-valuenow'));

    it('lists a running job with its progress, target and elapsed time, and drops it once cancelled', {
      timeout: 180_000,
    }, async () => {
      const { page, errors } = await openPage(browser());
      await page.goto(`${server.url}/monitor`);
      const section = page.getByRole('region', { name: 'Running jobs' });
      await expect
        .poll(() => section.locator('.empty-state').textContent(), POLL_WAIT)
        .toBe('No job is running.');
      expect(await section.locator('.badge').textContent()).toBe('0');

      const answer = await fetch(`${server.url}/v1/jobs`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'slow', prefix: 'batch/', output: 'results/ui', formats: ['png'] }),
      });
      expect(answer.status).toBe(201);
      const job = (await answer.json()) as JobView;

      // The next poll lists it: target, short id, output, a bar out of every input.
      await row(page, job.id).waitFor(POLL_WAIT);
      const bar = row(page, job.id).getByRole('progressbar');
      expect(await bar.getAttribute('aria-valuemax')).toBe(String(INPUTS));
      const text = (await row(page, job.id).textContent()) ?? '';
      expect(text).toContain('model slow');
      expect(text).toContain(job.id.slice(0, 8));
      expect(text).toContain('→ results/ui/');
      expect(text).toMatch(/running \d+ s/);
      expect(await section.locator('.badge').textContent()).toBe('1');

      // A later poll: more inputs settled, the failed one in red, the rest in green, as the API counts them.
      const first = await settled(page, job.id);
      await expect.poll(() => settled(page, job.id), POLL_WAIT).toBeGreaterThan(first);
      const api = (await (await fetch(`${server.url}/v1/jobs/${job.id}`)).json()) as JobView;
      expect(api.progress.failed).toBe(1);
      const valuetext = (await bar.getAttribute('aria-valuetext')) ?? '';
      expect(valuetext).toMatch(new RegExp(`^\\d+ done · 1 failed · \\d+ to go of ${INPUTS}$`));
      const [done, failed] = await Promise.all(
        ['.job-bar-done', '.job-bar-failed'].map(
          async (part) => (await bar.locator(part).boundingBox())?.width,
        ),
      );
      // Inside the bar's 1 px border; a pixel either way for rounding.
      const width = ((await bar.boundingBox())?.width ?? 0) - 2;
      const shown = Number(/^(\d+) done/.exec(valuetext)?.[1]);
      expect(Math.abs((done ?? 0) - (shown / INPUTS) * width)).toBeLessThan(1.5);
      expect(Math.abs((failed ?? 0) - width / INPUTS)).toBeLessThan(1.5);

      await page.setViewportSize(DESKTOP);
      await screenshot(page, 'monitor-jobs-desktop');
      await page.setViewportSize(PHONE);
      expect(await page.evaluate('document.documentElement.scrollWidth')).toBeLessThanOrEqual(PHONE.width);
      await screenshot(page, 'monitor-jobs-phone');
      await page.setViewportSize(DESKTOP);

      const cancelled = await fetch(`${server.url}/v1/jobs/${job.id}/cancel`, { method: 'POST' });
      expect(cancelled.status).toBe(200);
      await expect
        .poll(() => section.locator('.empty-state').textContent(), POLL_WAIT)
        .toBe('No job is running.');
      expect(errors).toEqual([]);
      await page.context().close();
    });
  });
}
