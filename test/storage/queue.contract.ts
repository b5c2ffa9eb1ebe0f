/**
 * The Queue contract: one suite every adapter must pass (memory-queue.test.ts, bullmq-queue.test.ts), checking the
 * promises of src/storage/queue.ts. Each test works on queue names of its own, so the tests share the adapter's
 * store without seeing each other's messages. Times are measured with generous bounds only: the machines are
 * shared and a second may pass between two lines.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  type DeliveredMessage,
  type FailureNotice,
  type JsonValue,
  PermanentFailure,
  type QueueCounts,
  type RetryPolicy,
  type WorkQueue,
} from '../../src/storage/index.js';
import { caught } from '../helpers/caught.js';

export interface QueueTarget {
  /** Opens a handle on the queue `name`; the same name again is the same queue, as in another process. */
  open<T extends JsonValue>(
    name: string,
    options: { retry: RetryPolicy; deadLetters?: number },
  ): Promise<WorkQueue<T>>;
  cleanup(): Promise<void>;
}

let names = 0;
/** A queue name no other test of this run uses. */
const fresh = () => `q${++names}-${process.pid}`;

const NO_RETRY: RetryPolicy = { attempts: 1, backoffMs: 0 };

/** Waits until `condition` holds, checking every 20 ms; fails naming `what` after `timeoutMs`. */
async function until(condition: () => boolean | Promise<boolean>, what: string, timeoutMs = 15_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(20);
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A promise and the function that resolves it: what a handler waits on until the test lets it go. */
function gate(): { opened: Promise<void>; open(): void } {
  let open = () => {};
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { opened, open };
}

const NONE: QueueCounts = { waiting: 0, active: 0, delayed: 0, dead: 0 };

export function describeQueueContract(name: string, setup: () => Promise<QueueTarget>): void {
  describe(`Queue contract: ${name}`, () => {
    let target: QueueTarget;
    /** Every handle a test opened, closed after it whatever happened. */
    let opened: Array<WorkQueue<JsonValue>> = [];

    const open = async <T extends JsonValue>(
      queueName: string,
      options: { retry: RetryPolicy; deadLetters?: number } = { retry: NO_RETRY },
    ): Promise<WorkQueue<T>> => {
      const queue = await target.open<T>(queueName, options);
      opened.push(queue as unknown as WorkQueue<JsonValue>);
      return queue;
    };

    beforeAll(async () => {
      target = await setup();
    });

    afterEach(async () => {
      await Promise.all(opened.map((queue) => queue.close()));
      opened = [];
    });

    afterAll(async () => {
      await target?.cleanup();
    });

    it('delivers each message once, with its data as added, first added first', async () => {
      const queue = await open(fresh());
      const first = [
        { id: 'm1', data: { text: 'héllo ✓', nested: { list: [1, 2.5, null, true] } } },
        { id: 'm2', data: null },
        { id: 'm3', data: 'plain' },
        { id: 'm4', data: [] },
        { id: 'm5', data: 0 },
      ];
      const second = [
        { id: 'm6', data: { n: 6 } },
        { id: 'm7', data: { n: 7 } },
      ];
      await queue.add(first);
      await queue.add(second);
      expect(await queue.counts()).toEqual({ ...NONE, waiting: 7 });
      const delivered: Array<DeliveredMessage<JsonValue>> = [];
      queue.consume(
        async (message) => {
          delivered.push(message);
        },
        { concurrency: 1 },
      );
      await until(() => delivered.length === 7, '7 deliveries');
      expect(delivered).toEqual([...first, ...second].map((message) => ({ ...message, attempt: 1 })));
      await until(async () => (await queue.counts()).waiting === 0, 'an empty queue');
      await sleep(200);
      expect(delivered).toHaveLength(7);
      expect(await queue.counts()).toEqual(NONE);
    });

    it('adds an id once while it is waiting or active, and again after it completed', async () => {
      const queue = await open(fresh());
      await queue.add([
        { id: 'a', data: 'first a' },
        { id: 'b', data: 'b' },
      ]);
      await queue.add([
        { id: 'a', data: 'second a' },
        { id: 'c', data: 'c' },
        { id: 'c', data: 'c again, in the same batch' },
      ]);
      expect(await queue.counts()).toEqual({ ...NONE, waiting: 3 });

      const release = gate();
      const handled: string[] = [];
      queue.consume(
        async ({ id, data }) => {
          handled.push(`${id}=${data}`);
          if (id === 'a') await release.opened;
        },
        { concurrency: 1 },
      );
      await until(() => handled.length === 1, 'the first delivery');
      expect(await queue.counts()).toEqual({ ...NONE, active: 1, waiting: 2 });
      await queue.add([{ id: 'a', data: 'a while active' }]);
      expect(await queue.counts()).toEqual({ ...NONE, active: 1, waiting: 2 });
      release.open();
      await until(() => handled.length === 3, 'three deliveries');
      await until(async () => (await queue.counts()).active === 0, 'the last completion');

      await queue.add([{ id: 'a', data: 'a after completion' }]);
      await until(() => handled.length === 4, 'the re-added message');
      expect(handled).toEqual(['a=first a', 'b=b', 'c=c', 'a=a after completion']);
    });

    it('adds an id once while it waits out a backoff or is a dead letter', async () => {
      const queue = await open<string>(fresh(), { retry: { attempts: 2, backoffMs: 60_000 } });
      const runs: string[] = [];
      queue.consume(
        async ({ id }) => {
          runs.push(id);
          if (id === 'dead') throw new PermanentFailure('no retry can fix this');
          throw new Error('try again later');
        },
        { concurrency: 2 },
      );
      await queue.add([
        { id: 'delayed', data: 'x' },
        { id: 'dead', data: 'x' },
      ]);
      await until(async () => {
        const counts = await queue.counts();
        return counts.delayed === 1 && counts.dead === 1;
      }, 'one delayed, one dead');
      await queue.add([
        { id: 'delayed', data: 'again' },
        { id: 'dead', data: 'again' },
      ]);
      await sleep(300);
      expect(await queue.counts()).toEqual({ ...NONE, delayed: 1, dead: 1 });
      expect(runs.sort()).toEqual(['dead', 'delayed']);
    });

    it('refuses ids and queue names outside letters, digits, "-", "_" and ".", adding nothing of the batch', async () => {
      const queue = await open(fresh());
      for (const id of ['a:b', '', 'a b', 'é', 'a/b', 'a\n']) {
        const error = await caught(() =>
          queue.add([
            { id: 'fine', data: 1 },
            { id, data: 1 },
          ]),
        );
        expect(error.code, id).toBe('INVALID_ARGUMENT');
        expect(error.message, id).toContain(JSON.stringify(id));
      }
      expect(await queue.counts()).toEqual(NONE);
      // Digits alone and the names BullMQ gives its own keys are ids like any other.
      const ids = [
        'job-42_v1.2',
        '42',
        '-7',
        '0',
        'delayed',
        'meta',
        'wait',
        'active',
        'failed',
        'id',
        'stalled',
      ];
      await queue.add(ids.map((id) => ({ id, data: id })));
      expect((await queue.counts()).waiting).toBe(ids.length);
      const handled: string[] = [];
      queue.consume(
        async ({ id, data }) => {
          handled.push(`${id}=${data}`);
        },
        { concurrency: 1 },
      );
      await until(() => handled.length === ids.length, 'every message handled');
      expect(handled).toEqual(ids.map((id) => `${id}=${id}`));
      await until(async () => (await queue.counts()).active === 0, 'the last completion');
      expect(await queue.counts()).toEqual(NONE);
      expect((await caught(() => open('bad:name'))).code).toBe('INVALID_ARGUMENT');
      expect((await caught(() => open(fresh(), { retry: { attempts: 0, backoffMs: 0 } }))).code).toBe(
        'INVALID_ARGUMENT',
      );
      expect(() => queue.consume(async () => {}, { concurrency: 0 })).toThrow(/concurrency/);
    });

    it('retries a failing handler after a doubling backoff, then dead-letters it with its reason and runs', async () => {
      const queue = await open<{ n: number }>(fresh(), { retry: { attempts: 3, backoffMs: 250 } });
      const started = new Date();
      const runs: number[] = [];
      const notices: Array<{ attempt: number; willRetry: boolean; reason: string; during: QueueCounts }> = [];
      queue.consume(
        async (message) => {
          runs.push(performance.now());
          // Each delivery gets the data as added, whatever an earlier run did to its copy.
          expect(message.data).toEqual({ n: 1 });
          message.data.n++;
          throw new Error(`failed on run ${message.attempt}`);
        },
        {
          concurrency: 1,
          onFailure: async ({ message, error, willRetry }: FailureNotice<{ n: number }>) => {
            notices.push({
              attempt: message.attempt,
              willRetry,
              reason: (error as Error).message,
              // Called before the retry is scheduled or the message dead-lettered: it is still active.
              during: await queue.counts(),
            });
          },
        },
      );
      await queue.add([{ id: 'flaky', data: { n: 1 } }]);
      await until(async () => (await queue.counts()).dead === 1, 'the dead letter');

      expect(runs).toHaveLength(3);
      const [firstWait, secondWait] = [runs[1] - runs[0], runs[2] - runs[1]];
      expect(firstWait).toBeGreaterThanOrEqual(225);
      expect(secondWait).toBeGreaterThanOrEqual(450);
      expect(secondWait).toBeLessThan(10_000);
      expect(notices).toEqual([
        { attempt: 1, willRetry: true, reason: 'failed on run 1', during: { ...NONE, active: 1 } },
        { attempt: 2, willRetry: true, reason: 'failed on run 2', during: { ...NONE, active: 1 } },
        { attempt: 3, willRetry: false, reason: 'failed on run 3', during: { ...NONE, active: 1 } },
      ]);
      const [letter] = await queue.deadLetters();
      expect(letter).toMatchObject({ id: 'flaky', data: { n: 1 }, reason: 'failed on run 3', attempts: 3 });
      expect(letter.failedAt.getTime()).toBeGreaterThanOrEqual(started.getTime() - 1_000);
      expect(letter.failedAt.getTime()).toBeLessThanOrEqual(Date.now() + 1_000);
      expect(await queue.counts()).toEqual({ ...NONE, dead: 1 });
    });

    it('shows a message waiting out its backoff as delayed', async () => {
      const queue = await open(fresh(), { retry: { attempts: 2, backoffMs: 1_500 } });
      let runs = 0;
      queue.consume(
        async () => {
          runs++;
          if (runs === 1) throw new Error('once');
        },
        { concurrency: 1 },
      );
      await queue.add([{ id: 'later', data: 1 }]);
      await until(async () => (await queue.counts()).delayed === 1, 'the delayed message');
      expect(await queue.counts()).toEqual({ ...NONE, delayed: 1 });
      await until(() => runs === 2, 'the retry');
      await until(async () => (await queue.counts()).active === 0, 'its completion');
      expect(await queue.counts()).toEqual(NONE);
    });

    it('dead-letters a PermanentFailure at once, and whatever is thrown by its text', async () => {
      const queue = await open(fresh(), { retry: { attempts: 5, backoffMs: 10 } });
      const notices: Array<{ id: string; attempt: number; willRetry: boolean }> = [];
      queue.consume(
        async ({ id }) => {
          if (id === 'permanent') throw new PermanentFailure('not an image');
          // A handler may throw anything; a string has no message but is its own text.
          throw 'plain text';
        },
        {
          concurrency: 2,
          onFailure: ({ message, willRetry }) => {
            notices.push({ id: message.id, attempt: message.attempt, willRetry });
          },
        },
      );
      await queue.add([
        { id: 'permanent', data: 1 },
        { id: 'text', data: 2 },
      ]);
      await until(async () => (await queue.counts()).dead === 2, 'two dead letters');
      expect(notices.filter((notice) => notice.id === 'permanent')).toEqual([
        { id: 'permanent', attempt: 1, willRetry: false },
      ]);
      expect(notices.filter((notice) => notice.id === 'text').map((notice) => notice.willRetry)).toEqual([
        true,
        true,
        true,
        true,
        false,
      ]);
      const letters = await queue.deadLetters();
      expect(letters.find((letter) => letter.id === 'permanent')).toMatchObject({
        reason: 'not an image',
        attempts: 1,
      });
      expect(letters.find((letter) => letter.id === 'text')).toMatchObject({
        reason: 'plain text',
        attempts: 5,
      });
    });

    it('goes on with the retry or dead letter when onFailure itself fails', async () => {
      const queue = await open(fresh(), { retry: { attempts: 2, backoffMs: 10 } });
      let runs = 0;
      queue.consume(
        async () => {
          runs++;
          throw new Error('handler failed');
        },
        {
          concurrency: 1,
          onFailure: () => {
            throw new Error('the notice failed too');
          },
        },
      );
      await queue.add([{ id: 'x', data: 1 }]);
      await until(async () => (await queue.counts()).dead === 1, 'the dead letter');
      expect(runs).toBe(2);
      expect((await queue.deadLetters())[0].reason).toBe('handler failed');
    });

    it('keeps the most recent dead letters, newest first; a dropped id may be added again', async () => {
      const queue = await open(fresh(), { retry: NO_RETRY, deadLetters: 3 });
      const runs: string[] = [];
      const consumer = queue.consume(
        async ({ id }) => {
          runs.push(id);
          throw new PermanentFailure(`bad ${id}`);
        },
        { concurrency: 1 },
      );
      await queue.add(['d1', 'd2', 'd3', 'd4', 'd5'].map((id) => ({ id, data: id })));
      await until(() => runs.length === 5, 'five runs');
      await until(async () => (await queue.counts()).active === 0, 'the last dead letter');
      expect(await queue.counts()).toEqual({ ...NONE, dead: 3 });
      expect((await queue.deadLetters()).map((letter) => [letter.id, letter.reason])).toEqual([
        ['d5', 'bad d5'],
        ['d4', 'bad d4'],
        ['d3', 'bad d3'],
      ]);
      expect((await queue.deadLetters(2)).map((letter) => letter.id)).toEqual(['d5', 'd4']);
      expect(await queue.deadLetters(0)).toEqual([]);
      await queue.add([
        { id: 'd1', data: 'd1' },
        { id: 'd5', data: 'd5' },
      ]);
      await until(async () => (await queue.deadLetters(1))[0]?.id === 'd1', 'the dropped id dead again');
      await sleep(300);
      await consumer.close();
      expect(runs.slice(5)).toEqual(['d1']);
      expect((await queue.deadLetters()).map((letter) => letter.id)).toEqual(['d1', 'd5', 'd4']);
    });

    it('runs at most `concurrency` handlers of a consumer at once', async () => {
      const queue = await open(fresh());
      const release = gate();
      let running = 0;
      let most = 0;
      let done = 0;
      const consumer = queue.consume(
        async () => {
          running++;
          most = Math.max(most, running);
          await release.opened;
          running--;
          done++;
        },
        { concurrency: 3 },
      );
      await queue.add(Array.from({ length: 8 }, (_, i) => ({ id: `c${i}`, data: i })));
      await until(() => running === 3, 'three handlers running');
      await sleep(300);
      expect(running).toBe(3);
      expect(consumer.active).toBe(3);
      expect(await queue.counts()).toEqual({ ...NONE, active: 3, waiting: 5 });
      release.open();
      await until(() => done === 8, 'all eight handled');
      expect(most).toBe(3);
      await until(() => consumer.active === 0, 'an idle consumer');
    });

    it('shares a queue between handles and consumers, each message handled once when all succeed', async () => {
      const queueName = fresh();
      // Two handles on one name: two processes, each with its consumer.
      const [one, two] = [await open<number>(queueName), await open<number>(queueName)];
      const handledBy = new Map<string, string[]>();
      const handler =
        (who: string) =>
        async ({ id }: DeliveredMessage<number>) => {
          handledBy.set(id, [...(handledBy.get(id) ?? []), who]);
          await sleep(15);
        };
      one.consume(handler('one'), { concurrency: 2 });
      two.consume(handler('two'), { concurrency: 2 });
      const ids = Array.from({ length: 40 }, (_, i) => `s${i}`);
      await one.add(ids.slice(0, 20).map((id, i) => ({ id, data: i })));
      await two.add(ids.slice(20).map((id, i) => ({ id, data: i })));
      await until(() => handledBy.size === 40, 'forty messages handled');
      await until(async () => (await one.counts()).active === 0, 'the last completion');
      await sleep(200);
      expect([...handledBy.keys()].sort()).toEqual([...ids].sort());
      expect([...handledBy.values()].filter((who) => who.length !== 1)).toEqual([]);
      const who = [...handledBy.values()].map(([consumer]) => consumer);
      expect(who).toContain('one');
      expect(who).toContain('two');
      expect(await two.counts()).toEqual(NONE);
    });

    it('closes a consumer by letting its running handler finish and taking no new message', async () => {
      const queue = await open(fresh());
      const release = gate();
      const started: string[] = [];
      const finished: string[] = [];
      const consumer = queue.consume(
        async ({ id }) => {
          started.push(id);
          await release.opened;
          await sleep(50);
          finished.push(id);
        },
        { concurrency: 1 },
      );
      await queue.add([
        { id: 'running', data: 1 },
        { id: 'next', data: 2 },
      ]);
      await until(() => started.length === 1, 'the first handler');
      let closed = false;
      const closing = consumer.close().then(() => {
        closed = true;
      });
      await sleep(300);
      expect(closed).toBe(false);
      release.open();
      await closing;
      expect(finished).toEqual(['running']);
      expect(consumer.active).toBe(0);
      await sleep(300);
      expect(started).toEqual(['running']);
      expect(await queue.counts()).toEqual({ ...NONE, waiting: 1 });

      // What the closed consumer left is the next one's; closing the queue drains its consumers the same way.
      const second = gate();
      queue.consume(
        async ({ id }) => {
          started.push(id);
          await second.opened;
          finished.push(id);
        },
        { concurrency: 1 },
      );
      await until(() => started.length === 2, 'the waiting message taken by another consumer');
      const queueClosing = queue.close();
      await sleep(200);
      second.open();
      await queueClosing;
      expect(finished).toEqual(['running', 'next']);
      await expect(queue.add([{ id: 'late', data: 3 }])).rejects.toThrow(/after close/);
    });
  });
}
