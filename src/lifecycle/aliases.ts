/**
 * The alias table the serving core reads on every request (VersionAliases): an in-memory copy of the
 * `model_aliases` rows, kept current as refreshed-table.ts says. Until the rows are read, requests naming no
 * version would go to the newest version instead of `stable`: the server is not ready (markUnread).
 */
import type { VersionAliases } from '../serving/service.js';
import type { Database } from '../storage/index.js';
import { RefreshedTable } from './refreshed-table.js';
import { type AliasRecord, listAliases } from './store.js';

/** Where an alias points, and where it pointed before (what a rollback returns to). */
interface Target {
  version: number;
  previous: number | null;
}

export class AliasTable extends RefreshedTable<AliasRecord> implements VersionAliases {
  #byModel = new Map<string, Map<string, Target>>();

  protected read(db: Database): Promise<AliasRecord[]> {
    return listAliases(db);
  }

  replaceAll(records: readonly AliasRecord[]): void {
    const next = new Map<string, Map<string, Target>>();
    for (const record of records) {
      const aliases = next.get(record.model) ?? new Map<string, Target>();
      aliases.set(record.alias, { version: record.version, previous: record.previousVersion });
      next.set(record.model, aliases);
    }
    // One assignment: a request resolving meanwhile sees the old table or the new one, never half of each.
    this.#byModel = next;
  }

  /** Applies a change this process committed (undefined: removed), without waiting for the next refresh. */
  set(
    model: string,
    alias: string,
    record: Pick<AliasRecord, 'version' | 'previousVersion'> | undefined,
  ): void {
    const next = new Map(this.#byModel);
    const aliases = new Map(next.get(model));
    if (record === undefined) aliases.delete(alias);
    else aliases.set(alias, { version: record.version, previous: record.previousVersion });
    next.set(model, aliases);
    this.changed();
    this.#byModel = next;
  }

  lookup(model: string, alias: string): number | undefined {
    return this.#byModel.get(model)?.get(alias)?.version;
  }

  /**
   * The versions some alias of `model` points at, or pointed at before its last change: they stay loaded
   * whatever the version policy says, so a rollback finds its version serving and takes effect at once.
   */
  versionsOf(model: string): number[] {
    const versions = new Set<number>();
    for (const { version, previous } of this.#byModel.get(model)?.values() ?? []) {
      versions.add(version);
      if (previous !== null) versions.add(previous);
    }
    return [...versions].sort((a, b) => a - b);
  }
}
