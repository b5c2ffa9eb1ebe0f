/**
 * The in-process Queue adapter, the default: messages live in this process's memory and its consumers handle
 * them. It keeps every promise of the port the way the BullMQ adapter does (ids, FIFO order, retries with
 * backoff, dead letters, concurrency, draining close), so a feature tested on it behaves the same on Redis. What it
 * cannot keep is anything beyond the process: a crash or an exit drops what is waiting, delayed or active, so a
 * caller re-adds what is still pending when it starts (the ids make that safe).
 *
 * Handles on one name share one queue, as Redis does for processes: the shared state sits in a registry of this
 * process until its last handle closes.
 */
import {
  type ConsumeOptions,
  type Consumer,
  checkCount,
  checkMessageIds,
  checkQueueName,
  checkRetryPolicy,
  DEAD_LETTERS_KEPT,
  type DeadLetter,
  type DeliveredMessage,
  type FailureNotice,
  failureReason,
  type JsonValue,
  PermanentFailure,
  type QueueCounts,
  type QueueMessage,
  type RetryPolicy,
  type WorkQueue,
} from './queue.js';

export interface MemoryQueueOptions {
  retry: RetryPolicy;
  /** Dead letters kept, the most recent (default DEAD_LETTERS_KEPT). */
  deadLetters?: number;
}

/** A message as the queue holds it: its data as JSON text, as Redis would, and what its adder decided. */
interface Held {
  id: string;
  text: string;
  retry: RetryPolicy;
  deadLetters: number;
  /** Runs of its handler so far. */
  runs: number;
}

interface Dead {
  held: Held;
  reason: string;
  failedAt: Date;
}

type Handler = (message: DeliveredMessage<JsonValue>) => Promise<void>;

/** What a message's run needs of the consumer that took it. */
interface Taker {
  handler: Handler;
  onFailure?: (notice: FailureNotice<JsonValue>) => void | Promise<void>;
  done(): void;
}

/** One queue of this process, shared by the handles open on its name. */
class SharedQueue {
  /** Insertion order is arrival order: the first key is the next message out (FIFO). */
  readonly waiting = new Map<string, Held>();
  readonly delayed = new Map<string, { held: Held; timer: NodeJS.Timeout }>();
  readonly active = new Map<string, Held>();
  /** Oldest first; the most recent `deadLetters` of each adder are kept. */
  readonly dead = new Map<string, Dead>();
  readonly consumers: MemoryConsumer[] = [];
  /** Where the next turn starts, so consumers take messages in turn rather than the first taking them all. */
  private turn = 0;
  handles = 0;

  add(held: Held): void {
    const { id } = held;
    if (this.waiting.has(id) || this.delayed.has(id) || this.active.has(id) || this.dead.has(id)) return;
    this.waiting.set(id, held);
  }

  /** Hands waiting messages to consumers with a free slot, taking consumers in turn. */
  dispatch(): void {
    while (this.waiting.size > 0) {
      const consumer = this.nextFree();
      if (!consumer) return;
      const held: Held = this.waiting.values().next().value!;
      this.waiting.delete(held.id);
      this.active.set(held.id, held);
      void this.run(held, consumer.take());
    }
  }

  private nextFree(): MemoryConsumer | undefined {
    const count = this.consumers.length;
    for (let i = 0; i < count; i++) {
      const consumer = this.consumers[(this.turn + i) % count];
      if (consumer.free) {
        this.turn = (this.turn + i + 1) % count;
        return consumer;
      }
    }
    return undefined;
  }

  private async run(held: Held, taker: Taker): Promise<void> {
    const message: DeliveredMessage<JsonValue> = {
      id: held.id,
      data: JSON.parse(held.text) as JsonValue,
      attempt: held.runs + 1,
    };
    try {
      // A handler that throws before its first await fails the same way as one that rejects.
      await Promise.resolve().then(() => taker.handler(message));
      this.active.delete(held.id);
    } catch (error) {
      held.runs = message.attempt;
      const willRetry = !(error instanceof PermanentFailure) && held.runs < held.retry.attempts;
      await notify(taker.onFailure, { message, error, willRetry });
      this.active.delete(held.id);
      if (willRetry) this.delay(held);
      else this.deadLetter(held, failureReason(error));
    } finally {
      taker.done();
      this.dispatch();
    }
  }

  private delay(held: Held): void {
    const wait = held.retry.backoffMs * 2 ** (held.runs - 1);
    const timer = setTimeout(
      () => {
        this.delayed.delete(held.id);
        this.waiting.set(held.id, held);
        this.dispatch();
      },
      // Node runs a timer of more than 2^31 - 1 ms at once; wait that long instead (24.8 days).
      Math.min(wait, 2 ** 31 - 1),
    );
    // The process's lifetime belongs to its server or command: a retry due later must not keep it running.
    timer.unref();
    this.delayed.set(held.id, { held, timer });
  }

  private deadLetter(held: Held, reason: string): void {
    this.dead.set(held.id, { held, reason, failedAt: new Date() });
    for (const id of this.dead.keys()) {
      if (this.dead.size <= held.deadLetters) break;
      this.dead.delete(id);
    }
  }

  /** What is left when the last handle closes: retries due later are dropped with the rest. */
  discard(): void {
    for (const { timer } of this.delayed.values()) clearTimeout(timer);
    this.delayed.clear();
    this.waiting.clear();
  }
}

/** A failure notice, whose own failure must not change what happens to the message. */
async function notify<T extends JsonValue>(
  onFailure: ((notice: FailureNotice<T>) => void | Promise<void>) | undefined,
  notice: FailureNotice<T>,
): Promise<void> {
  try {
    await onFailure?.(notice);
  } catch {
    // The notice is for the feature's counts and records; the retry or dead letter goes ahead regardless.
  }
}

const QUEUES = new Map<string, SharedQueue>();

class MemoryConsumer implements Consumer {
  private running = 0;
  private closed = false;
  private closing: Promise<void> | undefined;
  private idle: (() => void) | undefined;

  constructor(
    private readonly shared: SharedQueue,
    private readonly handler: Handler,
    private readonly options: ConsumeOptions<JsonValue>,
  ) {}

  get active(): number {
    return this.running;
  }

  get free(): boolean {
    return !this.closed && this.running < this.options.concurrency;
  }

  take(): Taker {
    this.running++;
    return {
      handler: this.handler,
      onFailure: this.options.onFailure,
      done: () => {
        this.running--;
        if (this.running === 0) this.idle?.();
      },
    };
  }

  close(): Promise<void> {
    this.closing ??= new Promise<void>((resolve) => {
      this.closed = true;
      const index = this.shared.consumers.indexOf(this);
      if (index >= 0) this.shared.consumers.splice(index, 1);
      if (this.running === 0) resolve();
      else this.idle = resolve;
    });
    return this.closing;
  }
}

export class MemoryQueue<T extends JsonValue> implements WorkQueue<T> {
  readonly kind = 'in-process';
  private readonly shared: SharedQueue;
  private readonly retry: RetryPolicy;
  private readonly deadLetterCount: number;
  private readonly consumers: MemoryConsumer[] = [];
  private closing: Promise<void> | undefined;

  constructor(
    readonly name: string,
    options: MemoryQueueOptions,
  ) {
    checkQueueName(name);
    checkRetryPolicy(options.retry);
    this.deadLetterCount = options.deadLetters ?? DEAD_LETTERS_KEPT;
    checkCount('deadLetters', this.deadLetterCount, 1);
    this.retry = { ...options.retry };
    let shared = QUEUES.get(name);
    if (!shared) {
      shared = new SharedQueue();
      QUEUES.set(name, shared);
    }
    shared.handles++;
    this.shared = shared;
  }

  async add(messages: readonly QueueMessage<T>[]): Promise<void> {
    this.assertOpen('add');
    checkMessageIds(messages);
    // Serialised before any is added: data that is not JSON fails the whole batch, as it would on Redis.
    const held = messages.map(({ id, data }) => ({
      id,
      text: JSON.stringify(data),
      retry: this.retry,
      deadLetters: this.deadLetterCount,
      runs: 0,
    }));
    for (const message of held) this.shared.add(message);
    this.shared.dispatch();
  }

  consume(handler: (message: DeliveredMessage<T>) => Promise<void>, options: ConsumeOptions<T>): Consumer {
    this.assertOpen('consume');
    checkCount('concurrency', options.concurrency, 1);
    // The shared queue holds messages of every handle as JSON, each handle types what it reads.
    const consumer = new MemoryConsumer(
      this.shared,
      handler as Handler,
      options as unknown as ConsumeOptions<JsonValue>,
    );
    this.consumers.push(consumer);
    this.shared.consumers.push(consumer);
    this.shared.dispatch();
    return consumer;
  }

  async counts(): Promise<QueueCounts> {
    this.assertOpen('counts');
    const { waiting, active, delayed, dead } = this.shared;
    return { waiting: waiting.size, active: active.size, delayed: delayed.size, dead: dead.size };
  }

  async deadLetters(limit?: number): Promise<Array<DeadLetter<T>>> {
    this.assertOpen('deadLetters');
    if (limit !== undefined) checkCount('limit', limit, 0);
    const letters = [...this.shared.dead.values()].reverse().slice(0, limit);
    return letters.map(({ held, reason, failedAt }) => ({
      id: held.id,
      data: JSON.parse(held.text) as T,
      reason,
      attempts: held.runs,
      failedAt,
    }));
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      await Promise.all(this.consumers.map((consumer) => consumer.close()));
      this.shared.handles--;
      if (this.shared.handles === 0) {
        this.shared.discard();
        QUEUES.delete(this.name);
      }
    })();
    return this.closing;
  }

  private assertOpen(what: string): void {
    if (this.closing) throw new Error(`${what} on the in-process queue "${this.name}" after close()`);
  }
}
