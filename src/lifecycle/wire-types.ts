/**
 * The model lifecycle's answers as they travel (snake_case), shared by the routes and the browser UI (the models
 * page draws each model's version history from them), so neither keeps its own copy.
 */

export interface AliasJson {
  alias: string;
  version: number;
  previous_version: number | null;
  updated_at: string;
  updated_by: string;
}

export interface GateJson {
  metric: string;
  dataset: string;
  candidate: number;
  current: number | null;
  tolerance: number;
}

export interface AliasChangeJson extends AliasJson {
  model: string;
  gate?: GateJson;
}

export interface HistoryEntryJson {
  id: number;
  version: number | null;
  kind: string;
  actor: string;
  details: Record<string, unknown>;
  at: string;
}

export interface EvaluationSummaryJson {
  id: string;
  version: number;
  dataset: string;
  metric: string;
  value: number;
  created_at: string;
}

export interface ModelHistoryJson {
  model: string;
  aliases: AliasJson[];
  evaluations: EvaluationSummaryJson[];
  /** Oldest first. */
  history: HistoryEntryJson[];
}

/** A model and a version number or an alias (neither: what a request naming no version gets). */
export interface VariantRefJson {
  model: string;
  version?: number;
  alias?: string;
}

/** A variant that answers a share of an endpoint's requests. */
export interface VariantJson extends VariantRefJson {
  name: string;
  weight: number;
}

/** A variant that gets copies of a share of an endpoint's requests, and never answers them. */
export interface ShadowJson extends VariantRefJson {
  name: string;
  sample_rate: number;
}

/** Sticky assignment: by a request header the policy names, or by the caller's API key identity. */
export type StickyJson = { by: 'header'; header: string } | { by: 'api_key' };

/**
 * `PUT /v1/admin/endpoints/{e}/traffic`: weighted `variants` (weights adding up to 100), or the `canary`
 * shorthand (`percent` of requests to it, the rest to `baseline`; the variants are named `canary` and `baseline`
 * unless named). `sticky` and `shadows` are optional.
 */
export interface TrafficPolicyJson {
  variants?: VariantJson[];
  canary?: VariantRefJson & { name?: string; percent: number };
  baseline?: VariantRefJson & { name?: string };
  sticky?: StickyJson;
  shadows?: ShadowJson[];
}

/** What a variant or shadow resolves to now: its version, or why it cannot serve. */
export interface ResolvedNowJson {
  version_now: number | null;
  problem?: string;
}

/** An endpoint's policy in force, expanded (the canary shorthand as its two variants) and resolved now. */
export interface EndpointTrafficJson {
  /** The policy as it was written. */
  policy: TrafficPolicyJson;
  variants: Array<VariantJson & ResolvedNowJson>;
  shadows: Array<ShadowJson & ResolvedNowJson>;
  sticky: StickyJson | null;
  updated_at: string;
  updated_by: string;
}

/** One entry of `GET /v1/endpoints`, and the answer of the admin PUT. */
export interface EndpointJson extends EndpointTrafficJson {
  endpoint: string;
}

export interface EndpointListJson {
  endpoints: EndpointJson[];
}

/** One change of an endpoint's policy. */
export interface TrafficHistoryEntryJson {
  id: number;
  kind: 'policy_set' | 'policy_removed';
  actor: string;
  /** The policy after the change (null: removed). */
  policy: TrafficPolicyJson | null;
  /** The policy before it (null: there was none). */
  previous: TrafficPolicyJson | null;
  at: string;
}

/** `GET /v1/endpoints/{e}`: the policy in force (null: none now) and every change, oldest first. */
export interface EndpointHistoryJson {
  endpoint: string;
  traffic: EndpointTrafficJson | null;
  history: TrafficHistoryEntryJson[];
}
