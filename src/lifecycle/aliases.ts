/**
 * The alias table the serving core reads on every request (VersionAliases): an in-memory copy of the
 * `model_aliases` rows. A change made through this process applies at once (after its commit); one made
 * through another replica applies at the next refresh (`refreshMs`, default 5 s). A refresh that fails (the
 * database restarting) keeps the last table: requests keep resolving as they did.
 */
import type { VersionAliases } from '../serving/service.js';
import type { Database } from '../storage/index.js';
import { type AliasRecord, listAliases } from './store.js';

export const DEFAULT_ALIAS_REFRESH_MS = 5_000;

/** Where an alias points, and where it pointed before (what a rollback returns to). */
interface Target {
  version: number;
  previous: number | null;
}

export class AliasTable implements VersionAliases {
  #byModel = new Map<string, Map<string, Target>>();
  #timer: NodeJS.Timeout | undefined;
  #notLoaded: string | undefined;
  /** Counts changes applied by `set`, so a refresh whose read began before one does not undo it. */
  #changes = 0;

  /**
   * A table whose rows exist but could not be read yet: until a refresh succeeds the server is not ready,
   * since requests naming no version would otherwise go to the newest version instead of `stable`.
   */
  static unread(reason: string): AliasTable {
    const table = new AliasTable();
    table.#notLoaded = reason;
    return table;
  }

  /** Reads every alias; callers then `startRefreshing` to follow other replicas. */
  async refresh(db: Database): Promise<void> {
    const changes = this.#changes;
    const records = await listAliases(db);
    // A change this process committed while the rows were read may be missing from them: applying them would
    // put the alias back where it was until the next refresh. The next refresh reads it instead.
    if (changes === this.#changes) this.replaceAll(records);
    this.#notLoaded = undefined;
  }

  notLoaded(): string | undefined {
    return this.#notLoaded;
  }

  startRefreshing(
    db: () => Promise<Database>,
    onError: (error: unknown) => void,
    refreshMs = DEFAULT_ALIAS_REFRESH_MS,
  ): void {
    this.stop();
    this.#timer = setInterval(() => {
      db()
        .then((opened) => this.refresh(opened))
        .catch(onError);
    }, refreshMs);
    this.#timer.unref();
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
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
    this.#changes++;
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
