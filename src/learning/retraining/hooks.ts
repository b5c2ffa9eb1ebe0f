/**
 * The hooks a retraining trigger calls once its dataset version exists: a webhook (retried with backoff, since
 * a CI service's API is sometimes briefly down), a job on a BullMQ queue (retried the same way; the job's id is
 * the trigger's, so a retry never queues it twice) or a command (run once: a command that failed half-way may
 * not be safe to run again). Each answers an outcome that the trigger's record keeps.
 */
import { spawn } from 'node:child_process';
import type { RetrainingHook } from '../../models/retraining-config.js';
import { parseDuration } from '../../models/sampling-config.js';
import type { HookOutcomeJson } from '../wire-types.js';

export interface TriggerContext {
  triggerId: string;
  model: string;
  dataset: string;
  datasetVersion: string;
  reason: string;
  /** The model's folder: where commands run. */
  modelDir: string;
}

export type HookOutcome = HookOutcomeJson;

export interface HookOptions {
  /** Webhook and job attempts in all (default 5), waiting 1, 2, 4, 8 s x `backoffMs / 1000` between them. */
  attempts?: number;
  backoffMs?: number;
  /** Per webhook attempt (default 10 s) and per command (default 10 min; a command hook's `timeout` wins). */
  webhookTimeoutMs?: number;
  commandTimeoutMs?: number;
  env?: NodeJS.ProcessEnv;
}

const STDERR_KEPT = 2000;

export async function runHook(
  hook: RetrainingHook,
  context: TriggerContext,
  options: HookOptions = {},
): Promise<HookOutcome> {
  if ('webhook' in hook) return callWebhook(hook.webhook, context, options);
  if ('job' in hook) return addJob(hook.job, context, options);
  return runCommand(hook.command, context, {
    ...options,
    commandTimeoutMs: hook.timeout === undefined ? options.commandTimeoutMs : parseDuration(hook.timeout),
  });
}

/** What every hook hands on: the trigger and the dataset version to train on. */
function payloadOf(context: TriggerContext) {
  return {
    trigger_id: context.triggerId,
    model: context.model,
    dataset: context.dataset,
    dataset_version: context.datasetVersion,
    reason: context.reason,
  };
}

/** Runs `attempt` up to `options.attempts` times, waiting 1, 2, 4... x backoffMs between, while it says retry. */
async function withRetries(
  options: HookOptions,
  attempt: (n: number) => Promise<{ outcome: HookOutcome; retry: boolean }>,
): Promise<HookOutcome> {
  const attempts = options.attempts ?? 5;
  const backoffMs = options.backoffMs ?? 1000;
  for (let n = 1; ; n++) {
    const { outcome, retry } = await attempt(n);
    if (outcome.ok || !retry || n >= attempts) return outcome;
    await new Promise((resolve) => setTimeout(resolve, backoffMs * 2 ** (n - 1)));
  }
}

async function addJob(
  job: Extract<RetrainingHook, { job: unknown }>['job'],
  context: TriggerContext,
  options: HookOptions,
): Promise<HookOutcome> {
  const target = job.queue;
  const url = (options.env ?? process.env).SEGSERVE_REDIS_URL;
  if (!url) {
    return {
      kind: 'job',
      target,
      ok: false,
      attempts: 0,
      error: 'SEGSERVE_REDIS_URL is not set: a job hook needs Redis',
    };
  }
  // Loaded on first use: a server whose hooks queue nothing never loads BullMQ and its Redis client.
  const { Queue } = await import('bullmq');
  return withRetries(options, async (n) => {
    // Fails fast while Redis is down (no offline queue, no reconnecting), so the backoff here sets the pace.
    const queue = new Queue(job.queue, {
      connection: {
        url,
        enableOfflineQueue: false,
        maxRetriesPerRequest: 1,
        connectTimeout: 5000,
        retryStrategy: () => null,
      },
    });
    queue.on('error', () => {});
    try {
      await queue.waitUntilReady();
      await queue.add(job.name, payloadOf(context), { jobId: context.triggerId });
      return { outcome: { kind: 'job', target, ok: true, attempts: n }, retry: false };
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      return { outcome: { kind: 'job', target, ok: false, attempts: n, error: message }, retry: true };
    } finally {
      await queue.close().catch(() => {});
    }
  });
}

/** Server errors, rate limiting and network failures are retried; any other answer is final. */
function retryable(status: number | undefined): boolean {
  return status === undefined || status === 408 || status === 429 || status >= 500;
}

async function callWebhook(
  webhook: Extract<RetrainingHook, { webhook: unknown }>['webhook'],
  context: TriggerContext,
  options: HookOptions,
): Promise<HookOutcome> {
  const url = new URL(webhook.url);
  const target = `${url.origin}${url.pathname}`;
  const env = options.env ?? process.env;
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    accept: 'application/json',
    'user-agent': 'segserve-retraining',
  };
  if (webhook.token_env !== undefined) {
    const token = env[webhook.token_env];
    if (!token) {
      return { kind: 'webhook', target, ok: false, attempts: 0, error: `${webhook.token_env} is not set` };
    }
    headers.authorization = `Bearer ${token}`;
  }
  const body = JSON.stringify({ event_type: webhook.event_type, client_payload: payloadOf(context) });
  return withRetries(options, async (attempt) => {
    let status: number | undefined;
    let error: string;
    try {
      const answer = await fetch(webhook.url, {
        method: 'POST',
        headers,
        body,
        signal: AbortSignal.timeout(options.webhookTimeoutMs ?? 10_000),
      });
      status = answer.status;
      await answer.body?.cancel();
      if (answer.ok)
        return { outcome: { kind: 'webhook', target, ok: true, attempts: attempt, status }, retry: false };
      error = `answered ${status} ${answer.statusText}`;
    } catch (caught) {
      error = caught instanceof Error ? caught.message : String(caught);
    }
    return {
      outcome: { kind: 'webhook', target, ok: false, attempts: attempt, status, error },
      retry: retryable(status),
    };
  });
}

function runCommand(
  argv: readonly string[],
  context: TriggerContext,
  options: HookOptions,
): Promise<HookOutcome> {
  const [program, ...args] = argv;
  return new Promise((resolve) => {
    let stderr = '';
    const child = spawn(program, args, {
      cwd: context.modelDir,
      env: {
        ...(options.env ?? process.env),
        SEGSERVE_MODEL: context.model,
        SEGSERVE_DATASET: context.dataset,
        SEGSERVE_DATASET_VERSION: context.datasetVersion,
        SEGSERVE_TRIGGER_ID: context.triggerId,
        SEGSERVE_TRIGGER_REASON: context.reason,
      },
      stdio: ['ignore', 'ignore', 'pipe'],
      timeout: options.commandTimeoutMs ?? 600_000,
    });
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString()).slice(-STDERR_KEPT);
    });
    const done = (outcome: Omit<HookOutcome, 'kind' | 'target' | 'attempts'>) =>
      resolve({ kind: 'command', target: program, attempts: 1, ...outcome });
    child.on('error', (error) => done({ ok: false, error: error.message }));
    child.on('close', (code, signal) => {
      if (code === 0) done({ ok: true, status: 0 });
      else
        done({
          ok: false,
          status: code ?? undefined,
          error: `${signal ? `ended by ${signal}` : `exited with ${code}`}${stderr ? `: ${stderr.trim()}` : ''}`,
        });
    });
  });
}
