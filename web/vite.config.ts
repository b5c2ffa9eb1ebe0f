/**
 * Builds the web UI into dist/web, which segserve serves at `/` (src/http/ui.ts). Paths are resolved from this
 * file, so the build works from any working directory. `vite --config web/vite.config.ts` serves the UI with hot
 * reload and forwards API calls to a running segserve (SEGSERVE_URL, default http://127.0.0.1:8080).
 */
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const api = process.env.SEGSERVE_URL ?? 'http://127.0.0.1:8080';

export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: '/',
  publicDir: false,
  build: {
    outDir: fileURLToPath(new URL('../dist/web', import.meta.url)),
    emptyOutDir: true,
    target: 'es2022',
  },
  server: {
    proxy: Object.fromEntries(['/v1', '/health', '/docs', '/openapi.json'].map((path) => [path, api])),
  },
});
