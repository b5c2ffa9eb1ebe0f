/**
 * The reference trainer (`training/`, Python with PyTorch) as a child process: the interpreter that has PyTorch
 * (Debian's `/usr/bin/python3` with python3-torch, or SEGSERVE_PYTHON), the package on its path, and its
 * progress read from stdout, one JSON object per line (see training/README.md). Everything else it prints goes
 * to stderr, of which the end is kept for the error message.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { SegserveError } from '../../errors.js';

export type TrainerKind = 'unet' | 'classifier';

export type TrainerEvent =
  | { event: 'start'; [field: string]: unknown }
  | {
      event: 'epoch';
      epoch: number;
      epochs: number;
      loss?: number;
      val?: Record<string, unknown>;
      [field: string]: unknown;
    }
  | { event: 'progress'; iteration: number; iterations: number; loss?: number }
  | {
      event: 'done';
      out: string;
      metrics?: Record<string, unknown>;
      /** The whole run's wall and CPU seconds, and the training steps' images (crops) per second. */
      wall_s: number;
      cpu_s: number;
      images_per_s: number;
      [field: string]: unknown;
    }
  | { event: 'error'; code: string; message: string };

export const PYTHON_ENV = 'SEGSERVE_PYTHON';
/** Debian's interpreter, where `apt-get install python3-torch` puts PyTorch (a pyenv python3 on PATH has none). */
const DEBIAN_PYTHON = '/usr/bin/python3';
const STDERR_KEPT = 4_000;

/** `training/` beside `src/` and `dist/`: the same relative path from src/learning/training and dist/learning/training. */
export const TRAINING_DIR = fileURLToPath(new URL('../../../training', import.meta.url));

export function pythonOf(env: NodeJS.ProcessEnv = process.env): string {
  const configured = env[PYTHON_ENV]?.trim();
  if (configured) return configured;
  return existsSync(DEBIAN_PYTHON) ? DEBIAN_PYTHON : 'python3';
}

function parseEvent(line: string): TrainerEvent | undefined {
  if (!line.startsWith('{')) return undefined;
  try {
    const value = JSON.parse(line) as { event?: unknown };
    return typeof value.event === 'string' ? (value as TrainerEvent) : undefined;
  } catch {
    return undefined;
  }
}

export interface TrainerOutcome {
  done: Extract<TrainerEvent, { event: 'done' }>;
  epochs: Array<Extract<TrainerEvent, { event: 'epoch' }>>;
  start?: Extract<TrainerEvent, { event: 'start' }>;
}

/**
 * Runs `python -m segserve_train <kind> <args>`, calling `onEvent` for each progress line. Resolves with the
 * `done` event; a trainer that reports an error, exits without `done`, or cannot be started rejects with
 * TRAINING_FAILED carrying its reason.
 */
export function runTrainer(
  kind: TrainerKind,
  args: readonly string[],
  options: { onEvent?: (event: TrainerEvent) => void; env?: NodeJS.ProcessEnv; signal?: AbortSignal } = {},
): Promise<TrainerOutcome> {
  const env = options.env ?? process.env;
  const python = pythonOf(env);
  return new Promise((resolve, reject) => {
    const child = spawn(python, ['-m', 'segserve_train', kind, ...args], {
      env: {
        ...env,
        PYTHONPATH: [TRAINING_DIR, env.PYTHONPATH].filter(Boolean).join(':'),
        PYTHONUNBUFFERED: '1',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
      signal: options.signal,
    });
    let stderr = '';
    let pending = '';
    const epochs: TrainerOutcome['epochs'] = [];
    let start: TrainerOutcome['start'];
    let done: TrainerOutcome['done'] | undefined;
    let reported: Extract<TrainerEvent, { event: 'error' }> | undefined;
    const take = (line: string) => {
      const event = parseEvent(line.trim());
      if (!event) return;
      if (event.event === 'epoch') epochs.push(event);
      else if (event.event === 'start') start = event;
      else if (event.event === 'done') done = event;
      else if (event.event === 'error') reported = event;
      options.onEvent?.(event);
    };
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      const lines = (pending + chunk).split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) take(line);
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString()).slice(-STDERR_KEPT);
    });
    const fail = (reason: string) => reject(new SegserveError('TRAINING_FAILED', { kind, reason }));
    child.on('error', (error) =>
      options.signal?.aborted
        ? fail(`stopped by ${String(options.signal.reason ?? 'its caller')}`)
        : fail(
            `${python} could not be started (${error.message}); set ${PYTHON_ENV} to a python with PyTorch`,
          ),
    );
    child.on('close', (code, signal) => {
      take(pending);
      if (reported) return fail(`${reported.code}: ${reported.message}`);
      if (code === 0 && done) return resolve({ done, epochs, start });
      const tail = stderr.trim().split('\n').slice(-5).join(' | ');
      fail(`${signal ? `ended by ${signal}` : `exited with ${code}`}${tail ? `: ${tail}` : ''}`);
    });
  });
}
