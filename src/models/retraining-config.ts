/**
 * The `retraining:` block of a model's config.yaml: when enough new labels have arrived since the last dataset
 * version, or drift is detected, snapshot the model's dataset and call the hooks that start a training run
 * (src/learning/retraining reads it). A model without the block triggers nothing.
 */
import { z } from 'zod';
import { duration } from './sampling-config.js';

const WebhookSchema = z
  .object({
    /** POSTed `{event_type, client_payload}`: the body GitHub's repository_dispatch takes, plain JSON for others. */
    url: z.url({ protocol: /^https?$/, error: 'an http or https URL' }),
    /** The environment variable holding a token, sent as `Authorization: Bearer <token>` (never in the file). */
    token_env: z
      .string()
      .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'an environment variable name')
      .optional(),
    event_type: z.string().min(1).max(100).default('segserve-retrain'),
  })
  .strict();

export const RetrainingHookSchema = z.union(
  [
    z.object({ webhook: WebhookSchema }).strict(),
    /**
     * A program and its arguments, run without a shell from the model's folder, with SEGSERVE_MODEL,
     * SEGSERVE_DATASET, SEGSERVE_DATASET_VERSION, SEGSERVE_TRIGGER_ID and SEGSERVE_TRIGGER_REASON set.
     */
    z
      .object({
        command: z.array(z.string().min(1)).min(1),
        /** How long it may run before it is stopped (default 10m): a training run takes longer. */
        timeout: duration.optional(),
      })
      .strict(),
    /**
     * A job on a BullMQ queue in the Redis of SEGSERVE_REDIS_URL, for a training worker that consumes it; its
     * id is the trigger's, so a retried add never queues the same trigger twice.
     */
    z
      .object({
        job: z
          .object({
            queue: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/, 'letters, digits, ".", "_" and "-"'),
            name: z.string().min(1).max(100).default('retrain'),
          })
          .strict(),
      })
      .strict(),
  ],
  {
    error:
      'a hook is { webhook: { url, token_env?, event_type? } }, { command: [program, args...], timeout? } or { job: { queue, name? } }',
  },
);

export const RetrainingConfigSchema = z
  .object({
    /** The dataset to snapshot; default: the model's own (named after it, filled by the annotation queue). */
    dataset: z.string().min(1).max(128).optional(),
    /** Trigger once this many labels were added or changed since the dataset's last version. */
    min_new_labels: z.number().int().min(1).max(10_000_000).optional(),
    /** Trigger when drift is detected on any version of the model. */
    on_drift: z.boolean().default(false),
    /** At most one trigger per model in this period, whatever asks (a label flood, drift flapping). */
    cooldown: duration.default('1h'),
    hooks: z.array(RetrainingHookSchema).min(1).max(10),
  })
  .strict()
  .refine(
    (retraining) => retraining.min_new_labels !== undefined || retraining.on_drift,
    'give min_new_labels or on_drift: true, or nothing ever triggers',
  );

export type RetrainingConfig = z.infer<typeof RetrainingConfigSchema>;
export type RetrainingHook = z.infer<typeof RetrainingHookSchema>;
