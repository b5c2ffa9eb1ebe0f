/**
 * A segserve process started by a deployment test, read through its JSON log lines: wait for a line, see the
 * rest of what it wrote on failure, and its exit.
 */
import { type ChildProcess, type SpawnOptions, spawn } from 'node:child_process';

export type LogLine = Record<string, unknown>;

export interface LoggedProcess {
  child: ChildProcess;
  lines: LogLine[];
  /** Everything it wrote that was not a JSON line (stderr, npm, usage errors). */
  text: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Resolves at the first log line (already written or still to come) that passes `test`; rejects on exit. */
  logged: (test: (line: LogLine) => boolean, timeoutMs?: number) => Promise<LogLine>;
}

export function startLogged(command: string, args: string[], options: SpawnOptions): LoggedProcess {
  const child = spawn(command, args, { ...options, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: LogLine[] = [];
  const waiters: Array<{ test: (line: LogLine) => boolean; resolve: (line: LogLine) => void }> = [];
  let pending = '';
  let text = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    pending += chunk.toString();
    const complete = pending.split('\n');
    pending = complete.pop() ?? '';
    for (const entry of complete.filter(Boolean)) {
      let line: LogLine;
      try {
        line = JSON.parse(entry) as LogLine;
      } catch {
        text += `${entry}\n`;
        continue;
      }
      lines.push(line);
      for (const waiter of waiters.filter((w) => w.test(line))) waiter.resolve(line);
    }
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    text += chunk.toString();
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const describe = () =>
    `${text}\n${lines
      .slice(-30)
      .map((line) => JSON.stringify(line))
      .join('\n')}`;
  return {
    child,
    lines,
    text: () => text,
    exited,
    logged: (test, timeoutMs = 120_000) =>
      new Promise((resolve, reject) => {
        const seen = lines.find(test);
        if (seen) return resolve(seen);
        const timer = setTimeout(
          () => reject(new Error(`no such log line within ${timeoutMs} ms:\n${describe()}`)),
          timeoutMs,
        );
        waiters.push({
          test,
          resolve: (line) => {
            clearTimeout(timer);
            resolve(line);
          },
        });
        void exited.then(({ code, signal }) => {
          clearTimeout(timer);
          reject(new Error(`exited (${code ?? signal}) before the log line:\n${describe()}`));
        });
      }),
  };
}
