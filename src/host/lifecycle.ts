/**
 * The model lifecycle for the server: the alias table and the traffic policies the serving core resolves
 * through, read before the server listens when a database exists (so the first request naming no version already
 * goes to `stable`, and the first naming an endpoint follows its policy) and refreshed every few seconds to
 * follow other replicas; and the ModelLifecycle and TrafficControl the admin routes call.
 *
 * A database that exists but cannot be read at start (PostgreSQL restarting) does not stop the server: it
 * starts not ready (GET /v2/health/ready says why) and becomes ready at the first refresh that reads the aliases.
 */

import type { ModelUploads } from '../http/routes/admin-upload.js';
import { AliasTable } from '../lifecycle/aliases.js';
import { type GateEvaluator, ModelLifecycle } from '../lifecycle/lifecycle.js';
import type { RefreshedTable } from '../lifecycle/refreshed-table.js';
import { TrafficControl } from '../lifecycle/traffic.js';
import { PolicyTable } from '../lifecycle/traffic-table.js';
import { publishUpload, stagingFolder, type UploadDeps } from '../lifecycle/upload.js';
import type { InferenceService } from '../serving/service.js';
import type { StorageAccess } from '../storage/index.js';
import type { LazyStorage } from './storage.js';

export interface ServerLifecycle {
  lifecycle: ModelLifecycle;
  aliases: AliasTable;
  hasDatabase: () => boolean;
  uploads: ModelUploads;
  traffic: TrafficControl;
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
export function readAliases(stores: LazyStorage, log: AliasLog, refreshMs?: number): Promise<AliasTable> {
  return readTable(new AliasTable(), 'model aliases', stores, log, refreshMs);
}

/**
 * The traffic policies, read before the models load as the aliases are (the versions policies name stay loaded,
 * and the first request to an endpoint already follows its policy), then refreshed to follow other replicas.
 */
export function readTrafficPolicies(
  stores: LazyStorage,
  log: AliasLog,
  refreshMs?: number,
): Promise<PolicyTable> {
  return readTable(new PolicyTable(), 'traffic policies', stores, log, refreshMs);
}

async function readTable<T extends RefreshedTable<unknown>>(
  table: T,
  what: string,
  stores: LazyStorage,
  log: AliasLog,
  refreshMs?: number,
): Promise<T> {
  if (stores.databaseExists()) {
    try {
      await table.refresh(await stores.database());
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      log.unread(reason);
      table.markUnread(reason);
    }
  }
  let warned = false;
  // Only a database that exists can hold another replica's changes; an embedded one that does not exist yet is
  // created by this process, which then makes its changes itself.
  table.startRefreshing(
    async () => {
      if (!stores.databaseExists()) throw new NoDatabase();
      return stores.database();
    },
    (error) => {
      if (error instanceof NoDatabase || warned) return;
      warned = true;
      log.warn({ err: error instanceof Error ? error.message : String(error) }, `${what} refresh failed`);
    },
    refreshMs,
  );
  return table;
}

export function startLifecycle(
  service: InferenceService,
  stores: LazyStorage,
  aliases: AliasTable,
  evaluate: GateEvaluator,
  repositoryDir: string,
  policies: PolicyTable = new PolicyTable(),
): ServerLifecycle {
  service.useAliases(aliases);
  service.useTraffic(policies);
  const lifecycle = new ModelLifecycle({ service, database: () => stores.database(), aliases, evaluate });
  const hasDatabase = () => stores.databaseExists();
  return {
    lifecycle,
    aliases,
    hasDatabase,
    uploads: repositoryUploads(service, lifecycle, stores, repositoryDir),
    traffic: new TrafficControl({ service, database: () => stores.database(), table: policies, hasDatabase }),
    close: () => {
      aliases.stop();
      policies.stop();
    },
  };
}

class NoDatabase extends Error {}
