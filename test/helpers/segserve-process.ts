/**
 * `segserve serve` as a separate process, for tests and benchmarks that treat the server as a black box: what
 * they measure (throughput, /health latency, RSS) then belongs to the server alone, not to a load generator
 * sharing its event loop. The built CLI (dist/) runs when it is at least as new as every source file, else the
 * sources through tsx, so a stale build never stands in for the code under test.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { freePort } from '../http/helpers.js';
import { PROJECT_ROOT } from './paths.js';

/** The process-wide request counters `GET /health` reports under `requests` (since the process started). */
export interface RequestCounters {
  /** Requests let in by admission control. */
  admitted: number;
  /** Requests refused by admission control (503 QUEUE_FULL). */
  refused: number;
  /** Images whose decoding started. */
  decoded: number;
  in_flight: number;
}

export interface SegserveProcess {
  child: ChildProcess;
  pid: number;
  /** http://127.0.0.1:<port> */
  base: string;
  /** How it was started: `dist` or `tsx`. */
  entry: 'dist' | 'tsx';
  /** Resolves when the process has exited, with its exit code (null when a signal ended it) and the time. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>;
  /** The last 20 kB of what it wrote to stdout and stderr, for failure messages. */
  output(): string;
  /** SIGKILL unless it has already exited; resolves once it has. */
  kill(): Promise<void>;
}

function newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (entry.isFile()) newest = Math.max(newest, statSync(join(entry.parentPath, entry.name)).mtimeMs);
  }
  return newest;
}

/** `dist` when dist/cli/main.js exists and is no older than anything under src/, else `tsx`. */
export function serverEntry(): 'dist' | 'tsx' {
  const built = join(PROJECT_ROOT, 'dist', 'cli', 'main.js');
  if (!existsSync(built)) return 'tsx';
  return statSync(built).mtimeMs >= newestMtime(join(PROJECT_ROOT, 'src')) ? 'dist' : 'tsx';
}

export interface StartOptions {
  /** `serve` (default), ready once `/health` says ok; or `worker`, ready once `/readyz` answers 200. */
  command?: 'serve' | 'worker';
  /** The model repository folder. */
  models: string;
  /** Extra arguments for `segserve serve`. */
  args?: string[];
  env?: NodeJS.ProcessEnv;
  /** How long the models may take to become ready; default 90 s (two real models on a busy machine). */
  readyTimeoutMs?: number;
}

/**
 * Starts `segserve serve --models <models>` (or `segserve worker`) on a free loopback port (logging warnings and
 * worse only, so the log does not cost the server CPU under load) and resolves once it says it is ready.
 */
export async function startSegserve(options: StartOptions): Promise<SegserveProcess> {
  const port = await freePort();
  const entry = serverEntry();
  const cli =
    entry === 'dist'
      ? [join(PROJECT_ROOT, 'dist', 'cli', 'main.js')]
      : ['--import', 'tsx', join(PROJECT_ROOT, 'src', 'cli', 'main.ts')];
  const child = spawn(
    process.execPath,
    [
      ...cli,
      options.command ?? 'serve',
      '--models',
      options.models,
      '--host',
      '127.0.0.1',
      '--port',
      String(port),
      '--log-level',
      'warn',
      ...(options.args ?? []),
    ],
    { cwd: PROJECT_ROOT, env: { ...process.env, ...options.env }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-20_000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  let done = false;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>((resolve) =>
    child.on('exit', (code, signal) => {
      done = true;
      resolve({ code, signal, at: performance.now() });
    }),
  );
  const server: SegserveProcess = {
    child,
    pid: child.pid ?? -1,
    base: `http://127.0.0.1:${port}`,
    entry,
    exited,
    output: () => output,
    async kill() {
      if (!done) child.kill('SIGKILL');
      await exited;
    },
  };
  const deadline = performance.now() + (options.readyTimeoutMs ?? 90_000);
  while (performance.now() < deadline) {
    if (done) throw new Error(`segserve exited before it was ready:\n${output}`);
    if (options.command === 'worker') {
      const answer = await getJson(`${server.base}/readyz`, 2000).catch(() => undefined);
      if (answer?.status === 200) return server;
    } else {
      const answer = await getJson(`${server.base}/health`, 2000).catch(() => undefined);
      if (answer?.status === 200 && (answer.body as { status?: string }).status === 'ok') return server;
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  await server.kill();
  throw new Error(`segserve was not ready within ${options.readyTimeoutMs ?? 90_000} ms:\n${output}`);
}

/** One GET with node:http (no keep-alive), its status, parsed JSON body and round-trip time. */
export function getJson(
  url: string,
  timeoutMs = 5000,
): Promise<{ status: number; body: unknown; ms: number }> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const request = httpRequest(url, { timeout: timeoutMs }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => {
        const text = Buffer.concat(chunks).toString();
        let body: unknown = text;
        try {
          body = JSON.parse(text);
        } catch {
          // Not JSON: the text itself.
        }
        resolve({ status: response.statusCode ?? 0, body, ms: performance.now() - started });
      });
      response.on('error', reject);
    });
    request.on('timeout', () => request.destroy(new Error(`GET ${url}: no answer within ${timeoutMs} ms`)));
    request.on('error', reject);
    request.end();
  });
}

/**
 * The `requests` counters of `GET /health`. Throws, quoting the body, when they are missing or not numbers, so
 * a server without them fails with a message that says so.
 */
export async function requestCounters(base: string): Promise<RequestCounters> {
  const { status, body } = await getJson(`${base}/health`);
  const requests = (body as { requests?: Partial<RequestCounters> } | undefined)?.requests;
  const keys = ['admitted', 'refused', 'decoded', 'in_flight'] as const;
  if (status !== 200 || !requests || keys.some((key) => typeof requests[key] !== 'number')) {
    throw new Error(
      `GET /health (${status}) has no numeric requests.{admitted,refused,decoded,in_flight}: ${JSON.stringify(body)}`,
    );
  }
  return requests as RequestCounters;
}

/** The resident set size of process `pid` in bytes (VmRSS in /proc/<pid>/status), or undefined once it is gone. */
export async function rssBytes(pid: number): Promise<number | undefined> {
  try {
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    const match = /^VmRSS:\s+(\d+) kB/m.exec(status);
    return match ? Number(match[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}
