/**
 * `segserve serve` as a real process: PORT from the environment, JSON logs with request ids, first-run
 * provisioning of an empty repository, and SIGTERM/SIGINT handled in order (the request in flight still gets its
 * answer, then exit 0 and the port is closed).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdir, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { PROJECT_ROOT } from '../helpers/paths.js';
import { semanticScene, tinySoftmaxModel } from '../helpers/tiny-models.js';
import { freePort, png, writeRepository } from './helpers.js';
import { slowBinaryModel } from './slow-model.js';

type LogLine = Record<string, unknown>;

interface Served {
  child: ChildProcess;
  lines: LogLine[];
  stderr: () => string;
  exited: Promise<number | null>;
  /** Resolves at the first log line (already written or still to come) that passes `test`. */
  logged: (test: (line: LogLine) => boolean) => Promise<LogLine>;
}

function serve(args: string[], env: NodeJS.ProcessEnv = {}): Served {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', join(PROJECT_ROOT, 'src', 'cli', 'main.ts'), 'serve', ...args],
    {
      cwd: PROJECT_ROOT,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const lines: LogLine[] = [];
  const waiters: Array<{ test: (line: LogLine) => boolean; resolve: (line: LogLine) => void }> = [];
  let pending = '';
  let stderr = '';
  child.stdout?.on('data', (chunk) => {
    pending += chunk;
    const complete = pending.split('\n');
    pending = complete.pop() ?? '';
    for (const text of complete.filter(Boolean)) {
      const line = JSON.parse(text) as LogLine;
      lines.push(line);
      for (const waiter of waiters.filter((w) => w.test(line))) waiter.resolve(line);
    }
  });
  child.stderr?.on('data', (chunk) => {
    stderr += chunk;
  });
  return {
    child,
    lines,
    stderr: () => stderr,
    exited: new Promise((resolve) => child.on('exit', (code) => resolve(code))),
    logged: (test) =>
      new Promise((resolve) => {
        const seen = lines.find(test);
        if (seen) resolve(seen);
        else waiters.push({ test, resolve });
      }),
  };
}

const listening = (line: LogLine) => String(line.msg).startsWith('Server listening at');

let dir: string;

beforeAll(async () => {
  dir = await writeRepository({ slow: slowBinaryModel({ steps: 40, maxQueue: 2 }) });
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('segserve serve', () => {
  it('listens on PORT, logs JSON with request ids, and drains on SIGTERM before exiting 0', async () => {
    const port = await freePort();
    const served = serve(['--models', dir, '--host', '127.0.0.1'], { PORT: String(port) });
    try {
      await served.logged(listening);
      const base = `http://127.0.0.1:${port}`;
      expect((await fetch(`${base}/health`)).status).toBe(200);

      const inFlight = fetch(`${base}/v1/models/slow/segment?mask_format=none`, {
        method: 'POST',
        body: new Uint8Array(await png(semanticScene())),
        headers: { 'x-request-id': 'in-flight-1' },
      });
      await served.logged((l) => l.request_id === 'in-flight-1' && l.msg === 'request admitted');
      served.child.kill('SIGTERM');

      const response = await inFlight;
      expect(response.status).toBe(200);
      expect(((await response.json()) as { model: string }).model).toBe('slow');
      expect(await served.exited).toBe(0);
      await expect(fetch(`${base}/health`)).rejects.toThrow();

      const messages = served.lines.map((l) => l.msg);
      expect(messages).toContain('version-ready');
      expect(messages).not.toContain('provisioned');
      const shutdown = messages.indexOf('shutting down: refusing new requests, finishing those in flight');
      const completed = served.lines.findIndex(
        (l) => l.request_id === 'in-flight-1' && l.msg === 'request completed',
      );
      expect(shutdown).toBeGreaterThan(-1);
      expect(completed).toBeGreaterThan(shutdown);
      // One structured line per prediction, from prediction.completed.
      expect(
        served.lines.find((l) => l.msg === 'prediction' && l.request_id === 'in-flight-1'),
      ).toMatchObject({
        model: 'slow',
        version: 1,
        variant: 'default',
        source: 'v1',
        prediction_id: expect.any(String),
        timings_ms: expect.objectContaining({ infer: expect.any(Number) }),
        uncertainty: expect.objectContaining({ kind: 'pixel-entropy' }),
      });
      expect(messages.at(-1)).toBe('shut down');
      expect(served.lines.every((l) => typeof l.level === 'number' && typeof l.time === 'number')).toBe(true);
      expect(served.stderr()).not.toMatch(/Error/);
    } finally {
      served.child.kill('SIGKILL');
    }
  });

  it('provisions an empty repository with the bundled person model on a first run, and stops on SIGINT', async () => {
    const empty = await mkdtemp(join(tmpdir(), 'segserve-first-run-'));
    const served = serve(['--models', join(empty, 'models'), '--host', '127.0.0.1', '--port', '0']);
    try {
      const line = await served.logged(listening);
      const base = String(line.msg).replace('Server listening at ', '');
      expect(served.lines.find((l) => l.msg === 'provisioned')).toMatchObject({ model: 'person' });
      expect(await (await fetch(`${base}/health`)).json()).toEqual({
        status: 'ok',
        default_model: 'person',
        models: { person: 'ready' },
        requests: { admitted: 0, refused: 0, decoded: 0, in_flight: 0, pixels_in_flight: 0 },
      });
      expect(served.lines.find((l) => l.msg === 'default-model')).toMatchObject({
        route: 'all',
        model: 'person',
        reason: 'first ready model by name',
      });
      served.child.kill('SIGINT');
      expect(await served.exited).toBe(0);
    } finally {
      served.child.kill('SIGKILL');
      await rm(empty, { recursive: true, force: true });
    }
  });

  it('applies a version folder added and removed while it serves: the watch is on by default', async () => {
    const repository = await writeRepository({ m: tinySoftmaxModel() });
    const served = serve([
      '--models',
      repository,
      '--host',
      '127.0.0.1',
      '--port',
      '0',
      '--watch-interval',
      '200',
      '--data-dir',
      join(repository, '.data'),
    ]);
    try {
      const line = await served.logged(listening);
      const base = String(line.msg).replace('Server listening at ', '');
      expect(await served.logged((l) => l.msg === 'settings')).toMatchObject({
        watch: 'on',
        models_sync: 'off',
      });
      const versions = async () =>
        (
          (await (await fetch(`${base}/v1/models/m`)).json()) as { versions: Array<{ version: number }> }
        ).versions.map((v) => v.version);
      expect(await versions()).toEqual([1]);

      // Copied in the way rsync does: a hidden file, renamed once complete.
      await mkdir(join(repository, 'm', '2'));
      await writeFile(join(repository, 'm', '2', '.model.onnx.part'), tinySoftmaxModel().bytes);
      await rename(join(repository, 'm', '2', '.model.onnx.part'), join(repository, 'm', '2', 'model.onnx'));
      await served.logged((l) => l.msg === 'version-unloaded' && l.version === 1);
      expect(await versions()).toEqual([2]);
      expect(served.lines.find((l) => l.msg === 'watch-applied')).toMatchObject({ folders: ['m'] });

      await rm(join(repository, 'm', '2'), { recursive: true });
      await served.logged((l) => l.msg === 'version-unloaded' && l.version === 2);
      expect(await versions()).toEqual([1]);
      served.child.kill('SIGTERM');
      expect(await served.exited).toBe(0);
      expect(served.lines.some((l) => String(l.msg).endsWith('failed'))).toBe(false);
    } finally {
      served.child.kill('SIGKILL');
      await rm(repository, { recursive: true, force: true });
    }
  });

  it('refuses a port that is not one', async () => {
    const run = await runCli(['serve', '--models', dir, '--port', '70000']);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('expected a port, 0 to 65535');
  });

  it('refuses a model repository path that cannot be a folder', async () => {
    const file = join(dir, 'slow', 'config.yaml');
    const run = await runCli(['serve', '--models', file, '--port', '0', '--host', '127.0.0.1']);
    expect(run.code).toBe(2);
    expect(run.stderr).toBe(`error INVALID_ARGUMENT: model repository ${file} is not a folder\n`);
  });
});
