/**
 * `segserve serve` options generated from the limits table: every limit has its flag and variable in --help,
 * bad values stop the server before it opens anything, and good ones (flag over environment) are in effect.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SERVER_LIMITS } from '../../src/http/settings.js';
import { runCli } from '../helpers/cli.js';
import { PROJECT_ROOT } from '../helpers/paths.js';
import { tinySoftmaxModel } from '../helpers/tiny-models.js';
import { writeRepository } from '../http/helpers.js';

let scratch: string;
/** A repository path that must never be created: refusals happen before anything is opened. */
let untouched: string;

beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'segserve-settings-'));
  untouched = join(scratch, 'models');
});

afterAll(async () => {
  await rm(scratch, { recursive: true, force: true });
});

const serveArgs = (...extra: string[]) => [
  'serve',
  '--models',
  untouched,
  '--port',
  '0',
  '--host',
  '127.0.0.1',
  ...extra,
];

describe('segserve serve settings', () => {
  it('documents every limit of the table in --help, with its variable', async () => {
    const run = await runCli(['serve', '--help']);
    expect(run.code).toBe(0);
    const help = run.stdout.replace(/\s+/g, ' ');
    for (const row of SERVER_LIMITS) {
      expect(help).toContain(row.flag);
      expect(help).toContain(`env ${row.env}`);
    }
    expect(help).toContain('--cors-origin');
    expect(help).toContain('SEGSERVE_CORS_ORIGINS');
  });

  it('refuses an invalid environment variable at start, naming it and the accepted range', async () => {
    const run = await runCli(serveArgs(), { SEGSERVE_MAX_IMAGE_BYTES: 'lots' });
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('error INVALID_ARGUMENT: invalid limits: SEGSERVE_MAX_IMAGE_BYTES="lots"');
    expect(run.stderr).toContain('flag --max-image-bytes');
    expect(run.stderr).toContain('from 1 KiB to 2 GiB');
    expect(existsSync(untouched)).toBe(false);
  });

  it('refuses an invalid flag and an invalid CORS origin', async () => {
    const flag = await runCli(serveArgs('--shutdown-timeout', '0'));
    expect(flag.code).toBe(2);
    expect(flag.stderr).toContain('--shutdown-timeout "0" is not accepted');
    expect(flag.stderr).toContain('from 1 ms to 3600000 ms');

    const cors = await runCli(serveArgs('--cors-origin', 'https://a.example/app'));
    expect(cors.code).toBe(2);
    expect(cors.stderr).toContain('--cors-origin: "https://a.example/app" is not an origin');
    expect(existsSync(untouched)).toBe(false);
  });

  it('serves with the flag over the environment over the default, and logs the values in effect', async () => {
    const dir = await writeRepository({ softmax: tinySoftmaxModel() });
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        join(PROJECT_ROOT, 'src', 'cli', 'main.ts'),
        ...['serve', '--models', dir, '--port', '0', '--host', '127.0.0.1'],
        ...['--max-batch-items', '3', '--cors-origin', 'https://a.example,https://b.example'],
      ],
      {
        cwd: PROJECT_ROOT,
        env: {
          ...process.env,
          SEGSERVE_MAX_BATCH_ITEMS: '9',
          SEGSERVE_URL_TIMEOUT: '20s',
          SEGSERVE_CORS_ORIGINS: 'https://ignored.example',
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    try {
      const settings = await new Promise<Record<string, unknown>>((resolve, reject) => {
        let pending = '';
        child.stdout.on('data', (chunk) => {
          pending += chunk;
          for (const text of pending.split('\n').slice(0, -1)) {
            const line = JSON.parse(text) as Record<string, unknown>;
            if (line.msg === 'settings') resolve(line);
          }
          pending = pending.slice(pending.lastIndexOf('\n') + 1);
        });
        child.on('exit', (code) => reject(new Error(`serve exited with ${code}`)));
      });
      expect(settings.cors_origins).toEqual(['https://a.example', 'https://b.example']);
      expect(settings.limits).toMatchObject({
        batchItems: 3,
        urlTimeoutMs: 20_000,
        imageBodyBytes: 32 * 1024 * 1024,
        decodedPixelBudget: 100_000_000,
        shutdownTimeoutMs: 25_000,
      });
    } finally {
      child.kill('SIGKILL');
      await rm(dir, { recursive: true, force: true });
    }
  });
});
