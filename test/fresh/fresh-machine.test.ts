/**
 * The README's promise on a fresh machine: a clean clone, `npm ci`, `npm start` with no model repository
 * configured, and a segmentation request on a real photo answered with a plausible person mask. The clone
 * installs from the npm registry only (the first start imports the person model from an npm package).
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { intersectionOverUnion } from '../../src/eval/iou.js';
import { decodeRle } from '../../src/masks/rle.js';
import { HUMAN_SEG, readPersonMask } from '../helpers/datasets.js';
import { PROJECT_ROOT } from '../helpers/paths.js';
import { describeWithShared } from '../helpers/shared.js';
import { freePort } from '../http/helpers.js';

const run = promisify(execFile);

/** Resolves with the log so far once `pattern` appears in the server's output; rejects if it exits first. */
function waitForLog(
  child: ChildProcess,
  pattern: RegExp,
  log: { text: string },
  timeoutMs: number,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`no ${pattern} within ${timeoutMs} ms:\n${log.text}`)),
      timeoutMs,
    );
    const check = () => {
      if (pattern.test(log.text)) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout?.on('data', check);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`npm start exited with ${code}:\n${log.text}`));
    });
    check();
  });
}

describeWithShared(
  'fresh machine: clean clone, npm ci, npm start, a real photo',
  ['datasets', 'human-segmentation'],
  () => {
    let dir: string;
    let server: ChildProcess | undefined;
    const log = { text: '' };
    let port: number;

    beforeAll(async () => {
      dir = await mkdtemp(join(tmpdir(), 'segserve-fresh-'));
      const clone = join(dir, 'segserve');
      await run('git', ['clone', '--quiet', PROJECT_ROOT, clone]);
      await run('npm', ['ci', '--no-audit', '--no-fund'], { cwd: clone, maxBuffer: 64 * 1024 * 1024 });
      port = await freePort();
      const env: NodeJS.ProcessEnv = { ...process.env, PORT: String(port), HOST: '127.0.0.1' };
      delete env.SEGSERVE_MODELS;
      server = spawn('npm', ['start'], {
        cwd: clone,
        env,
        stdio: ['ignore', 'pipe', 'pipe'],
        detached: true,
      });
      server.stdout?.on('data', (d) => {
        log.text += d;
      });
      server.stderr?.on('data', (d) => {
        log.text += d;
      });
      await waitForLog(server, /Server listening|"msg":"listening"|listening at/i, log, 120_000);
    }, 600_000);

    afterAll(async () => {
      if (server?.pid && server.exitCode === null) {
        const exited = new Promise((resolve) => server?.once('exit', resolve));
        process.kill(-server.pid, 'SIGTERM');
        await exited;
      }
      if (dir) await rm(dir, { recursive: true, force: true });
    });

    it('says in the log that it provisioned the person model, with its licence', () => {
      expect(log.text).toMatch(/"msg":"provisioned"/);
      expect(log.text).toMatch(/Apache-2\.0/);
      expect(log.text).toMatch(/"model":"person"/);
    });

    it('answers a segmentation request on a real photo with a plausible person mask', async () => {
      const photo = await readFile(join(HUMAN_SEG, 'images', '1.jpg'));
      const response = await fetch(`http://127.0.0.1:${port}/v1/models/person/segment`, {
        method: 'POST',
        headers: { 'content-type': 'image/jpeg' },
        body: photo,
      });
      expect(response.status).toBe(200);
      const answer = (await response.json()) as {
        task: string;
        image: { width: number; height: number };
        classes: Array<{ label: string; area: number; mask: { size: [number, number]; counts: string } }>;
      };
      expect(answer.task).toBe('binary');
      const person = answer.classes.find((c) => c.label === 'person');
      expect(person).toBeDefined();
      const predicted = decodeRle(person!.mask);
      const truth = await readPersonMask(
        join(HUMAN_SEG, 'masks', '1.png'),
        answer.image.width,
        answer.image.height,
      );
      expect(intersectionOverUnion(predicted.data, truth)).toBeGreaterThan(0.8);
    });
  },
);
