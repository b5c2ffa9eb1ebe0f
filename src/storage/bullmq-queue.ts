/**
 * The BullMQ Queue adapter: a queue in Redis that consumers in many processes on many machines share
 * (`SEGSERVE_REDIS_URL=redis://host:6379`). Reached only through openQueue, which imports this module (and with it
 * BullMQ and ioredis) when Redis is configured.
 *
 * How the port maps onto BullMQ 6:
 * - message id `x` = job id `m.x` (BullMQ ignores an add whose job id exists); completed jobs are removed at once
 *   (`removeOnComplete`), so a completed id may be added again. The `m.` keeps message ids apart from what BullMQ
 *   names itself: a job's hash is the key `<prefix>:<queue>:<job id>`, beside the queue's own keys `...:delayed`,
 *   `...:meta`, `...:active`, so a job id `delayed` corrupts the queue (seen here: WRONGTYPE on the next count), and
 *   BullMQ refuses integer job ids (`42`), which would be its own job numbers;
 * - retries = `attempts` with BullMQ's exponential backoff (`delay * 2^(attempt-1)`, the port's rule);
 *   PermanentFailure becomes BullMQ's UnrecoverableError;
 * - dead letters = BullMQ's failed set, trimmed to the most recent `deadLetters` (`removeOnFail.count`);
 * - a consumer = a Worker with its own connections; its lock (`lockMs`) is renewed while a handler runs, and the
 *   stalled-job check of any live Worker gives the message of a dead one back to the queue once the lock expired.
 *
 * The producer's connection has no offline queue, so `add` and `counts` fail fast (STORAGE_UNAVAILABLE) while
 * Redis is down; the Workers' connections queue their commands and retry for ever (`maxRetriesPerRequest: null`,
 * what BullMQ requires of a Worker), so consumers wait out an outage and go on.
 */
import { type Job, Queue, UnrecoverableError, Worker } from 'bullmq';
import { Redis, type RedisOptions, ReplyError } from 'ioredis';
import type { ReplyMappingFromOptions } from 'ioredis/built/types.js';
import { SegserveError } from '../errors.js';
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
import { redisUrlProblem } from './settings.js';

export interface BullmqQueueOptions {
  /** `redis://[user:password@]host[:port][/db]`, or `rediss://` for TLS. */
  url: string;
  retry: RetryPolicy;
  /**
   * How long a consumer holds a message without renewing its lock (renewed every half of it while the handler
   * runs); a consumer that dies gives its messages back within about 1.5 times this. Default 30 s, BullMQ's.
   */
  lockMs?: number;
  /** Prefix of every Redis key of the queue (default `segserve`): tests isolate themselves with a random one. */
  prefix?: string;
  /** Dead letters kept, the most recent (default DEAD_LETTERS_KEPT). */
  deadLetters?: number;
}

/**
 * How often one message may be found stalled (its consumer gone with it active) before it is dead-lettered
 * instead of given back. BullMQ's default of 1 would dead-letter a message whose consumers were killed twice (two
 * rolling deploys while a long job runs); ten lets ordinary restarts and node losses pass, and still stops a
 * message that kills every consumer it reaches (an image that exhausts memory) from taking the fleet down for ever.
 */
const MAX_STALLS = 10;
/** Longest a command of `add` or `counts` waits for a connection to come up before STORAGE_UNAVAILABLE. */
const READY_WAIT_MS = 2_000;
/** Longest the producer waits for a reply on an open connection (one whose peer went silent). */
const COMMAND_TIMEOUT_MS = 5_000;
const CONNECT_TIMEOUT_MS = 3_000;
/** How ioredis refuses a command while disconnected (`enableOfflineQueue: false`). */
const OFFLINE = /Stream isn't writeable/;
/** Reconnection attempts back off up to this; a consumer resumes at most this long after Redis is back. */
const RECONNECT_MAX_MS = 2_000;
/**
 * After its handlers have finished, how long a closing consumer waits for BullMQ to record their results and close
 * its connections before cutting them. Only an outage makes it wait; the results it could not record are
 * redelivered once their locks expire (delivery is at least once).
 */
const CLOSE_GRACE_MS = 3_000;

/** `Redis at host:port`, never the credentials of the URL. */
function describeRedis(url: string): string {
  const parsed = new URL(url);
  return `Redis at ${parsed.hostname}:${parsed.port || '6379'}`;
}

/** ioredis connection options from a URL that redisUrlProblem accepted. */
function connectionOf(url: string): RedisOptions {
  const parsed = new URL(url);
  const db = parsed.pathname.replace(/^\//, '');
  return {
    host: parsed.hostname.replace(/^\[(.*)\]$/, '$1'),
    port: Number(parsed.port || 6379),
    username: decodeURIComponent(parsed.username) || undefined,
    password: decodeURIComponent(parsed.password) || undefined,
    db: db === '' ? 0 : Number(db),
    tls: parsed.protocol === 'rediss:' ? {} : undefined,
    connectTimeout: CONNECT_TIMEOUT_MS,
  };
}

/**
 * An ioredis client that always ends when told. ioredis's `disconnect()` while it waits to reconnect (Redis down)
 * cancels the reconnection and then waits for a socket close that never comes, none being open: the client never
 * reaches 'end', and BullMQ's close, which waits for 'end', never finishes (seen with ioredis 6.0 and BullMQ 6.7: a
 * consumer's close during an outage hung). Here that disconnect lets the pending attempt run and stops the retries:
 * the attempt fails and the client ends, or it connects and disconnects at once.
 * Duplicates (the blocking connection BullMQ makes for a Worker) are of this class and join the same set, so a
 * consumer can end every connection made for it.
 */
class EndableRedis extends Redis {
  private readonly ending: { now: boolean };
  /** The last connection error, for the reason of STORAGE_UNAVAILABLE. */
  lastError: string | undefined;

  constructor(
    options: Omit<RedisOptions, 'replyMapping'>,
    private readonly family: Set<EndableRedis>,
  ) {
    const ending = { now: false };
    super({
      ...options,
      retryStrategy: (times) => (ending.now ? null : Math.min(times * 200, RECONNECT_MAX_MS)),
    });
    this.ending = ending;
    family.add(this);
    this.on('connect', () => {
      if (ending.now) super.disconnect();
    });
    this.on('ready', () => {
      this.lastError = undefined;
    });
    // Without a listener, ioredis prints every failed reconnection; the errors are reported by the calls that
    // meet them (add, counts) instead.
    this.on('error', (error: Error) => {
      this.lastError = error.message;
    });
    this.on('end', () => family.delete(this));
  }

  override duplicate<Override extends Partial<RedisOptions> | undefined = undefined>(
    override?: Override,
  ): Redis<ReplyMappingFromOptions<'legacy', Override>> {
    // ioredis types a duplicate by the reply mapping its options ask for; BullMQ asks for none, so it stays legacy.
    return new EndableRedis({ ...this.options, ...override }, this.family) as unknown as Redis<
      ReplyMappingFromOptions<'legacy', Override>
    >;
  }

  override disconnect(reconnect = false): void {
    if (!reconnect) this.ending.now = true;
    if (!reconnect && this.status === 'reconnecting') return;
    super.disconnect(reconnect);
  }
}

/** Closes a client: QUIT when connected (replies first), else a disconnect. */
async function end(client: EndableRedis): Promise<void> {
  if (client.status === 'ready') {
    try {
      await client.quit();
      return;
    } catch {
      // The connection broke during the QUIT: end it as if it were down.
    }
  }
  client.disconnect();
}

/** Whether `promise` settles within `ms`. */
async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([promise.then(() => true), late]);
  } finally {
    clearTimeout(timer);
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

/**
 * The jobs of a queue: JSON data of whatever the handles on its name add. A handle's `T` is its caller's word for
 * that data, as a row type is for a SQL query.
 */
type MessageJob = Job<JsonValue, void, 'message'>;

/** The job id of a message id (see the header). */
const jobIdOf = (id: string) => `m.${id}`;
/** The message id of a job this adapter added. */
const messageIdOf = (job: MessageJob) => (job.id ?? '').replace(/^m\./, '');

interface ConsumerSetup<T extends JsonValue> {
  name: string;
  prefix: string;
  lockMs: number;
  connection: RedisOptions;
  handler: (message: DeliveredMessage<T>) => Promise<void>;
  options: ConsumeOptions<T>;
}

class BullmqConsumer<T extends JsonValue> implements Consumer {
  private readonly clients = new Set<EndableRedis>();
  private readonly connection: EndableRedis;
  private readonly worker: Worker<JsonValue, void, 'message'>;
  private running = 0;
  private idle: (() => void) | undefined;
  private closing: Promise<void> | undefined;

  constructor(private readonly setup: ConsumerSetup<T>) {
    this.connection = new EndableRedis({ ...setup.connection, maxRetriesPerRequest: null }, this.clients);
    this.worker = new Worker<JsonValue, void, 'message'>(setup.name, (job) => this.process(job), {
      connection: this.connection,
      prefix: setup.prefix,
      concurrency: setup.options.concurrency,
      lockDuration: setup.lockMs,
      // The check that finds an expired lock runs at most half a lock after it expired.
      stalledInterval: Math.ceil(setup.lockMs / 2),
      maxStalledCount: MAX_STALLS,
    });
    // Connection errors while Redis is down (the Worker reconnects by itself) and a lock lost to a stalled check
    // (the message was given to another consumer: at least once) are what the Worker reports here; without a
    // listener BullMQ prints each one.
    this.worker.on('error', () => {});
  }

  get active(): number {
    return this.running;
  }

  private async process(job: MessageJob): Promise<void> {
    this.running++;
    try {
      const message: DeliveredMessage<T> = {
        id: messageIdOf(job),
        data: job.data as T,
        attempt: job.attemptsMade + 1,
      };
      try {
        await this.setup.handler(message);
      } catch (error) {
        const permanent = error instanceof PermanentFailure;
        const willRetry = !permanent && message.attempt < (job.opts.attempts ?? 1);
        await notify(this.setup.options.onFailure, { message, error, willRetry });
        const reason = failureReason(error);
        // BullMQ gets a plain Error: a handler's error named like one BullMQ steers by (DelayedError,
        // RateLimitError, UnrecoverableError) must not change what happens to the message.
        throw permanent ? new UnrecoverableError(reason) : new Error(reason);
      }
    } finally {
      this.running--;
      if (this.running === 0) this.idle?.();
    }
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      const closed = this.worker.close();
      if (this.running > 0) {
        await new Promise<void>((resolve) => {
          this.idle = resolve;
        });
      }
      if (!(await settlesWithin(closed, CLOSE_GRACE_MS))) {
        for (const client of this.clients) client.disconnect();
        await closed;
      }
      // The Worker leaves the connection it was given open; its blocking duplicate is closed by then.
      await end(this.connection);
    })();
    return this.closing;
  }
}

export class BullmqQueue<T extends JsonValue> implements WorkQueue<T> {
  readonly kind = 'bullmq';
  private readonly store: string;
  private readonly prefix: string;
  private readonly lockMs: number;
  private readonly connection: RedisOptions;
  private readonly producer: EndableRedis;
  private readonly queue: Queue<MessageJob>;
  private readonly jobOptions: {
    attempts: number;
    backoff: { type: 'exponential'; delay: number };
    removeOnComplete: true;
    removeOnFail: { count: number };
  };
  private readonly consumers: BullmqConsumer<T>[] = [];
  private closing: Promise<void> | undefined;

  /** Connects in the background: the first `add` or `counts` reports an unreachable Redis. */
  constructor(
    readonly name: string,
    options: BullmqQueueOptions,
  ) {
    checkQueueName(name);
    checkRetryPolicy(options.retry);
    const problem = redisUrlProblem(options.url);
    if (problem) {
      throw new SegserveError('INVALID_ARGUMENT', {
        reason: `the Redis URL is not accepted: ${problem}; expected redis://[user:password@]host[:port][/db]`,
      });
    }
    this.lockMs = options.lockMs ?? 30_000;
    // Below a second, renewing the locks (every half) costs more than the work, and a brief pause of the event
    // loop loses them.
    checkCount('lockMs', this.lockMs, 1_000);
    const deadLetters = options.deadLetters ?? DEAD_LETTERS_KEPT;
    checkCount('deadLetters', deadLetters, 1);
    if (options.prefix === '') {
      throw new SegserveError('INVALID_ARGUMENT', { reason: 'the Redis key prefix is empty' });
    }
    this.prefix = options.prefix ?? 'segserve';
    this.store = `queue "${name}" (${describeRedis(options.url)})`;
    this.connection = connectionOf(options.url);
    this.jobOptions = {
      attempts: options.retry.attempts,
      backoff: { type: 'exponential', delay: options.retry.backoffMs },
      removeOnComplete: true,
      removeOnFail: { count: deadLetters },
    };
    this.producer = new EndableRedis(
      {
        ...this.connection,
        enableOfflineQueue: false,
        // A command in flight when the connection drops fails at once; `add` is idempotent, the caller retries.
        maxRetriesPerRequest: 0,
        commandTimeout: COMMAND_TIMEOUT_MS,
      },
      new Set(),
    );
    this.queue = new Queue<MessageJob>(name, {
      connection: this.producer,
      prefix: this.prefix,
      // BullMQ would otherwise wait for Redis before its first command (hanging `add` through an outage), and
      // its version check would fail for good when Redis is down at open. Readiness is awaited here, bounded.
      skipWaitingForReady: true,
      skipVersionCheck: true,
    });
    this.queue.on('error', () => {});
  }

  async add(messages: readonly QueueMessage<T>[]): Promise<void> {
    this.assertOpen('add');
    checkMessageIds(messages);
    if (messages.length === 0) return;
    // One MULTI: the batch is added whole or not at all.
    await this.call(() =>
      this.queue.addBulk(
        messages.map(({ id, data }) => ({
          name: 'message',
          data,
          opts: { ...this.jobOptions, jobId: jobIdOf(id) },
        })),
      ),
    );
  }

  consume(handler: (message: DeliveredMessage<T>) => Promise<void>, options: ConsumeOptions<T>): Consumer {
    this.assertOpen('consume');
    checkCount('concurrency', options.concurrency, 1);
    const consumer = new BullmqConsumer<T>({
      name: this.name,
      prefix: this.prefix,
      lockMs: this.lockMs,
      connection: this.connection,
      handler,
      options,
    });
    this.consumers.push(consumer);
    return consumer;
  }

  async counts(): Promise<QueueCounts> {
    this.assertOpen('counts');
    const counts = await this.call(() => this.queue.getJobCounts('waiting', 'active', 'delayed', 'failed'));
    return {
      waiting: counts.waiting ?? 0,
      active: counts.active ?? 0,
      delayed: counts.delayed ?? 0,
      dead: counts.failed ?? 0,
    };
  }

  async deadLetters(limit?: number): Promise<Array<DeadLetter<T>>> {
    this.assertOpen('deadLetters');
    if (limit !== undefined) checkCount('limit', limit, 0);
    if (limit === 0) return [];
    // The failed set is ordered by the time of failure; BullMQ reads it newest first.
    const jobs = await this.call(() => this.queue.getFailed(0, limit === undefined ? -1 : limit - 1));
    return jobs.map((job) => ({
      id: messageIdOf(job),
      data: job.data as T,
      reason: job.failedReason,
      attempts: job.attemptsMade,
      failedAt: new Date(job.finishedOn ?? 0),
    }));
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      await Promise.all(this.consumers.map((consumer) => consumer.close()));
      await this.queue.close().catch(() => {});
      await end(this.producer);
    })();
    return this.closing;
  }

  /** Runs a producer command once connected (waiting at most READY_WAIT_MS), naming an outage as such. */
  private async call<R>(command: () => Promise<R>): Promise<R> {
    await this.connected();
    try {
      return await command();
    } catch (error) {
      // A reply from Redis (out of memory, no permission) is a failure of a server that was reached; anything
      // else (refused, closed, timed out) is one of reaching it.
      if (error instanceof ReplyError) {
        throw new SegserveError(
          'STORAGE_FAILED',
          { store: this.store, reason: failureReason(error) },
          { cause: error },
        );
      }
      // ioredis refuses a command on a dead socket in words about its own options; the connection's error says
      // what happened.
      const reason = OFFLINE.test(failureReason(error))
        ? (this.producer.lastError ?? 'the connection is closed')
        : failureReason(error);
      throw new SegserveError('STORAGE_UNAVAILABLE', { store: this.store, reason }, { cause: error });
    }
  }

  private async connected(): Promise<void> {
    const redis = this.producer;
    if (redis.status === 'ready') return;
    let onReady = () => {};
    const ready = await settlesWithin(
      new Promise<void>((resolve) => {
        onReady = resolve;
        redis.once('ready', onReady);
      }),
      READY_WAIT_MS,
    );
    redis.off('ready', onReady);
    if (!ready) {
      throw new SegserveError('STORAGE_UNAVAILABLE', {
        store: this.store,
        reason: redis.lastError ?? `no connection after ${READY_WAIT_MS} ms`,
      });
    }
  }

  private assertOpen(what: string): void {
    if (this.closing) throw new Error(`${what} on the ${this.store} after close()`);
  }
}
