/**
 * Traffic policies: an endpoint is a name clients call in place of a model name, and its policy decides which
 * model and version answer each request. What the serving core needs of them lives here, pure and synchronous:
 * the policy as the core reads it (already validated: weights, names, models), picking a variant for a point of
 * [0, 1), and the point of a sticky key. The policies themselves are kept by the lifecycle (an in-memory table
 * read from the database, src/lifecycle/traffic-table.ts), as aliases are.
 *
 * Picking: the variants' weights, in the policy's order, cut [0, 1) into consecutive intervals; a request's
 * point falls in one of them. A sticky request's point is a hash of its key, so the same key lands on the same
 * variant for as long as the weights stand; other requests get a random point. Because the intervals are
 * consecutive, moving weight from the first variant to the last (ramping a canary up) only moves keys into the
 * last one: no key already on the canary goes back.
 */
import { createHash } from 'node:crypto';

/** A model and, optionally, a version number or an alias (neither: as a request naming no version). */
export interface VariantRef {
  model: string;
  version?: number;
  alias?: string;
}

/** A variant that answers requests: a share of the endpoint's traffic. */
export interface TrafficVariant extends VariantRef {
  name: string;
  /** Its share of the sum of weights (the admin API keeps the sum at 100); 0 takes no traffic. */
  weight: number;
}

/** A variant that gets copies of requests (run by the shadow feature, never answering the client). */
export interface ShadowVariant extends VariantRef {
  name: string;
  /** The share of requests copied to it, in (0, 1]. */
  sampleRate: number;
}

/** Where a request's sticky key comes from: a header the policy names, or the caller's API key identity. */
export type StickyRule = { by: 'header'; header: string } | { by: 'api_key' };

/** An endpoint's policy, as the serving core resolves it. */
export interface TrafficPolicy {
  endpoint: string;
  /** In the policy's order; at least one has a positive weight. */
  variants: readonly TrafficVariant[];
  shadows: readonly ShadowVariant[];
  sticky?: StickyRule;
}

/**
 * The policies, looked up on every request: synchronous and cheap (an in-memory table the lifecycle keeps
 * current, like VersionAliases).
 */
export interface TrafficPolicies {
  lookup(endpoint: string): TrafficPolicy | undefined;
  /** Why the policies are not known yet (the database could not be read at start); the server is not ready. */
  notLoaded(): string | undefined;
}

/**
 * A shadow variant resolved for one request: the version it names now (an alias resolved at request time), for
 * the shadow feature, which samples with `sampleRate` and runs it after the answer is sent.
 */
export interface ShadowTarget {
  variant: string;
  model: string;
  version: number;
  sampleRate: number;
}

/** The variant whose interval holds `point` (in [0, 1)). */
export function pickVariant(variants: readonly TrafficVariant[], point: number): TrafficVariant {
  const total = variants.reduce((sum, v) => sum + v.weight, 0);
  const target = point * total;
  let upTo = 0;
  let last: TrafficVariant | undefined;
  for (const variant of variants) {
    if (variant.weight <= 0) continue;
    upTo += variant.weight;
    last = variant;
    if (target < upTo) return variant;
  }
  // Only a point at the very top with rounding on the sum gets here: the last variant that takes traffic.
  if (!last) throw new Error('a traffic policy without a variant that takes traffic');
  return last;
}

const POINT_BITS = 2 ** 48;

/**
 * The point of a sticky key on `endpoint`: the first 48 bits of SHA-256 over the endpoint and the key, in
 * [0, 1). The endpoint is part of it so that one user is not on the canary of every endpoint at once.
 */
export function stickyPoint(endpoint: string, key: string): number {
  const digest = createHash('sha256').update(endpoint).update('\n').update(key).digest();
  return digest.readUIntBE(0, 6) / POINT_BITS;
}

/** The sticky key a request carries under `rule`, if any (an empty header is none). */
export function stickyKeyOf(
  rule: StickyRule | undefined,
  origin: { stickyKey?: string; header?: (name: string) => string | undefined },
): string | undefined {
  if (!rule) return undefined;
  const key = rule.by === 'header' ? origin.header?.(rule.header) : origin.stickyKey;
  return key === undefined || key === '' ? undefined : key;
}
