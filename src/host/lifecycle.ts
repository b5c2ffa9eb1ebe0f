/**
 * The model lifecycle for the server: the alias table the serving core resolves through, read before the
 * server listens when a database exists (so the first request naming no version already goes to `stable`) and
 * refreshed every few seconds to follow other replicas; and the ModelLifecycle the admin routes call.
 *
 * A database that exists but cannot be read at start (PostgreSQL restarting) does not stop the server: it
 * starts not ready (GET /v2/health/ready says why) and becomes ready at the first refresh that reads the aliases.
 */
import { AliasTable } from '../lifecycle/aliases.js';
import { type GateEvaluator, ModelLifecycle } from '../lifecycle/lifecycle.js';
import type { InferenceService } from '../serving/service.js';
import type { LazyStorage } from './storage.js';

export interface ServerLifecycle {
  lifecycle: ModelLifecycle;
  aliases: AliasTable;
  hasDatabase: () => boolean;
  close(): void;
}

export async function startLifecycle(
  service: InferenceService,
  stores: LazyStorage,
  evaluate: GateEvaluator,
  log: {
    /** At start, before the app (and its logger) exists. */
    unread: (error: string) => void;
    /** Later: a refresh that failed (once, not every few seconds). */
    warn: (fields: Record<string, unknown>, message: string) => void;
  },
  refreshMs?: number,
): Promise<ServerLifecycle> {
  let aliases = new AliasTable();
  if (stores.databaseExists()) {
    try {
      await aliases.refresh(await stores.database());
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      log.unread(reason);
      aliases = AliasTable.unread(reason);
    }
  }
  service.useAliases(aliases);
  let warned = false;
  // Only a database that exists can hold another replica's changes; an embedded one that does not exist yet is
  // created by this process, which then changes its aliases itself.
  aliases.startRefreshing(
    async () => {
      if (!stores.databaseExists()) throw new NoDatabase();
      return stores.database();
    },
    (error) => {
      if (error instanceof NoDatabase || warned) return;
      warned = true;
      log.warn(
        { err: error instanceof Error ? error.message : String(error) },
        'model aliases refresh failed',
      );
    },
    refreshMs,
  );
  return {
    lifecycle: new ModelLifecycle({ service, database: () => stores.database(), aliases, evaluate }),
    aliases,
    hasDatabase: () => stores.databaseExists(),
    close: () => aliases.stop(),
  };
}

class NoDatabase extends Error {}
