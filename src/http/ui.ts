/**
 * Serves the web UI that `npm run build:web` writes to dist/web: index.html for the UI's own pages (`/`,
 * `/models`, `/monitor`, `/annotate` and `/shadow`, routed in the browser), and the hashed assets under /assets/ with a
 * year-long immutable cache (a new build gets new names, so a cached file is never stale). index.html itself is revalidated on every load, so a
 * new deployment is picked up at once. Without a build, the pages answer 503 with a page that says what to run.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { FastifyPluginAsync } from 'fastify';

/** dist/web from src/http (tsx, vitest) and from dist/http (compiled) alike: both are two levels below the root. */
export const DEFAULT_UI_ROOT = fileURLToPath(new URL('../../dist/web', import.meta.url));

/** Client-side routes: each is answered with index.html, so reloading or sharing any of them works. */
export const UI_PAGES = ['/', '/models', '/monitor', '/annotate', '/shadow'] as const;

/**
 * Everything the UI loads comes from this server; images the user gives by URL are shown from their own site
 * (img-src), and the answers are read from this origin only (connect-src).
 */
const SECURITY_HEADERS = {
  'content-security-policy':
    "default-src 'self'; img-src 'self' blob: data: http: https:; script-src 'self'; style-src 'self'; " +
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
};

const NOT_BUILT_PAGE = `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>segserve: web UI not built</title></head>
<body style="font-family: system-ui, sans-serif; max-width: 40rem; margin: 3rem auto; padding: 0 1rem; line-height: 1.5">
<h1>The web UI has not been built</h1>
<p>This segserve was started without the files of its web UI. Build them with <code>npm run build</code>
(or only the UI: <code>npm run build:web</code>) and restart segserve.</p>
<p>The API works without them: <a href="/v1/models">/v1/models</a>, its documentation at <a href="/docs">/docs</a>.</p>
</body>
</html>
`;

export const uiRoutes: FastifyPluginAsync<{ root?: string }> = async (app, options) => {
  const root = options.root ?? DEFAULT_UI_ROOT;
  // Read once: a few hundred bytes, and a new build comes with a restart (its asset names change with it).
  // Read rather than tested for: a build in progress may empty the folder between a test and a read.
  let index: Buffer;
  try {
    index = readFileSync(join(root, 'index.html'));
  } catch {
    app.log.warn({ root }, 'the web UI is not built: its pages answer 503 (run npm run build:web)');
    for (const path of UI_PAGES) {
      app.get(path, { schema: { hide: true } }, (_request, reply) =>
        reply
          .code(503)
          .header('cache-control', 'no-store')
          .type('text/html; charset=utf-8')
          .send(NOT_BUILT_PAGE),
      );
    }
    return;
  }

  for (const path of UI_PAGES) {
    app.get(path, { schema: { hide: true } }, (_request, reply) =>
      reply
        .headers(SECURITY_HEADERS)
        .header('cache-control', 'no-cache')
        .type('text/html; charset=utf-8')
        .send(index),
    );
  }
  await app.register(fastifyStatic, {
    root: join(root, 'assets'),
    prefix: '/assets/',
    // Encapsulated, beside @fastify/swagger-ui's own instance: no reply.sendFile decorator to collide over.
    decorateReply: false,
    index: false,
    maxAge: '365d',
    immutable: true,
  });
};
