/**
 * `segserve train unet --from-queue <queue>`: a training worker for the retraining trigger's job hook
 * (`hooks: [{ job: { queue } }]`, src/learning/retraining/hooks.ts), which adds a BullMQ job carrying the trigger,
 * the model and the dataset version to a queue in the Redis of SEGSERVE_REDIS_URL. This takes those jobs one at a
 * time and runs `segserve train` on each (the model and dataset version from the job, every other option from the
 * command line), until SIGTERM or SIGINT. A run that fails fails its job, which is not retried: the same data
 * would fail the same way, and the trigger can be fired again. The job's id is the trigger's, so a trigger is
 * trained once however often its hook was retried.
 */
import { z } from 'zod';
import { SegserveError } from '../errors.js';
import { redisUrlProblem } from '../storage/index.js';

/** The job hook's payload (hooks.ts `payloadOf`). */
const RetrainJobSchema = z.object({
  trigger_id: z.string(),
  model: z.string().min(1),
  dataset: z.string().min(1),
  dataset_version: z.string().min(1),
  reason: z.string(),
});
export type RetrainJob = z.infer<typeof RetrainJobSchema>;

/** Waits for SIGTERM or SIGINT. */
function stopped(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    for (const signal of ['SIGTERM', 'SIGINT'] as const) process.once(signal, () => resolve(signal));
  });
}

export async function trainFromQueue(
  queue: string,
  redisUrl: string | undefined,
  train: (job: RetrainJob) => Promise<void>,
): Promise<void> {
  const url = redisUrl ?? process.env.SEGSERVE_REDIS_URL;
  if (!url) {
    throw new SegserveError('INVALID_ARGUMENT', {
      reason: '--from-queue needs the Redis of the job hook: --redis-url or SEGSERVE_REDIS_URL',
    });
  }
  const problem = redisUrlProblem(url);
  if (problem) throw new SegserveError('INVALID_ARGUMENT', { reason: `--redis-url: ${problem}` });
  const { Worker } = await import('bullmq');
  const worker = new Worker(
    queue,
    async (job) => {
      const parsed = RetrainJobSchema.safeParse(job.data);
      if (!parsed.success)
        throw new Error(`job ${job.id} is not a retraining trigger: ${parsed.error.message}`);
      process.stdout.write(
        `job ${job.id}: ${parsed.data.model} on ${parsed.data.dataset}@${parsed.data.dataset_version} (${parsed.data.reason})\n`,
      );
      await train(parsed.data);
    },
    // One run at a time: a training run takes the machine's cores. Redis going away and coming back is BullMQ's
    // to ride out (it reconnects); a run in progress keeps its lock renewed meanwhile.
    { connection: { url, maxRetriesPerRequest: null }, concurrency: 1 },
  );
  worker.on('failed', (job, error) => process.stderr.write(`job ${job?.id} failed: ${error.message}\n`));
  worker.on('error', (error) => process.stderr.write(`queue ${queue}: ${error.message}\n`));
  await worker.waitUntilReady();
  process.stdout.write(`waiting for retraining jobs on ${queue}\n`);
  await stopped();
  // Waits for a run in progress, which the same signal has stopped (train.ts): its job fails and is kept.
  await worker.close();
}
