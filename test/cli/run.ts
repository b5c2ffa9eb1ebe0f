/**
 * `runCli` with a deadline: a run that hangs (a FIFO read that blocks, a process that never exits) is killed and
 * reported as timed out instead of hanging the test file.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import type { CliRun } from '../helpers/cli.js';
import { PROJECT_ROOT } from '../helpers/paths.js';

export interface TimedCliRun extends CliRun {
  timedOut: boolean;
  ms: number;
}

export function runCliWithin(args: string[], timeoutMs: number): Promise<TimedCliRun> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', join(PROJECT_ROOT, 'src', 'cli', 'main.ts'), ...args],
      { cwd: PROJECT_ROOT, env: process.env, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.stdout.on('data', (d) => {
      stdout += d;
    });
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, timedOut, ms: Date.now() - started });
    });
  });
}

/** A printed stack trace: lines such as "    at predict (file.ts:12:3)". */
export const STACK_LINE = /^\s+at .+[:(]/m;
