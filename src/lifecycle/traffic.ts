/**
 * Endpoints' traffic policies, changed by the admin API: validated whole before anything is written (form, then
 * what it names against what serves now), so a refused policy leaves the one in force untouched; written with
 * its history under a per-endpoint lock; applied to this replica's next request at once, and to the others'
 * at their next refresh (traffic-table.ts).
 */
import { SegserveError } from '../errors.js';
import { MODEL_NAME_RULE } from '../models/index.js';
import type { InferenceService } from '../serving/service.js';
import type { Database } from '../storage/index.js';
import {
  compilePolicy,
  describeIssues,
  ENDPOINT_NAME,
  type PolicyIssue,
  parsePolicy,
  pinnedVersions,
  resolveNow,
  targetIssues,
} from './traffic-policy.js';
import {
  deletePolicy,
  listPolicies,
  lockPolicy,
  type PolicyRecord,
  recordTrafficHistory,
  type TrafficHistoryEntry,
  trafficHistory,
  writePolicy,
} from './traffic-store.js';
import type { PolicyTable } from './traffic-table.js';
import type { EndpointJson, EndpointTrafficJson, ResolvedNowJson, TrafficPolicyJson } from './wire-types.js';

export interface TrafficOptions {
  service: InferenceService;
  database: () => Promise<Database>;
  table: PolicyTable;
  /** Whether the database exists: without one there is no policy or history to read, and reading opens none. */
  hasDatabase?: () => boolean;
}

export class TrafficControl {
  readonly #options: TrafficOptions;

  constructor(options: TrafficOptions) {
    this.#options = options;
  }

  get table(): PolicyTable {
    return this.#options.table;
  }

  /** Puts `document` in force for `endpoint`, or refuses it (TRAFFIC_POLICY_INVALID) with every reason. */
  async setPolicy(endpoint: string, document: unknown, actor: string): Promise<PolicyRecord> {
    const parsed = parsePolicy(document);
    const issues: PolicyIssue[] = [];
    if (!ENDPOINT_NAME.test(endpoint)) {
      issues.push({ path: 'endpoint', message: `an endpoint name (${MODEL_NAME_RULE} characters)` });
    }
    if (!parsed.ok) issues.push(...parsed.issues);
    else issues.push(...targetIssues(this.#options.service, parsed.policy));
    if (issues.length > 0 || !parsed.ok) {
      throw new SegserveError('TRAFFIC_POLICY_INVALID', { endpoint, reason: describeIssues(issues) });
    }
    const { policy } = parsed;
    const db = await this.#options.database();
    const { record, previous } = await db.transaction(async (tx) => {
      const before = await lockPolicy(tx, endpoint);
      const written = await writePolicy(tx, endpoint, policy, actor);
      await recordTrafficHistory(tx, {
        endpoint,
        kind: 'policy_set',
        actor,
        policy,
        previous: before?.policy ?? null,
      });
      return { record: written, previous: before };
    });
    this.#options.table.set(endpoint, record);
    await this.#keepVersions(endpoint, [previous?.policy, policy]);
    return record;
  }

  /** Removes the endpoint's policy: its name is then a model's name again (ENDPOINT_NOT_FOUND without one). */
  async removePolicy(endpoint: string, actor: string): Promise<void> {
    const db = await this.#options.database();
    const previous = await db.transaction(async (tx) => {
      const before = await lockPolicy(tx, endpoint);
      if (!before) throw new SegserveError('ENDPOINT_NOT_FOUND', { endpoint });
      await deletePolicy(tx, endpoint);
      await recordTrafficHistory(tx, {
        endpoint,
        kind: 'policy_removed',
        actor,
        policy: null,
        previous: before.policy,
      });
      return before;
    });
    this.#options.table.set(endpoint, undefined);
    await this.#keepVersions(endpoint, [previous.policy]);
  }

  /** Every stored policy, expanded and resolved now. */
  async list(): Promise<EndpointJson[]> {
    if (!this.#hasDatabase()) return [];
    const records = await listPolicies(await this.#options.database());
    return records.map((record) => ({ endpoint: record.endpoint, ...this.describe(record) }));
  }

  /** The endpoint's policy (null: none now) and its history; ENDPOINT_NOT_FOUND when it never had one. */
  async history(
    endpoint: string,
  ): Promise<{ traffic: EndpointTrafficJson | null; history: TrafficHistoryEntry[] }> {
    if (!this.#hasDatabase()) throw new SegserveError('ENDPOINT_NOT_FOUND', { endpoint });
    const db = await this.#options.database();
    const [records, history] = await Promise.all([listPolicies(db, endpoint), trafficHistory(db, endpoint)]);
    if (records.length === 0 && history.length === 0) {
      throw new SegserveError('ENDPOINT_NOT_FOUND', { endpoint });
    }
    return { traffic: records[0] ? this.describe(records[0]) : null, history };
  }

  /** A stored policy expanded (the canary shorthand as two variants), with what each variant serves now. */
  describe(record: PolicyRecord): EndpointTrafficJson {
    const parsed = parsePolicy(record.policy);
    const base = { policy: record.policy, updated_at: record.updatedAt, updated_by: record.updatedBy };
    if (!parsed.ok) {
      // Only a row edited by hand gets here: shown, not applied.
      return { ...base, variants: [], shadows: [], sticky: null };
    }
    const compiled = compilePolicy(record.endpoint, parsed.policy);
    const { service } = this.#options;
    const now = (ref: Parameters<typeof resolveNow>[1]): ResolvedNowJson => {
      const resolved = resolveNow(service, ref);
      return 'problem' in resolved
        ? { version_now: null, problem: resolved.problem }
        : { version_now: resolved.version };
    };
    return {
      ...base,
      variants: compiled.variants.map((v) => ({ ...v, ...now(v) })),
      shadows: compiled.shadows.map(({ sampleRate, ...s }) => ({ ...s, sample_rate: sampleRate, ...now(s) })),
      sticky: compiled.sticky ?? null,
    };
  }

  #hasDatabase(): boolean {
    return this.#options.hasDatabase?.() ?? true;
  }

  /**
   * The versions policies pin have changed: the repository applies its version policy again, loading what a
   * policy now needs kept and retiring what nothing keeps any more. The policy is in force whatever this finds.
   */
  async #keepVersions(endpoint: string, policies: Array<TrafficPolicyJson | undefined>): Promise<void> {
    const models = new Set<string>();
    for (const policy of policies) {
      if (!policy) continue;
      for (const { model } of pinnedVersions(compilePolicy(endpoint, policy))) models.add(model);
    }
    if (models.size === 0) return;
    await this.#options.service.repository.rescan({ models: [...models] }).catch(() => undefined);
  }
}
