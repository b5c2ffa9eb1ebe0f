/**
 * An app serving the model lifecycle (aliases, promotion, rollback, history, endpoints' traffic policies) over a
 * repository and a database, with admin keys, as the server wires it (host/lifecycle.ts) but with the gate's
 * evaluator given by the test.
 */
import type { FastifyInstance } from 'fastify';
import { repositoryUploads } from '../../src/host/lifecycle.js';
import { AdminKeys } from '../../src/http/admin-auth.js';
import type { ApiKeys } from '../../src/http/api-keys.js';
import { buildApp } from '../../src/http/app.js';
import { AliasTable } from '../../src/lifecycle/aliases.js';
import { type GateEvaluator, ModelLifecycle } from '../../src/lifecycle/lifecycle.js';
import { TrafficControl } from '../../src/lifecycle/traffic.js';
import { PolicyTable } from '../../src/lifecycle/traffic-table.js';
import type { ModelRepository } from '../../src/models/index.js';
import type { ServingMetrics } from '../../src/monitoring/metrics.js';
import type { ShadowTraffic } from '../../src/monitoring/shadow/index.js';
import type { BlobStore, Database } from '../../src/storage/index.js';
import { openedStores } from './samples.js';
import { serviceFor } from './serving.js';

export const ADMIN_KEY = 'test-admin-key-0123456789';

export interface LifecycleApp {
  app: FastifyInstance;
  aliases: AliasTable;
  lifecycle: ModelLifecycle;
  /** The traffic policies the service routes by, and what the endpoint routes change them through. */
  policies: PolicyTable;
  traffic: TrafficControl;
}

export async function lifecycleApp(options: {
  repository: ModelRepository;
  db: Database;
  blobs: BlobStore;
  evaluate: GateEvaluator;
  /** Default: one key named `alice`, ADMIN_KEY; null: none, the admin API off. */
  adminKeys?: AdminKeys | null;
  /** The repository's folder: with it the app takes uploads into it. */
  repositoryDir?: string;
  /** API keys for the inference routes (none: open). */
  apiKeys?: ApiKeys;
  /** Prometheus metrics and shadow traffic, over the same service (`serviceFor(repository)`). */
  metrics?: ServingMetrics;
  shadows?: ShadowTraffic;
}): Promise<LifecycleApp> {
  const service = serviceFor(options.repository);
  const aliases = new AliasTable();
  await aliases.refresh(options.db);
  service.useAliases(aliases);
  const policies = new PolicyTable();
  await policies.refresh(options.db);
  service.useTraffic(policies);
  const traffic = new TrafficControl({ service, database: async () => options.db, table: policies });
  const lifecycle = new ModelLifecycle({
    service,
    database: async () => options.db,
    aliases,
    evaluate: options.evaluate,
  });
  const adminKeys =
    options.adminKeys === null
      ? undefined
      : (options.adminKeys ?? AdminKeys.fromEntries([{ text: `alice ${ADMIN_KEY}`, where: 'test' }]));
  const stores = openedStores(options.db, options.blobs);
  const app = await buildApp({
    service,
    logger: false,
    stores,
    adminKeys,
    apiKeys: options.apiKeys,
    metrics: options.metrics,
    shadows: options.shadows,
    lifecycle: {
      lifecycle,
      aliases,
      hasDatabase: () => true,
      traffic,
      uploads:
        options.repositoryDir === undefined
          ? undefined
          : repositoryUploads(service, lifecycle, stores, options.repositoryDir),
    },
  });
  return { app, aliases, lifecycle, policies, traffic };
}

export const adminHeaders = (key = ADMIN_KEY) => ({
  authorization: `Bearer ${key}`,
  'content-type': 'application/json',
});
