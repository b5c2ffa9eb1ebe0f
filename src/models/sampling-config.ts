/**
 * The `sampling:` block of a model's config.yaml: which predictions active learning keeps for labelling
 * (src/learning/sampler reads it; the README's "Model repository" section documents each key). A model without
 * the block samples nothing.
 */
import { z } from 'zod';
import type { ConfigIssue } from './config.js';

const UNIT_MS = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
const DURATION = /^([1-9][0-9]{0,6})([smhd])$/;
const MAX_DURATION_MS = 30 * UNIT_MS.d;
const DURATION_RULE = 'a duration from 1s to 30d, such as 30s, 30m, 1h or 1d';

/** Milliseconds of a duration such as `30m`; undefined when the text is not one (or exceeds 30 days). */
export function parseDuration(text: string): number | undefined {
  const match = DURATION.exec(text);
  if (!match) return undefined;
  const ms = Number(match[1]) * UNIT_MS[match[2] as keyof typeof UNIT_MS];
  return ms <= MAX_DURATION_MS ? ms : undefined;
}

/** Kept as written (`1h`), so what a user reads in the file is what the config holds. */
export const duration = z.string().refine((text) => parseDuration(text) !== undefined, DURATION_RULE);

/**
 * A quota is a ring of the last N keep times (8 bytes each, see learning/sampler/quota.ts): a million per day
 * is 8 MB per model version, as far as it is sensible to go.
 */
const quotaLimit = z.number().int().min(1).max(1_000_000);

export const SamplingConfigSchema = z
  .object({
    /** Keep when the uncertainty score (learning/sampler/uncertainty.ts) is at least `min`. */
    entropy: z
      .object({ min: z.number().min(0).max(1) })
      .strict()
      .optional(),
    /** Keep the k most uncertain of each window (decided as predictions stream in; see learning/sampler/top-k.ts). */
    top_k: z
      .object({ k: z.number().int().min(1).max(10_000), per: duration })
      .strict()
      .optional(),
    /** Keep each prediction with this probability, whatever its uncertainty: an unbiased sample for evaluation. */
    random: z
      .object({ fraction: z.number().gt(0).max(1) })
      .strict()
      .optional(),
    /** Consider only predictions that contain one of these classes (names checked against the model's labels). */
    classes: z.array(z.string().min(1)).min(1).optional(),
    /** Refuse a prediction whose input's perceptual hash is within `max_hamming` bits of one of the last `recent` kept. */
    dedupe: z
      .object({
        // Beyond 32 of 64 bits two hashes are less alike than unrelated ones.
        max_hamming: z.number().int().min(0).max(32),
        recent: z.number().int().min(1).max(100_000).default(1_000),
      })
      .strict()
      .optional(),
    /** After a `drift.detected` event, keep every prediction that passes `classes` for this long. */
    drift_capture: z.object({ for: duration }).strict().optional(),
    /** At most this many kept in any sliding minute, hour and day, all strategies together. */
    quota: z
      .object({
        per_minute: quotaLimit.optional(),
        per_hour: quotaLimit.optional(),
        per_day: quotaLimit.optional(),
      })
      .strict()
      .refine(
        (quota) => Object.keys(quota).length > 0,
        'give at least one of per_minute, per_hour and per_day, or leave quota out',
      )
      .optional(),
  })
  .strict()
  .refine(
    (sampling) =>
      sampling.entropy !== undefined ||
      sampling.top_k !== undefined ||
      sampling.random !== undefined ||
      sampling.drift_capture !== undefined,
    'give at least one strategy (entropy, top_k, random or drift_capture): without one nothing is kept',
  );

export type SamplingConfig = z.infer<typeof SamplingConfigSchema>;

/** How many class names an unknown-class message lists before it stops. */
const LISTED_CLASSES = 20;

/**
 * Issues for `sampling.classes` entries that name no class of the model. `classes` is the model's answer
 * classes (models/class-labels.ts), the names that predictions carry and the sampler compares.
 */
export function samplingClassIssues(
  sampling: SamplingConfig | undefined,
  classes: readonly string[],
): ConfigIssue[] {
  if (!sampling?.classes) return [];
  const known = new Set(classes);
  const listed =
    classes.length > LISTED_CLASSES
      ? `${classes.slice(0, LISTED_CLASSES).join(', ')}, ... (${classes.length} in all)`
      : classes.join(', ');
  return sampling.classes.flatMap((name, index) =>
    known.has(name)
      ? []
      : [
          {
            path: `sampling.classes.${index}`,
            message: `unknown class "${name}"; the model's classes: ${listed}`,
          },
        ],
  );
}
