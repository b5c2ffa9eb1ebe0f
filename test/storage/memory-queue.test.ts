/**
 * The in-process queue: the contract suite, and what only it has: its messages live and die with the process, and
 * a retry due later never keeps the process running.
 */
import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { openQueue } from '../../src/storage/index.js';
import { PROJECT_ROOT } from '../helpers/paths.js';
import { describeQueueContract } from './queue.contract.js';

describeQueueContract('in-process', async () => ({
  open: (name, options) => openQueue(name, { kind: 'in-process' }, options),
  cleanup: async () => {},
}));

describe('in-process queue specifics', () => {
  it('forgets a queue once its last handle closed', async () => {
    const first = await openQueue(
      'forgotten',
      { kind: 'in-process' },
      { retry: { attempts: 1, backoffMs: 0 } },
    );
    const second = await openQueue(
      'forgotten',
      { kind: 'in-process' },
      { retry: { attempts: 1, backoffMs: 0 } },
    );
    await first.add([{ id: 'kept', data: 1 }]);
    await first.close();
    expect((await second.counts()).waiting).toBe(1);
    await second.close();
    const again = await openQueue(
      'forgotten',
      { kind: 'in-process' },
      { retry: { attempts: 1, backoffMs: 0 } },
    );
    expect((await again.counts()).waiting).toBe(0);
    await again.close();
  });

  it('lets the process exit while a retry is due much later', async () => {
    // A child that adds a message whose handler fails, with a retry due in an hour, and then has nothing to do.
    const script = `
      import { openQueue } from './src/storage/index.js';
      const queue = await openQueue('exit', { kind: 'in-process' }, { retry: { attempts: 2, backoffMs: 3_600_000 } });
      queue.consume(async () => { throw new Error('later'); }, { concurrency: 1 });
      await queue.add([{ id: 'm', data: 1 }]);
      while ((await queue.counts()).delayed === 0) await new Promise((resolve) => setTimeout(resolve, 10));
      process.stdout.write('delayed\\n');
    `;
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: PROJECT_ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk) => {
      output += chunk;
    });
    child.stderr.on('data', (chunk) => {
      output += chunk;
    });
    const code = await new Promise<number | null>((resolve) => {
      const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
      child.on('exit', (exitCode) => {
        clearTimeout(timer);
        resolve(exitCode);
      });
    });
    expect(output).toBe('delayed\n');
    expect(code).toBe(0);
  });
});
