/** The UI plugin on its own: what segserve answers at / when the UI was not built (no browser needed). */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify from 'fastify';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { UI_PAGES, uiRoutes } from '../../src/http/ui.js';

let empty: string;

beforeAll(async () => {
  empty = await mkdtemp(join(tmpdir(), 'segserve-ui-'));
});
afterAll(() => rm(empty, { recursive: true, force: true }));

it('answers 503 with a page that says how to build the UI when it was not built', async () => {
  const app = Fastify({ logger: false });
  await app.register(uiRoutes, { root: empty });
  for (const url of UI_PAGES) {
    const response = await app.inject({ method: 'GET', url });
    expect(response.statusCode).toBe(503);
    expect(response.headers['content-type']).toMatch(/^text\/html/);
    expect(response.headers['cache-control']).toBe('no-store');
    expect(response.body).toContain('npm run build:web');
    // The page names no server path: where the files were looked for is the operator's log line.
    expect(response.body).not.toContain(empty);
  }
  await app.close();
});
