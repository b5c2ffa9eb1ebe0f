/**
 * The traffic policies the serving core reads on every request (TrafficPolicies): an in-memory copy of the
 * `traffic_policies` rows, compiled once per read, kept current as refreshed-table.ts says.
 */
import type { TrafficPolicies, TrafficPolicy } from '../serving/traffic.js';
import type { Database } from '../storage/index.js';
import { RefreshedTable } from './refreshed-table.js';
import { compilePolicy, parsePolicy, pinnedVersions } from './traffic-policy.js';
import { listPolicies, type PolicyRecord } from './traffic-store.js';

interface Entry {
  record: PolicyRecord;
  compiled: TrafficPolicy;
}

export class PolicyTable extends RefreshedTable<PolicyRecord> implements TrafficPolicies {
  #byEndpoint = new Map<string, Entry>();
  /** Stored rows that do not parse (edited by hand?): left out, and said here. */
  #unreadable: string[] = [];

  protected read(db: Database): Promise<PolicyRecord[]> {
    return listPolicies(db);
  }

  replaceAll(records: readonly PolicyRecord[]): void {
    const next = new Map<string, Entry>();
    const unreadable: string[] = [];
    for (const record of records) {
      const entry = entryOf(record);
      if (entry) next.set(record.endpoint, entry);
      else unreadable.push(record.endpoint);
    }
    // One assignment: a request routed meanwhile sees the old table or the new one, never half of each.
    this.#byEndpoint = next;
    this.#unreadable = unreadable;
  }

  /** Applies a change this process committed (undefined: removed), without waiting for the next refresh. */
  set(endpoint: string, record: PolicyRecord | undefined): void {
    const next = new Map(this.#byEndpoint);
    const entry = record && entryOf(record);
    if (entry) next.set(endpoint, entry);
    else next.delete(endpoint);
    this.changed();
    this.#byEndpoint = next;
  }

  lookup(endpoint: string): TrafficPolicy | undefined {
    return this.#byEndpoint.get(endpoint)?.compiled;
  }

  record(endpoint: string): PolicyRecord | undefined {
    return this.#byEndpoint.get(endpoint)?.record;
  }

  /** Every policy in force, by endpoint name. */
  records(): PolicyRecord[] {
    return [...this.#byEndpoint.values()]
      .map((entry) => entry.record)
      .sort((a, b) => (a.endpoint < b.endpoint ? -1 : a.endpoint > b.endpoint ? 1 : 0));
  }

  /** Endpoints whose stored policy does not parse, and so are not applied. */
  unreadable(): readonly string[] {
    return this.#unreadable;
  }

  /**
   * The version numbers policies name of `model`: they stay loaded whatever the version policy says, as the
   * versions of aliases do, so a policy never points at a version the repository retired.
   */
  versionsOf(model: string): number[] {
    const versions = new Set<number>();
    for (const { compiled } of this.#byEndpoint.values()) {
      for (const pinned of pinnedVersions(compiled)) if (pinned.model === model) versions.add(pinned.version);
    }
    return [...versions].sort((a, b) => a - b);
  }
}

function entryOf(record: PolicyRecord): Entry | undefined {
  const parsed = parsePolicy(record.policy);
  if (!parsed.ok) return undefined;
  return {
    record: { ...record, policy: parsed.policy },
    compiled: compilePolicy(record.endpoint, parsed.policy),
  };
}
