/**
 * The web UI's test harness: Debian's Chromium driven by playwright-core (which never downloads a browser), the
 * UI built from the current sources, screenshots under artifacts/screenshots, and canvas pixels read back as PNG.
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type Browser, chromium, type Download, type Page } from 'playwright-core';
import sharp from 'sharp';
import { build } from 'vite';
import { describe } from 'vitest';
import { PROJECT_ROOT } from '../helpers/paths.js';

export const CHROMIUM = process.env.SEGSERVE_CHROMIUM ?? '/usr/bin/chromium';
export const SCREENSHOTS = join(PROJECT_ROOT, 'artifacts', 'screenshots');

export const DESKTOP = { width: 1280, height: 800 };
export const PHONE = { width: 390, height: 844 };

/** `describe` that runs only where Chromium is installed, and says so loudly where it is not. */
export function describeWithChromium(name: string, body: () => void): void {
  const present = existsSync(CHROMIUM);
  if (!present) console.warn(`SKIPPED "${name}": no Chromium at ${CHROMIUM} (apt-get install chromium)`);
  describe.skipIf(!present)(present ? name : `${name} [skipped: ${CHROMIUM} missing]`, body);
}

/**
 * Builds the UI into dist/web from the current sources, so the tests never run against a stale build (and CI,
 * which runs no build before the tests, gets one). Type errors are the typecheck script's business.
 */
export async function buildWebUi(): Promise<void> {
  await build({ configFile: join(PROJECT_ROOT, 'web', 'vite.config.ts'), logLevel: 'warn' });
}

export function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

/**
 * A fresh context (no cache, no storage) at a viewport size, with the page's uncaught exceptions collected.
 * Console errors are not: Chromium logs every 4xx answer there, and the error tests ask for those on purpose.
 */
export async function openPage(
  browser: Browser,
  viewport = DESKTOP,
): Promise<{ page: Page; errors: string[] }> {
  const context = await browser.newContext({ viewport, acceptDownloads: true });
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (error) => errors.push(error.message));
  // Playwright turns file-chooser interception on asynchronously when the first listener is added; added only
  // just before the key press that opens the picker, it misses about half of them. A listener from the start
  // keeps it on, and `waitForEvent('filechooser')` then never misses.
  page.on('filechooser', () => {});
  return { page, errors };
}

export async function screenshot(page: Page, name: string): Promise<string> {
  await mkdir(SCREENSHOTS, { recursive: true });
  const path = join(SCREENSHOTS, `${name}.png`);
  // Transitions finished and animations stopped, so a screenshot shows the settled page.
  await page.screenshot({ path, fullPage: true, animations: 'disabled' });
  return path;
}

export interface Pixels {
  width: number;
  height: number;
  /** RGBA, row-major. */
  data: Uint8Array;
}

/** A canvas's pixels as the page holds them (PNG round trip: lossless, and light to move out of the page). */
export async function canvasPixels(page: Page, testId: string): Promise<Pixels> {
  // The tests compile without the DOM library: the canvas is described by the one method used.
  const dataUrl = await page
    .getByTestId(testId)
    .evaluate((canvas) => (canvas as unknown as { toDataURL(type: string): string }).toDataURL('image/png'));
  const png = Buffer.from(dataUrl.slice(dataUrl.indexOf(',') + 1), 'base64');
  const { data, info } = await sharp(png).ensureAlpha().raw().toBuffer({ resolveWithObject: true });
  return { width: info.width, height: info.height, data: new Uint8Array(data) };
}

/** Clicks `trigger` and returns the bytes and name of the download it starts. */
export async function download(
  page: Page,
  trigger: () => Promise<void>,
): Promise<{ name: string; bytes: Buffer }> {
  const [started] = await Promise.all([page.waitForEvent('download'), trigger()]);
  const done: Download = started;
  const path = await done.path();
  return { name: done.suggestedFilename(), bytes: await readFile(path) };
}
