/**
 * The in-process Queue adapter: the default when no Redis is configured, so one `segserve serve` runs jobs by
 * itself. It keeps the port's promises (queue.ts) within the process; what it cannot keep is messages across a
 * restart, which is why the jobs feature reconciles from the database at start.
 */
import {
  type ConsumeOptions,
  type Consumer,
  type DeadLetter,
  type DeliveredMessage,
  type JsonValue,
  PermanentFailure,
  type QueueCounts,
  type QueueMessage,
  type RetryPolicy,
  type WorkQueue,
} from './queue.js';

/** Dead letters kept; older ones are forgotten (their reasons are also in the feature's own records). */
const DEAD_LETTERS_KEPT = 1_000;

interface Entry<T extends JsonValue> {
  message: QueueMessage<T>;
  attempt: number;
}

interface Subscription<T extends JsonValue> {
  handler: (message: DeliveredMessage<T>) => Promise<void>;
  options: ConsumeOptions<T>;
  active: number;
  closed: boolean;
  idle: Array<() => void>;
}

function reasonOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

export class MemoryQueue<T extends JsonValue> implements WorkQueue<T> {
  readonly kind = 'in-process' as const;
  readonly #retry: RetryPolicy;
  readonly #waiting: Array<Entry<T>> = [];
  /** Ids waiting, delayed or active: what `add` does not add again. */
  readonly #held = new Set<string>();
  readonly #delayed = new Map<string, NodeJS.Timeout>();
  readonly #dead: Array<DeadLetter<T>> = [];
  readonly #subscriptions: Array<Subscription<T>> = [];
  #active = 0;
  #closed = false;

  constructor(
    readonly name: string,
    retry: RetryPolicy,
  ) {
    this.#retry = retry;
  }

  async add(messages: readonly QueueMessage<T>[]): Promise<void> {
    if (this.#closed) throw new Error(`queue ${this.name} is closed`);
    for (const message of messages) {
      if (this.#held.has(message.id) || this.#dead.some((dead) => dead.id === message.id)) continue;
      this.#held.add(message.id);
      this.#waiting.push({ message: { id: message.id, data: structuredClone(message.data) }, attempt: 1 });
    }
    this.#dispatch();
  }

  consume(handler: (message: DeliveredMessage<T>) => Promise<void>, options: ConsumeOptions<T>): Consumer {
    const subscription: Subscription<T> = { handler, options, active: 0, closed: false, idle: [] };
    this.#subscriptions.push(subscription);
    this.#dispatch();
    return {
      get active() {
        return subscription.active;
      },
      close: () => {
        subscription.closed = true;
        if (subscription.active === 0) return Promise.resolve();
        return new Promise<void>((resolve) => subscription.idle.push(resolve));
      },
    };
  }

  async counts(): Promise<QueueCounts> {
    return {
      waiting: this.#waiting.length,
      active: this.#active,
      delayed: this.#delayed.size,
      dead: this.#dead.length,
    };
  }

  async deadLetters(limit = 100): Promise<Array<DeadLetter<T>>> {
    return this.#dead.slice(-limit).reverse();
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const timer of this.#delayed.values()) clearTimeout(timer);
    this.#delayed.clear();
    await Promise.all(
      this.#subscriptions.map(
        (subscription) =>
          new Promise<void>((resolve) => {
            subscription.closed = true;
            if (subscription.active === 0) resolve();
            else subscription.idle.push(resolve);
          }),
      ),
    );
  }

  /** Hands waiting messages to consumers with room, oldest first, spreading them over the consumers. */
  #dispatch(): void {
    for (;;) {
      if (this.#waiting.length === 0) return;
      const open = this.#subscriptions.filter((s) => !s.closed && s.active < s.options.concurrency);
      if (open.length === 0) return;
      const subscription = open.reduce((a, b) => (b.active < a.active ? b : a));
      const entry = this.#waiting.shift() as Entry<T>;
      void this.#run(subscription, entry);
    }
  }

  async #run(subscription: Subscription<T>, entry: Entry<T>): Promise<void> {
    subscription.active++;
    this.#active++;
    const delivered: DeliveredMessage<T> = {
      id: entry.message.id,
      data: structuredClone(entry.message.data),
      attempt: entry.attempt,
    };
    try {
      await subscription.handler(delivered);
      this.#held.delete(entry.message.id);
    } catch (error) {
      const willRetry = !(error instanceof PermanentFailure) && entry.attempt < this.#retry.attempts;
      try {
        await subscription.options.onFailure?.({ message: delivered, error, willRetry });
      } catch {
        // The notice is the feature's bookkeeping; the message's fate does not depend on it.
      }
      if (willRetry) this.#delay(entry);
      else {
        this.#held.delete(entry.message.id);
        this.#dead.push({
          ...entry.message,
          reason: reasonOf(error),
          attempts: entry.attempt,
          failedAt: new Date(),
        });
        if (this.#dead.length > DEAD_LETTERS_KEPT) this.#dead.shift();
      }
    } finally {
      subscription.active--;
      this.#active--;
      if (subscription.closed && subscription.active === 0)
        for (const resolve of subscription.idle.splice(0)) resolve();
      this.#dispatch();
    }
  }

  #delay(entry: Entry<T>): void {
    if (this.#closed) return;
    const wait = this.#retry.backoffMs * 2 ** (entry.attempt - 1);
    const timer = setTimeout(() => {
      this.#delayed.delete(entry.message.id);
      this.#waiting.push({ message: entry.message, attempt: entry.attempt + 1 });
      this.#dispatch();
    }, wait);
    // A retry due later never keeps a process alive; the feature's records still say the input is pending.
    timer.unref();
    this.#delayed.set(entry.message.id, timer);
  }
}
