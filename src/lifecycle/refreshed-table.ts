/**
 * An in-memory copy of database rows the serving core reads on every request (aliases, traffic policies), kept
 * current the same way for each: a change made through this process applies at once (the subclass's `set`,
 * after its commit, calls `changed()`); one made through another replica at the next refresh (`refreshMs`,
 * default 5 s). A refresh that fails (the database restarting) keeps the last table, so requests keep going
 * where they went; one whose read began before a change of this process leaves the table alone, since its rows
 * may miss that change (the next refresh reads it).
 */
import type { Database } from '../storage/index.js';

export const DEFAULT_REFRESH_MS = 5_000;

export abstract class RefreshedTable<R> {
  #timer: NodeJS.Timeout | undefined;
  #notLoaded: string | undefined;
  #changes = 0;

  /** Every row, as the table is built from them. */
  protected abstract read(db: Database): Promise<R[]>;

  /** Rebuilds the table from `records` in one assignment: a reader sees the old table or the new one. */
  abstract replaceAll(records: readonly R[]): void;

  /** A subclass applied a change of this process: a refresh already reading must not undo it. */
  protected changed(): void {
    this.#changes++;
  }

  /**
   * Marks rows that exist but could not be read yet: until a refresh succeeds the server is not ready (the
   * table would send requests elsewhere than every other replica does).
   */
  markUnread(reason: string): this {
    this.#notLoaded = reason;
    return this;
  }

  /** Why the rows are not known yet, if they are not. */
  notLoaded(): string | undefined {
    return this.#notLoaded;
  }

  /** Reads every row; callers then `startRefreshing` to follow other replicas. */
  async refresh(db: Database): Promise<void> {
    const changes = this.#changes;
    const records = await this.read(db);
    if (changes === this.#changes) this.replaceAll(records);
    this.#notLoaded = undefined;
  }

  startRefreshing(
    db: () => Promise<Database>,
    onError: (error: unknown) => void,
    refreshMs = DEFAULT_REFRESH_MS,
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
}
