/**
 * A closed-loop HTTP load generator and a /health probe on node:http with keep-alive agents (fetch costs several
 * ms more per request here, which would be billed to the server under test). Used by the overload tests and by
 * `npm run bench`.
 *
 * Clients behave like well-mannered production callers: a client that gets 503 waits the Retry-After it was
 * given (plus up to 25 % jitter, so refused clients do not come back in one wave) before its next request;
 * without it the load would measure how fast the generator can spin on refusals, not the server.
 */

import { Agent, request as httpRequest } from 'node:http';
import { Worker } from 'node:worker_threads';
import { percentiles } from '../../bench/stats.js';

export interface Outcome {
  /** HTTP status, or 0 when no answer came (socket error, reset, timeout). */
  status: number;
  /** `error.code` of an error answer. */
  code?: string;
  /** The Retry-After header as sent. */
  retryAfter?: string;
  /** Why no answer came (status 0). */
  error?: string;
  /** performance.now() when the request was sent and when its answer (or error) was complete. */
  sentAt: number;
  doneAt: number;
  /** The body of a 200 answer, when asked for. */
  body?: Buffer;
}

export interface PostOptions {
  contentType?: string;
  /** Give up (status 0, error 'timeout') when the answer is not complete within this many ms. */
  timeoutMs: number;
  keepBody?: boolean;
}

/** One POST of `body` to `url`; never rejects: a failure is an Outcome with status 0. */
export function post(agent: Agent, url: URL, body: Buffer, options: PostOptions): Promise<Outcome> {
  return new Promise((resolve) => {
    const sentAt = performance.now();
    let settled = false;
    const settle = (outcome: Omit<Outcome, 'sentAt' | 'doneAt'>) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve({ ...outcome, sentAt, doneAt: performance.now() });
    };
    const request = httpRequest(
      url,
      {
        method: 'POST',
        agent,
        headers: { 'content-type': options.contentType ?? 'image/jpeg', 'content-length': body.length },
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('error', (error) => settle({ status: 0, error: `response: ${error.message}` }));
        response.on('end', () => {
          const status = response.statusCode ?? 0;
          const retryAfter = response.headers['retry-after'];
          if (status === 200) {
            settle({ status, body: options.keepBody ? Buffer.concat(chunks) : undefined });
            return;
          }
          let code: string | undefined;
          try {
            code = (JSON.parse(Buffer.concat(chunks).toString()) as { error?: { code?: string } }).error
              ?.code;
          } catch {
            code = undefined;
          }
          settle({ status, code, retryAfter });
        });
      },
    );
    const timer = setTimeout(() => {
      settle({ status: 0, error: 'timeout' });
      request.destroy();
    }, options.timeoutMs);
    request.on('error', (error: NodeJS.ErrnoException) =>
      settle({ status: 0, error: error.code ?? error.message }),
    );
    request.end(body);
  });
}

export interface LoadOptions {
  url: URL;
  /** Request bodies, sent in turn (each client starts at a different one). */
  bodies: Buffer[];
  concurrency: number;
  /** Clients start no new request after this long. */
  durationMs: number;
  /** Each client stops after this many requests; default unlimited. */
  requestsPerClient?: number;
  /** Per request; default 30 s. */
  timeoutMs?: number;
  /** Clients also stop starting requests once this returns true (checked before each request). */
  stop?: () => boolean;
  keepBody?: boolean;
  /** Called with each outcome as it completes. */
  onOutcome?: (outcome: Outcome) => void;
}

export interface LoadResult {
  outcomes: Outcome[];
  startedAt: number;
  durationMs: number;
  /** performance.now() when the last client finished. */
  endedAt: number;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Seconds of a Retry-After header given as delta-seconds, or undefined when it is not a number. */
export function retryAfterSeconds(header: string | undefined): number | undefined {
  if (header === undefined || !/^\d+$/.test(header.trim())) return undefined;
  return Number(header);
}

/**
 * `concurrency` clients, each posting its next body as soon as the previous answer is complete, for
 * `durationMs`. Bounded: every request ends by its timeout, and no client starts one after the deadline.
 */
export async function closedLoop(options: LoadOptions): Promise<LoadResult> {
  const agent = new Agent({ keepAlive: true, maxSockets: options.concurrency });
  const outcomes: Outcome[] = [];
  const startedAt = performance.now();
  const deadline = startedAt + options.durationMs;
  const running = () => performance.now() < deadline && !options.stop?.();
  const client = async (index: number) => {
    const last = index + (options.requestsPerClient ?? Number.POSITIVE_INFINITY);
    for (let i = index; i < last && running(); i++) {
      const body = options.bodies[i % options.bodies.length];
      const outcome = await post(agent, options.url, body, {
        timeoutMs: options.timeoutMs ?? 30_000,
        keepBody: options.keepBody,
      });
      outcomes.push(outcome);
      options.onOutcome?.(outcome);
      let pause = 0;
      if (outcome.status === 503) {
        pause = (retryAfterSeconds(outcome.retryAfter) ?? 1) * 1000 * (1 + Math.random() * 0.25);
      } else if (outcome.status === 0) {
        pause = 100; // no answer: do not spin on a dead connection
      }
      if (pause > 0) await sleep(Math.min(pause, Math.max(0, deadline - performance.now())));
    }
  };
  await Promise.all(Array.from({ length: options.concurrency }, (_, i) => client(i)));
  agent.destroy();
  return { outcomes, startedAt, durationMs: options.durationMs, endedAt: performance.now() };
}

/** 200 answers completed inside the load window, per second of that window. */
export function servedPerSecond(result: LoadResult): number {
  const end = result.startedAt + result.durationMs;
  return (
    result.outcomes.filter((o) => o.status === 200 && o.doneAt <= end).length / (result.durationMs / 1000)
  );
}

export interface HealthProbe {
  /** Round-trip ms of each probe that got an answer. */
  latencies: number[];
  /** Status of each answer (0: no answer). */
  statuses: number[];
  /** Stops probing; resolves when the last probe has finished. */
  stop(): Promise<void>;
}

/**
 * The probe loop, run in a worker thread of its own: a load balancer's health check is another machine, so its
 * timings must not include the event-loop lag of the 300 clients this test process also drives (measured in
 * the same thread, that lag alone added tens of milliseconds to the p99 of an unchanged server).
 */
const PROBE_WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const { Agent, request } = require('node:http');
const { url, everyMs, timeoutMs } = workerData;
const agent = new Agent({ keepAlive: true, maxSockets: 1 });
const latencies = [];
const statuses = [];
let stopped = false;
parentPort.on('message', () => { stopped = true; });
(async () => {
  while (!stopped) {
    const status = await new Promise((resolve) => {
      const started = performance.now();
      const req = request(url, { agent }, (response) => {
        response.resume();
        response.on('end', () => { latencies.push(performance.now() - started); resolve(response.statusCode || 0); });
        response.on('error', () => resolve(0));
      });
      req.setTimeout(timeoutMs, () => req.destroy(new Error('timeout')));
      req.on('error', () => resolve(0));
      req.end();
    });
    statuses.push(status);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
  agent.destroy();
  parentPort.postMessage({ latencies, statuses });
})();
`;

/**
 * GET `/health` every `everyMs` (measured from the end of the previous probe) over one keep-alive connection,
 * as a load balancer's health check would, until stopped; from its own thread (see PROBE_WORKER).
 */
export function probeHealth(base: string, everyMs: number, timeoutMs = 5000): HealthProbe {
  const url = new URL('/health', base).href;
  const worker = new Worker(PROBE_WORKER, { eval: true, workerData: { url, everyMs, timeoutMs } });
  const latencies: number[] = [];
  const statuses: number[] = [];
  const done = new Promise<void>((resolve, reject) => {
    worker.once('message', (result: { latencies: number[]; statuses: number[] }) => {
      latencies.push(...result.latencies);
      statuses.push(...result.statuses);
      resolve();
    });
    worker.once('error', reject);
  });
  return {
    latencies,
    statuses,
    async stop() {
      worker.postMessage('stop');
      await done;
      await worker.terminate();
    },
  };
}

/** p50 and p99 of a list of milliseconds (NaN when empty). */
export function p50p99(samples: number[]): { p50: number; p99: number } {
  const { p50, p99 } = percentiles(samples);
  return { p50, p99 };
}

export interface Tally {
  sent: number;
  ok: number;
  /** 503 answers by error code. */
  refused: Record<string, number>;
  /** Answers other than 200 and 503, by status. */
  other: Record<number, number>;
  /** Requests without an HTTP answer, by reason. */
  errors: Record<string, number>;
  /** 503 answers whose Retry-After is missing, not a number, or below 1 second. */
  badRetryAfter: number;
}

export function tally(outcomes: Outcome[]): Tally {
  const result: Tally = {
    sent: outcomes.length,
    ok: 0,
    refused: {},
    other: {},
    errors: {},
    badRetryAfter: 0,
  };
  for (const o of outcomes) {
    if (o.status === 200) result.ok++;
    else if (o.status === 503) {
      const code = o.code ?? '(no code)';
      result.refused[code] = (result.refused[code] ?? 0) + 1;
      if ((retryAfterSeconds(o.retryAfter) ?? 0) < 1) result.badRetryAfter++;
    } else if (o.status === 0) {
      const reason = o.error ?? 'unknown';
      result.errors[reason] = (result.errors[reason] ?? 0) + 1;
    } else result.other[o.status] = (result.other[o.status] ?? 0) + 1;
  }
  return result;
}

export const sum = (counts: Record<string | number, number>): number =>
  Object.values(counts).reduce((a, b) => a + b, 0);
