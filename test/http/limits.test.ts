/**
 * The limits table: flag over environment over default, every refusal naming the flag or variable and the
 * accepted range, the README table generated from it, and the resolved values reaching the app (server
 * timeouts, /v2 body limit, URL redirects).
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SegserveError } from '../../src/errors.js';
import { DEFAULT_LIMITS } from '../../src/http/options.js';
import {
  defaultServerLimits,
  formatLimitValue,
  MODEL_LIMITS,
  normalizeCorsOrigins,
  parseLimitValue,
  renderLimitsTable,
  resolveCorsOrigins,
  resolveLimits,
  SERVER_LIMITS,
  splitLimits,
  withLimitsTable,
} from '../../src/http/settings.js';
import { ModelConfigSchema } from '../../src/models/config.js';
import { PROJECT_ROOT } from '../helpers/paths.js';
import { semanticScene, tinySoftmaxModel } from '../helpers/tiny-models.js';
import { errorOf, listen, png, type RunningApp, type TinyRepository, tinyRepository } from './helpers.js';
import { type Origin, redirectTo, serveBytes, startOrigin } from './origin.js';

function refusal(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(SegserveError);
    expect((error as SegserveError).code).toBe('INVALID_ARGUMENT');
    return (error as SegserveError).message;
  }
  throw new Error('expected INVALID_ARGUMENT');
}

describe('the limits table', () => {
  it('names every limit once, with a SEGSERVE_ variable and a default inside its own range', () => {
    const flags = SERVER_LIMITS.map((row) => row.flag);
    const envs = SERVER_LIMITS.map((row) => row.env);
    expect(new Set(flags).size).toBe(flags.length);
    expect(new Set(envs).size).toBe(envs.length);
    for (const row of SERVER_LIMITS) {
      expect(row.env).toMatch(/^SEGSERVE_[A-Z0-9_]+$/);
      expect(row.flag).toMatch(/^--[a-z0-9-]+$/);
      expect(row.default).toBeGreaterThanOrEqual(row.min);
      expect(row.default).toBeLessThanOrEqual(row.max);
      expect(row.description.length).toBeGreaterThan(10);
    }
  });

  it('is where DEFAULT_LIMITS come from, and keeps the defaults the server had before the table', () => {
    expect(DEFAULT_LIMITS).toEqual(splitLimits(defaultServerLimits()).http);
    expect(DEFAULT_LIMITS).toMatchObject({
      imageBodyBytes: 32 * 1024 * 1024,
      jsonBodyBytes: 64 * 1024,
      batchItems: 16,
      inferenceTimeoutMs: 30_000,
      requestTimeoutMs: 60_000,
      multipartFiles: 4,
      multipartFields: 16,
      multipartFieldBytes: 64 * 1024,
      multipartParts: 24,
      urlConnectTimeoutMs: 5_000,
      urlTimeoutMs: 15_000,
      urlMaxRedirects: 5,
      v2BodyBytes: 32 * 1024 * 1024,
      decodedPixelBudget: 100_000_000,
    });
    expect(defaultServerLimits().shutdownTimeoutMs).toBe(25_000);
  });

  it('lists the per-model limits with the defaults of the config schema', () => {
    for (const row of MODEL_LIMITS) {
      expect(row.default).toBe(ModelConfigSchema.shape[row.configKey].parse(undefined));
    }
  });

  it('is the README table, as npm run docs:limits writes it', async () => {
    const readme = await readFile(join(PROJECT_ROOT, 'README.md'), 'utf8');
    expect(readme).toContain(renderLimitsTable());
    // Equality of the whole file: nothing stale left between the markers.
    expect(withLimitsTable(readme), 'README limits table is stale: run npm run docs:limits').toBe(readme);
  });
});

describe('limit values', () => {
  it('read plain numbers, unit suffixes and grouped digits', () => {
    expect(parseLimitValue('1048576', 'bytes')).toBe(1048576);
    expect(parseLimitValue('8MiB', 'bytes')).toBe(8 * 1024 * 1024);
    expect(parseLimitValue('64 kib', 'bytes')).toBe(64 * 1024);
    expect(parseLimitValue('2GiB', 'bytes')).toBe(2 * 1024 ** 3);
    expect(parseLimitValue('1500', 'ms')).toBe(1500);
    expect(parseLimitValue('20s', 'ms')).toBe(20_000);
    expect(parseLimitValue('100_000_000', 'pixels')).toBe(100_000_000);
    expect(parseLimitValue(' 7 ', 'count')).toBe(7);
  });

  it('refuse what is not a whole number in the unit', () => {
    for (const [text, unit] of [
      ['', 'count'],
      ['-1', 'count'],
      ['1.5', 'count'],
      ['1e6', 'pixels'],
      ['ten', 'count'],
      ['8MB', 'bytes'],
      ['5m', 'ms'],
      ['3s', 'count'],
      ['0x10', 'bytes'],
      ['99999999999999999999', 'bytes'],
    ] as const) {
      expect(parseLimitValue(text, unit), `${text} ${unit}`).toBeUndefined();
    }
  });

  it('format as the README shows them', () => {
    expect(formatLimitValue(32 * 1024 * 1024, 'bytes')).toBe('32 MiB');
    expect(formatLimitValue(1500, 'bytes')).toBe('1500 B');
    expect(formatLimitValue(100_000_000, 'pixels')).toBe('100,000,000 pixels');
    expect(formatLimitValue(30_000, 'ms')).toBe('30000 ms');
  });
});

describe('resolveLimits', () => {
  it('takes the flag over the environment over the default', () => {
    const limits = resolveLimits(
      { imageBodyBytes: '8MiB', batchItems: '3' },
      {
        SEGSERVE_MAX_IMAGE_BYTES: '4MiB',
        SEGSERVE_URL_TIMEOUT: '20s',
        SEGSERVE_MAX_DECODED_PIXELS_IN_FLIGHT: '5_000_000',
      },
    );
    expect(limits.imageBodyBytes).toBe(8 * 1024 * 1024);
    expect(limits.batchItems).toBe(3);
    expect(limits.urlTimeoutMs).toBe(20_000);
    expect(limits.decodedPixelBudget).toBe(5_000_000);
    expect(limits.jsonBodyBytes).toBe(DEFAULT_LIMITS.jsonBodyBytes);
  });

  it('reads nothing but SEGSERVE_ variables, and treats an empty one as unset', () => {
    expect(resolveLimits({}, {})).toEqual(defaultServerLimits());
    expect(resolveLimits({}, { SEGSERVE_MAX_BATCH_ITEMS: '  ', MAX_BATCH_ITEMS: '3' }).batchItems).toBe(16);
  });

  it('refuses a bad flag, naming the flag, its variable and the accepted range', () => {
    const message = refusal(() =>
      resolveLimits({ imageBodyBytes: '0' }, { SEGSERVE_MAX_IMAGE_BYTES: '1MiB' }),
    );
    expect(message).toContain('--max-image-bytes "0" is not accepted');
    expect(message).toContain('env SEGSERVE_MAX_IMAGE_BYTES');
    expect(message).toContain('from 1 KiB to 2 GiB');
  });

  it('refuses a bad variable rather than falling back to the default', () => {
    const message = refusal(() => resolveLimits({}, { SEGSERVE_URL_MAX_REDIRECTS: 'many' }));
    expect(message).toContain('SEGSERVE_URL_MAX_REDIRECTS="many" is not accepted (flag --url-max-redirects)');
    expect(message).toContain('from 0 to 20');
  });

  it('reports every bad value at once', () => {
    const message = refusal(() =>
      resolveLimits(
        { multipartFiles: '100' },
        { SEGSERVE_MAX_BATCH_ITEMS: '0', SEGSERVE_INFERENCE_TIMEOUT: '1.5s' },
      ),
    );
    expect(message).toContain('--multipart-files "100"');
    expect(message).toContain('SEGSERVE_MAX_BATCH_ITEMS="0"');
    expect(message).toContain('SEGSERVE_INFERENCE_TIMEOUT="1.5s"');
  });

  it('refuses a headers timeout longer than the request timeout', () => {
    const message = refusal(() => resolveLimits({ headersTimeoutMs: '30s', requestTimeoutMs: '10s' }, {}));
    expect(message).toContain('--headers-timeout (30000 ms) must not exceed --request-timeout (10000 ms)');
  });
});

describe('CORS origins setting', () => {
  it('normalises origins the way browsers send them', () => {
    expect(
      normalizeCorsOrigins(['https://App.Example.com/', ' http://localhost:5173', 'https://a.example:443']),
    ).toEqual(['https://app.example.com', 'http://localhost:5173', 'https://a.example']);
    expect(normalizeCorsOrigins(['*'])).toEqual(['*']);
    expect(normalizeCorsOrigins([])).toEqual([]);
  });

  it('refuses what can never match an Origin header', () => {
    for (const bad of [
      'example.com',
      'https://a.example/app',
      'ftp://a.example',
      'https://u:p@a.example',
      'null',
    ]) {
      expect(refusal(() => normalizeCorsOrigins([bad]))).toContain(`"${bad}" is not an origin`);
    }
    expect(refusal(() => normalizeCorsOrigins(['*', 'https://a.example']))).toContain('cannot be combined');
  });

  it('takes the flag over SEGSERVE_CORS_ORIGINS', () => {
    const env = { SEGSERVE_CORS_ORIGINS: 'https://a.example, https://b.example' };
    expect(resolveCorsOrigins(undefined, env)).toEqual(['https://a.example', 'https://b.example']);
    expect(resolveCorsOrigins(['https://c.example'], env)).toEqual(['https://c.example']);
    expect(resolveCorsOrigins(undefined, {})).toEqual([]);
    expect(refusal(() => resolveCorsOrigins(undefined, { SEGSERVE_CORS_ORIGINS: 'a.example' }))).toContain(
      'SEGSERVE_CORS_ORIGINS: "a.example" is not an origin',
    );
  });
});

describe('limits reach the app', () => {
  let repo: TinyRepository;
  let origin: Origin;
  // A real socket, not app.inject: graceful-close cannot close an app whose fake inject sockets it tracked.
  let running: RunningApp;
  const post = (url: string, body: string, type = 'application/json') =>
    fetch(`${running.base}${url}`, { method: 'POST', headers: { 'content-type': type }, body });

  beforeAll(async () => {
    repo = await tinyRepository({ softmax: tinySoftmaxModel() });
    origin = await startOrigin({
      '/scene.png': serveBytes(await png(semanticScene()), 'image/png'),
      '/hop': redirectTo('/scene.png'),
    });
    running = await listen({
      repository: repo.repository,
      urlFetch: { allow: ['127.0.0.1'] },
      limits: {
        keepAliveTimeoutMs: 4_321,
        headersTimeoutMs: 9_000,
        requestTimeoutMs: 10_000,
        v2BodyBytes: 1024,
        urlMaxRedirects: 0,
        decodedPixelBudget: 12_345,
      },
    });
  });

  afterAll(async () => {
    await running?.app.close();
    await origin?.close();
    await repo?.close();
  });

  it('sets the server timeouts', () => {
    expect(running.app.server.keepAliveTimeout).toBe(4_321);
    expect(running.app.server.headersTimeout).toBe(9_000);
    expect(running.app.server.requestTimeout).toBe(10_000);
  });

  it('caps /v2 bodies at v2BodyBytes', async () => {
    const response = await post(
      '/v2/models/softmax/infer',
      JSON.stringify({ inputs: [], pad: 'x'.repeat(2048) }),
    );
    expect(response.status).toBe(413);
    await response.arrayBuffer();
  });

  it('follows no more URL redirects than urlMaxRedirects', async () => {
    const segment = '/v1/models/softmax/segment?mask_format=none';
    const direct = await post(segment, JSON.stringify({ url: `${origin.base}/scene.png` }));
    expect(direct.status).toBe(200);
    await direct.arrayBuffer();
    const redirected = await post(segment, JSON.stringify({ url: `${origin.base}/hop` }));
    expect(redirected.status).toBe(400);
    expect(await errorOf(redirected)).toMatchObject({
      code: 'URL_FETCH_FAILED',
      details: { reason: 'more than 0 redirects' },
    });
  });
});
