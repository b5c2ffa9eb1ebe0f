/**
 * The Queue port: work messages delivered at least once to consumers, in this process (the in-process adapter,
 * the default) or through Redis (BullMQ), where consumers in many processes on many machines share one queue.
 * Every adapter passes test/storage/queue.contract.ts.
 *
 * Semantics every adapter keeps:
 * - `add` is idempotent per message id: an id that is waiting, delayed, active or dead-lettered is not added
 *   again (a caller that re-adds "everything still pending" after a crash duplicates nothing). Once a message
 *   completed, its id may be added again.
 * - A handler that resolves completes its message. One that throws is retried after a backoff
 *   (`backoffMs * 2^(attempt-1)`) until it has run `attempts` times; then the message is dead-lettered with the
 *   error's message as its reason. A handler that throws `PermanentFailure` dead-letters the message at once.
 * - A consumer runs at most `concurrency` handlers at once. `close()` takes no new message and resolves once the
 *   handlers running have finished (the graceful drain of SIGTERM).
 * - Delivery is at least once: a consumer that dies with messages active (a process killed) gives them back to
 *   the queue (BullMQ: once their lock expires), so handlers must be idempotent.
 * - A queue that cannot be reached (Redis down) fails `add` and `counts` with STORAGE_UNAVAILABLE; consumers
 *   wait and resume when it is back.
 * Message data is JSON: it crosses Redis as text.
 */

export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

export interface QueueMessage<T extends JsonValue> {
  /** Unique per unit of work; see the idempotence of `add`. Letters, digits, `-`, `_` and `.`. */
  id: string;
  data: T;
}

export interface DeliveredMessage<T extends JsonValue> extends QueueMessage<T> {
  /** 1 on the first delivery, 2 on the first retry, ... */
  attempt: number;
}

export interface RetryPolicy {
  /** Runs of a message's handler before it is dead-lettered, at least 1. */
  attempts: number;
  /** Wait before the first retry; each further retry waits twice as long. */
  backoffMs: number;
}

export interface DeadLetter<T extends JsonValue> extends QueueMessage<T> {
  reason: string;
  attempts: number;
  failedAt: Date;
}

export interface QueueCounts {
  waiting: number;
  active: number;
  /** Waiting out a retry backoff. */
  delayed: number;
  /** Dead letters held. */
  dead: number;
}

/** What a consumer tells about each failed run, so the feature can count retries and record dead letters. */
export interface FailureNotice<T extends JsonValue> {
  message: DeliveredMessage<T>;
  error: unknown;
  /** False when this failure dead-lettered the message. */
  willRetry: boolean;
}

export interface ConsumeOptions<T extends JsonValue> {
  concurrency: number;
  /** Called after each failed run, before the retry is scheduled or the message dead-lettered. */
  onFailure?: (notice: FailureNotice<T>) => void | Promise<void>;
}

export interface Consumer {
  /** Handlers running now. */
  readonly active: number;
  /** Takes no new message, then resolves once the running handlers have finished. */
  close(): Promise<void>;
}

export interface WorkQueue<T extends JsonValue> {
  readonly kind: 'in-process' | 'bullmq';
  readonly name: string;
  add(messages: readonly QueueMessage<T>[]): Promise<void>;
  consume(handler: (message: DeliveredMessage<T>) => Promise<void>, options: ConsumeOptions<T>): Consumer;
  counts(): Promise<QueueCounts>;
  /** The most recent dead letters first, at most `limit`. */
  deadLetters(limit?: number): Promise<Array<DeadLetter<T>>>;
  /** Closes consumers (draining them) and connections; the queue is unusable afterwards. */
  close(): Promise<void>;
}

/** Thrown by a handler for a failure that no retry can fix: the message is dead-lettered at once. */
export class PermanentFailure extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'PermanentFailure';
  }
}
