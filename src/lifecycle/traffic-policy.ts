/**
 * A traffic policy as the admin API takes it (TrafficPolicyJson) and as the serving core reads it
 * (TrafficPolicy): its form, checked field by field with every problem reported at once by its path; what it
 * names, checked against what serves now (every model exists, every version serves, every alias is set, no
 * shadow is a served variant); and the canary shorthand expanded into its two variants.
 */
import { z } from 'zod';
import { SegserveError } from '../errors.js';
import { ALIAS_NAME, MODEL_NAME, MODEL_NAME_RULE } from '../models/index.js';
import type { InferenceService } from '../serving/service.js';
import type { TrafficPolicy, TrafficVariant, VariantRef } from '../serving/traffic.js';
import type { TrafficPolicyJson } from './wire-types.js';

/** Endpoint names follow model names' rule, so any model name can also be an endpoint's. */
export const ENDPOINT_NAME = MODEL_NAME;

/** Variant names become metric label values and log fields: short, plain. */
export const VARIANT_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** An HTTP header name (RFC 9110 token), matched case-insensitively and stored in lower case. */
const HEADER_NAME = /^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,64}$/;

export const MAX_VARIANTS = 16;
export const MAX_SHADOWS = 8;

/** Weights must add up to 100 within this (so 33.3 + 33.3 + 33.4 does). */
const WEIGHT_SUM_TOLERANCE = 1e-6;

const refFields = {
  model: z.string().regex(MODEL_NAME, `a model name (${MODEL_NAME_RULE} characters)`),
  version: z.number().int().min(1).max(999_999_999).optional(),
  alias: z.string().regex(ALIAS_NAME, 'an alias name (a letter, then letters, digits, _ or -)').optional(),
};
const name = z.string().regex(VARIANT_NAME, 'a variant name (letters, digits, . _ -, at most 64 characters)');

const VariantSchema = z.object({ name, ...refFields, weight: z.number().positive() }).strict();
const ShadowSchema = z.object({ name, ...refFields, sample_rate: z.number().gt(0).max(1) }).strict();
const CanarySchema = z
  .object({ name: name.optional(), ...refFields, percent: z.number().min(0).max(100) })
  .strict();
const BaselineSchema = z.object({ name: name.optional(), ...refFields }).strict();
const StickySchema = z.discriminatedUnion('by', [
  z
    .object({
      by: z.literal('header'),
      header: z
        .string()
        .regex(HEADER_NAME, 'an HTTP header name')
        .transform((header) => header.toLowerCase()),
    })
    .strict(),
  z.object({ by: z.literal('api_key') }).strict(),
]);

const PolicySchema = z
  .object({
    variants: z.array(VariantSchema).min(1).max(MAX_VARIANTS).optional(),
    canary: CanarySchema.optional(),
    baseline: BaselineSchema.optional(),
    sticky: StickySchema.optional(),
    shadows: z.array(ShadowSchema).max(MAX_SHADOWS).optional(),
  })
  .strict();

/** The policy's form as JSON Schema, for the API's documentation (the check itself is `parsePolicy`). */
export const POLICY_DOCUMENT_SCHEMA = {
  ...z.toJSONSchema(PolicySchema, { target: 'openapi-3.0', io: 'input' }),
  description:
    'Weighted `variants` (weights adding up to 100), or `canary` (`percent` of requests) with `baseline` (the rest). ' +
    'Each names a model and a `version` or an `alias` (neither: what a request naming no version gets). ' +
    '`sticky`: the same header value (or API key) always meets the same variant while the weights stand. ' +
    '`shadows`: versions that get copies of a share (`sample_rate`) of the requests and never answer them.',
};

export interface PolicyIssue {
  path: string;
  message: string;
}

type Parsed = z.infer<typeof PolicySchema>;

/** A variant or shadow with the path the admin wrote it at, for messages. */
interface Placed<T> {
  path: string;
  item: T;
}

function joinPath(path: readonly PropertyKey[]): string {
  return path.length > 0 ? path.map(String).join('.') : '(root)';
}

function issuesOf(error: z.ZodError): PolicyIssue[] {
  return error.issues.flatMap((issue) =>
    issue.code === 'unrecognized_keys'
      ? issue.keys.map((key) => ({ path: joinPath([...issue.path, key]), message: 'unknown field' }))
      : [{ path: joinPath(issue.path), message: issue.message }],
  );
}

/** The served variants of a parsed policy, the canary shorthand expanded (baseline first, then the canary). */
function servedOf(policy: Parsed): Array<Placed<TrafficVariant>> {
  if (policy.variants) return policy.variants.map((item, i) => ({ path: `variants.${i}`, item }));
  if (!policy.canary || !policy.baseline) return [];
  const { percent, name: canaryName, ...canary } = policy.canary;
  const { name: baselineName, ...baseline } = policy.baseline;
  return [
    { path: 'baseline', item: { name: baselineName ?? 'baseline', ...baseline, weight: 100 - percent } },
    { path: 'canary', item: { name: canaryName ?? 'canary', ...canary, weight: percent } },
  ];
}

/** The form's rules that span fields: one way of naming variants, weights, unique names, version or alias. */
function crossFieldIssues(policy: Parsed): PolicyIssue[] {
  const issues: PolicyIssue[] = [];
  const hasCanary = policy.canary !== undefined || policy.baseline !== undefined;
  if (policy.variants && hasCanary) {
    issues.push({ path: '(root)', message: 'give either variants or canary with baseline, not both' });
  } else if (!policy.variants && !hasCanary) {
    issues.push({ path: '(root)', message: 'give variants, or canary with baseline' });
  } else if (!policy.variants) {
    if (!policy.canary) issues.push({ path: 'canary', message: 'a baseline needs a canary' });
    if (!policy.baseline) issues.push({ path: 'baseline', message: 'a canary needs a baseline' });
  }
  if (policy.variants) {
    const sum = policy.variants.reduce((total, v) => total + v.weight, 0);
    if (Math.abs(sum - 100) > WEIGHT_SUM_TOLERANCE) {
      issues.push({ path: 'variants', message: `the weights add up to ${sum}, not 100` });
    }
  }
  const placed: Array<Placed<{ name: string } & VariantRef>> = [
    ...servedOf(policy),
    ...(policy.shadows ?? []).map((item, i) => ({ path: `shadows.${i}`, item })),
  ];
  const seen = new Map<string, string>();
  for (const { path, item } of placed) {
    const first = seen.get(item.name);
    if (first !== undefined) {
      issues.push({ path: `${path}.name`, message: `"${item.name}" is also the name of ${first}` });
    } else seen.set(item.name, path);
    if (item.version !== undefined && item.alias !== undefined) {
      issues.push({ path, message: 'name a version or an alias, not both' });
    }
  }
  return issues;
}

export type PolicyParse = { ok: true; policy: TrafficPolicyJson } | { ok: false; issues: PolicyIssue[] };

/** Checks the form of a policy (no model looked up); the policy comes back normalised (header in lower case). */
export function parsePolicy(document: unknown): PolicyParse {
  const result = PolicySchema.safeParse(document);
  if (!result.success) return { ok: false, issues: issuesOf(result.error) };
  const issues = crossFieldIssues(result.data);
  return issues.length > 0 ? { ok: false, issues } : { ok: true, policy: result.data };
}

/** The policy as the serving core reads it; `policy` must have passed `parsePolicy`. */
export function compilePolicy(endpoint: string, policy: TrafficPolicyJson): TrafficPolicy {
  const parsed = policy as Parsed;
  return {
    endpoint,
    variants: servedOf(parsed).map(({ item }) => item),
    shadows: (parsed.shadows ?? []).map(({ sample_rate, ...shadow }) => ({
      ...shadow,
      sampleRate: sample_rate,
    })),
    ...(parsed.sticky ? { sticky: parsed.sticky } : {}),
  };
}

/** What `ref` resolves to now, or why it cannot serve. */
export function resolveNow(
  service: InferenceService,
  ref: VariantRef,
): { version: number; model: string } | { problem: string } {
  if (!service.repository.get(ref.model)) return { problem: `model "${ref.model}" does not exist` };
  if (ref.alias !== undefined && service.aliasOf(ref.model, ref.alias) === undefined) {
    return { problem: `model "${ref.model}" has no alias "${ref.alias}"` };
  }
  try {
    const loaded = service.resolve({ model: ref.model, version: ref.version ?? ref.alias });
    return { model: loaded.name, version: loaded.version };
  } catch (error) {
    if (error instanceof SegserveError) return { problem: error.message };
    throw error;
  }
}

/**
 * What a policy names, against what serves now: every model exists, every version serves (a number that is
 * loaded and has a worker, an alias that is set and points at such a version), and no shadow is a version a
 * served variant names (a shadow compares another version with the served one).
 */
export function targetIssues(service: InferenceService, policy: TrafficPolicyJson): PolicyIssue[] {
  const issues: PolicyIssue[] = [];
  const served = new Map<string, string>();
  for (const { path, item } of servedOf(policy as Parsed)) {
    const now = resolveNow(service, item);
    if ('problem' in now) issues.push({ path, message: now.problem });
    else served.set(`${now.model}\n${now.version}`, item.name);
  }
  (policy.shadows ?? []).forEach((shadow, i) => {
    const path = `shadows.${i}`;
    const now = resolveNow(service, shadow);
    if ('problem' in now) {
      issues.push({ path, message: now.problem });
      return;
    }
    const variant = served.get(`${now.model}\n${now.version}`);
    if (variant !== undefined) {
      issues.push({
        path,
        message: `shadow "${shadow.name}" is model "${now.model}" version ${now.version}, which variant "${variant}" serves: a shadow must be another version`,
      });
    }
  });
  return issues;
}

/** The issues as one reason: `path: message; ...`. */
export function describeIssues(issues: readonly PolicyIssue[]): string {
  return issues.map((issue) => `${issue.path}: ${issue.message}`).join('; ');
}

/** The explicit version numbers a policy names per model (kept loaded whatever the version policy says). */
export function pinnedVersions(policy: TrafficPolicy): Array<{ model: string; version: number }> {
  return [...policy.variants, ...policy.shadows].flatMap((v) =>
    v.version === undefined ? [] : [{ model: v.model, version: v.version }],
  );
}
