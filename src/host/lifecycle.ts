/**
 * The model lifecycle for the server: the alias table the serving core resolves through, read before the
 * server listens when a database exists (so the first request naming no version already goes to `stable`) and
 * refreshed every few seconds to follow other replicas; and the ModelLifecycle the admin routes call.
 *
 * A database that exists but cannot be read at start (PostgreSQL restarting) does not stop the server: it
 * starts not ready (GET /v2/health/ready says why) and becomes ready at the first refresh that reads the aliases.
 */

import type { ModelUploads } from '../http/routes/admin-upload.js';
import { AliasTable } from '../lifecycle/aliases.js';
import { type GateEvaluator, ModelLifecycle } from '../lifecycle/lifecycle.js';
import { publishUpload, stagingFolder, type UploadDeps } from '../lifecycle/upload.js';
import type { InferenceService } from '../serving/service.js';
import type { StorageAccess } from '../storage/index.js';
import type { LazyStorage } from './storage.js';

export interface ServerLifecycle {
  lifecycle: ModelLifecycle;
  aliases: AliasTable;
  hasDatabase: () => boolean;
  uploads: ModelUploads;
  close(): void;
}

/** Uploads into the repository folder, loaded through the repository's own operations. */
export function repositoryUploads(
  service: InferenceService,
  lifecycle: ModelLifecycle,
  stores: StorageAccess,
  repositoryDir: string,
): ModelUploads {
  const { repository } = service;
  const deps: UploadDeps = {
    repositoryDir,
    service,
    lifecycle,
    database: () => stores.database(),
    async loadVersion(model, version, created) {
      if (created) {
        await repository.load(model);
        const status = repository.get(model);
        const loaded = status?.versions.find((v) => v.version === version);
        if (loaded?.state !== 'ready')
          throw new Error(loaded?.error?.message ?? status?.error?.message ?? 'it did not load');
        return;
      }
      const outcome = await repository.installVersion(model, version);
      if (outcome.state !== 'ready') throw new Error(outcome.error.message);
    },
    async forgetVersion(model) {
      await repository.rescan({ models: [model] });
    },
  };
  return {
    stage: () => stagingFolder(repositoryDir),
    publish: (request) => publishUpload(deps, request),
  };
}

export interface AliasLog {
  /** At start, before the app (and its logger) exists. */
  unread: (error: string) => void;
  /** Later: a refresh that failed (once, not every few seconds). */
  warn: (fields: Record<string, unknown>, message: string) => void;
}

/**
 * The alias table, read before the models load: the versions aliases point at are loaded at start whatever the
 * version policy says (the repository's keepVersions asks it), and the first request already resolves through
 * it. Then refreshed every few seconds, to follow other replicas.
 */
export async function readAliases(
  stores: LazyStorage,
  log: AliasLog,
  refreshMs?: number,
): Promise<AliasTable> {
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
  return aliases;
}

export function startLifecycle(
  service: InferenceService,
  stores: LazyStorage,
  aliases: AliasTable,
  evaluate: GateEvaluator,
  repositoryDir: string,
): ServerLifecycle {
  service.useAliases(aliases);
  const lifecycle = new ModelLifecycle({ service, database: () => stores.database(), aliases, evaluate });
  return {
    lifecycle,
    aliases,
    hasDatabase: () => stores.databaseExists(),
    uploads: repositoryUploads(service, lifecycle, stores, repositoryDir),
    close: () => aliases.stop(),
  };
}

class NoDatabase extends Error {}
