/**
 * One process at a time on an embedded database. PGlite takes no lock of its own (it writes no
 * postmaster.pid), and two engines writing one folder corrupt it: a `segserve serve` and a CLI command on the
 * same data directory, or two replicas sharing a volume. A lock file beside the folder holds the owner's pid.
 *
 * A lock whose process is gone (a crash, a kill -9) is taken over. Two processes taking over the same stale
 * lock in the same instant could both win; starting two processes on one data directory after a crash is the
 * only way there, and the message of every refusal says to use PostgreSQL for more than one process.
 */
import { open, readFile, rm } from 'node:fs/promises';
import { SegserveError } from '../errors.js';

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists but belongs to another user.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export class ProcessLock {
  private constructor(private readonly path: string) {}

  /** Creates `path` holding this pid; STORAGE_FAILED naming the holder when a live process has it. */
  static async acquire(path: string, store: string): Promise<ProcessLock> {
    for (let attempt = 0; ; attempt++) {
      try {
        const handle = await open(path, 'wx');
        try {
          await handle.writeFile(`${process.pid}\n`);
        } finally {
          await handle.close();
        }
        return new ProcessLock(path);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 0) {
          throw new SegserveError('STORAGE_FAILED', {
            store,
            reason: `cannot lock ${path}: ${error instanceof Error ? error.message : String(error)}`,
          });
        }
      }
      const holder = Number.parseInt(await readFile(path, 'utf8').catch(() => ''), 10);
      if (Number.isInteger(holder) && holder > 0 && isAlive(holder)) {
        const who = holder === process.pid ? 'this process' : `process ${holder}`;
        throw new SegserveError('STORAGE_FAILED', {
          store,
          reason:
            `it is open in ${who}, and the embedded database serves one process at a time: give each process ` +
            `its own --data-dir, or share a PostgreSQL server (--database-url); if process ${holder} is not ` +
            `segserve, delete ${path}`,
        });
      }
      await rm(path, { force: true });
    }
  }

  async release(): Promise<void> {
    await rm(this.path, { force: true });
  }
}
