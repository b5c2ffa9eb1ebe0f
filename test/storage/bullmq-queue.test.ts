/**
 * The BullMQ queue against Redis: the contract suite on the machine's Redis (`.ci/run` starts it) under a key
 * prefix of this file's own, deleted at the end; a consumer killed with a message active, whose message another
 * consumer gets once the lock expired; and outages of a Redis of this file's own (`redis-server` on a free port,
 * killed and started again), which must never touch the machine's. SKIPPED, saying so, without Redis.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { afterAll, describe, expect, it } from 'vitest';
import { type DeliveredMessage, openQueue, type WorkQueue } from '../../src/storage/index.js';
import { caught } from '../helpers/caught.js';
import { PROJECT_ROOT } from '../helpers/paths.js';
import {
  deletePrefix,
  freshPrefix,
  hasRedisServer,
  RedisServerProcess,
  redisProblem,
  TEST_REDIS_URL,
} from '../helpers/redis.js';
import { describeQueueContract } from './queue.contract.js';

const problem = await redisProblem();
if (problem) {
  console.warn(
    `SKIPPED "BullMQ queue": Redis at ${TEST_REDIS_URL.replace(/:[^:@/]*@/, ':***@')} cannot be reached (${problem}); start it with ` +
      `redis-server --daemonize yes --port 6379 --save '' --appendonly no, or set SEGSERVE_TEST_REDIS_URL`,
  );
}
const serverBinary = hasRedisServer();
if (!problem && !serverBinary) {
  console.warn('SKIPPED "BullMQ queue outages": no redis-server binary to start a Redis of the tests\' own');
}

const prefix = freshPrefix();
const redis = { kind: 'redis', url: TEST_REDIS_URL } as const;
const retry = { attempts: 1, backoffMs: 0 };

afterAll(async () => {
  if (!problem) await deletePrefix(TEST_REDIS_URL, prefix);
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function until(condition: () => boolean | Promise<boolean>, what: string, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(20);
  }
}

/**
 * A consumer in a process of its own (through tsx, as `segserve worker` would run), whose handler announces each
 * message on stdout and never finishes: killing it leaves the message active with its lock.
 */
function stuckConsumer(name: string, lockMs: number): { child: ChildProcess; took: Promise<string> } {
  const script = `
    import { openQueue } from './src/storage/index.js';
    const [url, name, prefix, lockMs] = process.argv.slice(1);
    const queue = await openQueue(name, { kind: 'redis', url }, { retry: { attempts: 1, backoffMs: 0 }, lockMs: Number(lockMs), prefix });
    queue.consume(async (message) => {
      process.stdout.write('took ' + message.id + '\\n');
      await new Promise(() => {});
    }, { concurrency: 1 });
  `;
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', '--input-type=module', '-e', script, TEST_REDIS_URL, name, prefix, String(lockMs)],
    { cwd: PROJECT_ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  const took = new Promise<string>((resolve, reject) => {
    const keep = (chunk: Buffer) => {
      output += chunk;
      const match = /took (\S+)\n/.exec(output);
      if (match) resolve(match[1]);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    child.once('exit', (code) => reject(new Error(`the consumer exited with ${code}: ${output}`)));
  });
  return { child, took };
}

describe.skipIf(problem !== undefined)('BullMQ queue', () => {
  describeQueueContract('BullMQ on Redis', async () => ({
    // A short lock: a test that fails with a handler stuck leaves nothing active for long.
    open: (name, options) => openQueue(name, redis, { ...options, lockMs: 5_000, prefix }),
    cleanup: async () => {},
  }));

  it('gives the message of a killed consumer to another once its lock expired, as the same attempt', async () => {
    const name = `killed-${process.pid}`;
    const lockMs = 2_000;
    const queue = await openQueue<string>(name, redis, { retry, lockMs, prefix });
    const { child, took } = stuckConsumer(name, lockMs);
    try {
      await queue.add([{ id: 'orphan', data: 'payload' }]);
      expect(await took).toBe('orphan');
      const exited = once(child, 'exit');
      child.kill('SIGKILL');
      await exited;
      const killedAt = Date.now();
      expect(await queue.counts()).toMatchObject({ active: 1, waiting: 0 });

      const delivered: Array<DeliveredMessage<string>> = [];
      queue.consume(
        async (message) => {
          delivered.push(message);
        },
        { concurrency: 1 },
      );
      // Within about 1.5 locks (expiry, then the next stalled check); 10 s leaves room for a slow machine.
      await until(() => delivered.length === 1, 'the redelivery', 10_000);
      expect(Date.now() - killedAt).toBeGreaterThanOrEqual(lockMs / 2);
      expect(delivered).toEqual([{ id: 'orphan', data: 'payload', attempt: 1 }]);
      await until(async () => (await queue.counts()).active === 0, 'its completion', 5_000);
      expect(await queue.counts()).toEqual({ waiting: 0, active: 0, delayed: 0, dead: 0 });
    } finally {
      child.kill('SIGKILL');
      await queue.close();
    }
  });

  it('reports a Redis that cannot be reached as STORAGE_UNAVAILABLE within seconds, never with the password', async () => {
    const queue = await openQueue(
      'unreachable',
      { kind: 'redis', url: 'redis://app:s3cret@127.0.0.1:1/2' },
      {
        retry,
        prefix,
      },
    );
    try {
      for (const call of [
        () => queue.add([{ id: 'm', data: 1 }]),
        () => queue.counts(),
        () => queue.deadLetters(),
      ]) {
        const started = Date.now();
        const error = await caught(call);
        expect(error.code).toBe('STORAGE_UNAVAILABLE');
        expect(error.message).toMatch(
          /^The queue "unreachable" \(Redis at 127\.0\.0\.1:1\) cannot be reached: .*ECONNREFUSED/,
        );
        expect(error.message).not.toContain('s3cret');
        expect(Date.now() - started).toBeLessThan(5_000);
      }
      // A consumer waits for Redis; closing it does not.
      const consumer = queue.consume(async () => {}, { concurrency: 1 });
      await sleep(500);
      await consumer.close();
    } finally {
      await queue.close();
    }
  });

  describe.skipIf(!serverBinary)('outages', () => {
    const server = new RedisServerProcess();
    let queue: WorkQueue<number> | undefined;

    afterAll(async () => {
      await queue?.close();
      await server.stop();
    });

    it('fails adds fast while Redis is down, and goes on where it left off when it is back', async () => {
      await server.start();
      queue = await openQueue<number>(
        'outage',
        { kind: 'redis', url: server.url },
        { retry, lockMs: 2_000, prefix },
      );
      const handled: string[] = [];
      const consumer = queue.consume(
        async ({ id }) => {
          handled.push(id);
        },
        { concurrency: 2 },
      );
      await queue.add([{ id: 'before', data: 1 }]);
      await until(() => handled.includes('before'), 'the message before the outage', 10_000);
      // Started only now: a consumer that records nothing could otherwise take the message above.
      const closedDuringOutage = queue.consume(async () => {}, { concurrency: 1 });

      await server.stop();
      // At once (the socket just closed) and a second later (the client between two reconnection attempts).
      const calls = [
        () => queue!.add([{ id: 'during', data: 2 }]),
        () => queue!.counts(),
        () => sleep(1_000).then(() => queue!.add([{ id: 'during', data: 2 }])),
      ];
      for (const call of calls) {
        const started = Date.now();
        const error = await caught(call);
        expect(error.code).toBe('STORAGE_UNAVAILABLE');
        expect(error.message).toMatch(
          new RegExp(
            `^The queue "outage" \\(Redis at 127\\.0\\.0\\.1:${server.port}\\) cannot be reached: .*(closed|ECONN)`,
          ),
        );
        expect(Date.now() - started).toBeLessThan(5_000);
      }
      // A SIGTERM during the outage: the consumer's close ends even though its connections cannot say goodbye.
      const closeStarted = Date.now();
      await closedDuringOutage.close();
      expect(Date.now() - closeStarted).toBeLessThan(10_000);

      await server.start();
      await until(
        () =>
          queue!.add([{ id: 'after', data: 3 }]).then(
            () => true,
            () => false,
          ),
        'an add accepted after the restart',
        15_000,
      );
      await until(() => handled.includes('after'), 'the consumer to resume', 15_000);
      expect(handled).toEqual(['before', 'after']);
      expect(consumer.active).toBe(0);
    });
  });
});
