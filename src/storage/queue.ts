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
 * - Message ids and queue names are letters, digits, `-`, `_` and `.`: BullMQ refuses a `:` in both (its key
 *   separator). Both adapters refuse the same ids (INVALID_ARGUMENT, nothing of the batch added), so a caller finds
 *   out with the in-process queue rather than in production. (BullMQ's other limits on job ids, no integers and none
 *   of the names of its own keys, are the BullMQ adapter's business: it stores message id `x` as job id `m.x`.)
 * - Opening a queue name twice gives two handles on one queue, in one process as across processes: what one adds,
 *   the other's consumers get. The retry policy and the number of dead letters kept travel with each message,
 *   from the handle that added it.
 * Message data is JSON: it crosses Redis as text, and the in-process queue copies it the same way, so each
 * delivery gets the data as it was added.
 */
import { SegserveError } from '../errors.js';

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

/** Dead letters a queue keeps unless told otherwise: the most recent, older ones are dropped. */
export const DEAD_LETTERS_KEPT = 1000;

const NAME_CHARACTERS = /^[A-Za-z0-9._-]+$/;

export function checkQueueName(name: string): void {
  if (!NAME_CHARACTERS.test(name)) {
    throw new SegserveError('INVALID_ARGUMENT', {
      reason: `queue name ${JSON.stringify(name)} is not accepted: letters, digits, "-", "_" and "." are`,
    });
  }
}

/** INVALID_ARGUMENT naming the first few bad ids, before anything of the batch is added. */
export function checkMessageIds(messages: readonly QueueMessage<JsonValue>[]): void {
  const bad = messages.filter(
    (message) => typeof message.id !== 'string' || !NAME_CHARACTERS.test(message.id),
  );
  if (bad.length === 0) return;
  const shown = bad.slice(0, 5).map((message) => JSON.stringify(message.id));
  throw new SegserveError('INVALID_ARGUMENT', {
    reason:
      `message ids ${shown.join(', ')}${bad.length > 5 ? ` and ${bad.length - 5} more` : ''} are not accepted: ` +
      'letters, digits, "-", "_" and "." are',
  });
}

function isCount(value: number, least: number): boolean {
  return Number.isSafeInteger(value) && value >= least;
}

export function checkRetryPolicy(retry: RetryPolicy): void {
  if (!isCount(retry.attempts, 1) || !Number.isFinite(retry.backoffMs) || retry.backoffMs < 0) {
    throw new SegserveError('INVALID_ARGUMENT', {
      reason: `retry policy ${JSON.stringify(retry)}: attempts is a whole number of at least 1, backoffMs a number of at least 0`,
    });
  }
}

/** For the option `what`: a whole number of at least `least`. */
export function checkCount(what: string, value: number, least: number): void {
  if (!isCount(value, least)) {
    throw new SegserveError('INVALID_ARGUMENT', {
      reason: `${what} ${value} is not accepted: a whole number of at least ${least} is`,
    });
  }
}

/** A dead letter's reason: the error's message, or the text of whatever else was thrown. */
export function failureReason(error: unknown): string {
  if (error instanceof Error) return error.message || error.name;
  return String(error);
}
