/**
 * `npm start` in front of the server: a SIGTERM (or SIGINT) to the npm process must reach node itself, which
 * shuts down and exits, instead of npm exiting and leaving the server running orphaned. The start script
 * `exec`s node so npm's child *is* the server (npm 11's run-script forwards SIGINT and SIGTERM to its child, but
 * a `sh -c` in between would die and leave node behind). Runs the built dist/ (`npm run build`).
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../helpers/paths.js';
import { tinySigmoidModel } from '../helpers/tiny-models.js';
import { writeRepository } from '../http/helpers.js';

const DIST_MAIN = join(PROJECT_ROOT, 'dist', 'cli', 'main.js');
const built = existsSync(DIST_MAIN);
if (!built) console.warn(`SKIPPED "npm start and signals": ${DIST_MAIN} is missing (run npm run build)`);

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function waitUntil(test: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (test()) return true;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return test();
}

/** The node server started by npm: npm's child (exec), or the child of an intermediate shell (no exec). */
function serverPid(npmPid: number): number | undefined {
  const children = (ppid: number) =>
    execFileSync('ps', ['-o', 'pid=,args=', '--ppid', String(ppid)], { encoding: 'utf8' })
      .split('\n')
      .map((line) => line.trim())
      .filter(Boolean)
      .map((line) => ({ pid: Number(line.split(/\s+/)[0]), args: line.replace(/^\d+\s+/, '') }));
  const queue = children(npmPid);
  while (queue.length > 0) {
    const child = queue.shift()!;
    if (child.args.includes('dist/cli/main.js') && !/^(\/bin\/)?sh /.test(child.args)) return child.pid;
    queue.push(...children(child.pid));
  }
  return undefined;
}

describe.skipIf(!built)(built ? 'npm start and signals' : 'npm start and signals [skipped: no dist/]', () => {
  let repo: string;
  const started: ChildProcess[] = [];
  const servers: number[] = [];

  beforeAll(async () => {
    repo = await writeRepository({ binary: tinySigmoidModel() });
  });

  afterAll(async () => {
    // Whatever a failed run left behind: the processes this test started, by their ids.
    for (const pid of servers) if (alive(pid)) process.kill(pid, 'SIGKILL');
    for (const child of started) if (child.exitCode === null) child.kill('SIGKILL');
    await rm(repo, { recursive: true, force: true });
  });

  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    it(`${signal} to npm stops the node server within seconds`, async () => {
      const npm = spawn('npm', ['start', '--', '--models', repo, '--host', '127.0.0.1'], {
        cwd: PROJECT_ROOT,
        env: { ...process.env, PORT: '0', LOG_LEVEL: 'info' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      started.push(npm);
      let log = '';
      npm.stdout.on('data', (d) => {
        log += d;
      });
      npm.stderr.on('data', (d) => {
        log += d;
      });
      const listening = await waitUntil(() => log.includes('Server listening at'), 60_000);
      expect(listening, log).toBe(true);
      const pid = serverPid(npm.pid!);
      expect(pid, 'node server process under npm').toBeDefined();
      servers.push(pid!);

      npm.kill(signal);
      const gone = await waitUntil(() => !alive(pid!), 5_000);
      expect(gone, `node server ${pid} still running 5 s after ${signal} to npm\n${log}`).toBe(true);
      expect(log).toContain('"msg":"shut down"');
    });
  }
});
