/**
 * Which queue engine carries work: Redis (BullMQ) when `--redis-url` / `SEGSERVE_REDIS_URL` is set, so many
 * processes on many machines share one queue; else the in-process queue. BullMQ is imported only when
 * configured: a process without Redis never pays for loading it.
 */
import { SegserveError } from '../errors.js';
import { MemoryQueue } from './memory-queue.js';
import type { JsonValue, RetryPolicy, WorkQueue } from './queue.js';

export type QueueSettings = { kind: 'in-process' } | { kind: 'redis'; url: string };

export const QUEUE_SETTING = {
  flag: '--redis-url',
  env: 'SEGSERVE_REDIS_URL',
  value: '<url>',
  description:
    'redis://[user:password@]host:6379[/db] (or rediss://) for the job queue shared with `segserve worker` processes (default: a queue in this process)',
} as const;

export interface QueueOptions {
  retry: RetryPolicy;
  /** BullMQ: how long a consumer holds a message before another may take it (a killed consumer's come back). */
  lockMs?: number;
  /** BullMQ: a key prefix, so several installations (or tests) share one Redis. */
  prefix?: string;
}

/** The flag wins over the variable; empty counts as unset. A bad URL is refused, never echoed (it may hold a password). */
export function resolveQueueSettings(
  flag: string | undefined,
  env: Readonly<Record<string, string | undefined>>,
): QueueSettings {
  const given = flag ?? env[QUEUE_SETTING.env];
  const source = flag !== undefined ? QUEUE_SETTING.flag : QUEUE_SETTING.env;
  if (given === undefined || given.trim() === '') return { kind: 'in-process' };
  let url: URL;
  try {
    url = new URL(given.trim());
  } catch {
    throw new SegserveError('INVALID_ARGUMENT', { reason: `${source} does not parse as a URL` });
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') {
    throw new SegserveError('INVALID_ARGUMENT', {
      reason: `${source} must be a redis:// or rediss:// URL, not ${url.protocol.slice(0, -1)}:`,
    });
  }
  if (url.hostname === '') throw new SegserveError('INVALID_ARGUMENT', { reason: `${source} names no host` });
  return { kind: 'redis', url: url.href };
}

export async function openQueue<T extends JsonValue>(
  name: string,
  settings: QueueSettings,
  options: QueueOptions,
): Promise<WorkQueue<T>> {
  if (settings.kind === 'in-process') return new MemoryQueue<T>(name, options.retry);
  const { BullmqQueue } = await import('./bullmq-queue.js');
  return BullmqQueue.open<T>(name, settings.url, options);
}
