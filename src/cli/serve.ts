/**
 * `segserve serve`: the HTTP server in the foreground, logging JSON lines. On a first run (a repository folder
 * without models) it imports the bundled person model, so it answers real requests from the start.
 * SIGTERM or SIGINT (what Cloud Run, Kubernetes and Ctrl-C send) stops it in order: no new requests, requests
 * in flight finish, the worker pools drain and close, exit 0. A second signal, or a drain longer than the grace
 * period, exits at once with 1.
 */
import { type Command, InvalidArgumentError, Option } from 'commander';
import { SegserveError } from '../errors.js';
import { type ServeOptions, startServer } from '../host/server.js';
import { ADMIN_KEY_FILE_ENV, ADMIN_KEYS_ENV, AdminKeys } from '../http/admin-auth.js';
import { API_KEY_FILE_ENV, API_KEYS_ENV, ApiKeys } from '../http/api-keys.js';
import {
  CORS_ORIGINS_ENV,
  formatLimitValue,
  formatRange,
  type LimitKey,
  resolveCorsOrigins,
  resolveLimits,
  SERVER_LIMITS,
  splitLimits,
} from '../http/settings.js';
import { PREDICTION_LOG_LEVELS, type PredictionLogLevel } from '../monitoring/prediction-log.js';
import {
  MODELS_SYNC_SETTINGS,
  type ModelsSyncSettingKey,
  QUEUE_SETTINGS,
  type QueueSettingKey,
  type QueueSettings,
  resolveModelsSyncSettings,
  resolveQueueSettings,
  summarizeStorage,
} from '../storage/settings.js';
import { parseFormats } from './predict.js';
import { stopOnSignals } from './signals.js';
import { addStorageOptions, storageSettingsOf } from './storage-options.js';

/** Secrets only from the environment: flags end up in shell history and `ps`. */
export const WEBHOOK_SECRET_ENV = 'SEGSERVE_WEBHOOK_SECRET';
export const EVENTS_TOKEN_ENV = 'SEGSERVE_EVENTS_TOKEN';

export interface ServeCommandOptions {
  models: string;
  port: number;
  host: string;
  defaultModel?: string;
  batchRoot?: string;
  evalRoot?: string;
  allowUrl: string[];
  logLevel: string;
  predictionLog: PredictionLogLevel;
  monitoring: 'on' | 'off';
  /** Given flags only; undefined when absent, so the environment can fill in. */
  corsOrigin?: string[];
  adminKeyFile?: string;
  apiKeyFile?: string;
  watch: 'on' | 'off';
  jobConcurrency?: number;
  eventsModel?: string;
  eventsPrefix: string;
  eventsOutput?: string;
  eventsFormats: string;
  /** The limit and storage flags, raw text by commander attribute name (see `addServeSettingOptions`). */
  [settingFlag: string]: unknown;
}

/** Limit key by commander attribute name (`--max-image-bytes` is `maxImageBytes`). */
const LIMIT_ATTRIBUTES = new Map<string, LimitKey>(
  SERVER_LIMITS.map((row) => [new Option(row.flag).attributeName(), row.key]),
);

function collectOrigins(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), ...value.split(',')];
}

/**
 * Adds the options generated from the limits table and the storage settings, and --cors-origin, to the serve
 * command. They carry no parser and no default: `serve` resolves flag, then environment, then default in one
 * place, so an invalid value reads the same whether it came from a flag or a variable.
 */
export function addServeSettingOptions(command: Command): Command {
  for (const row of SERVER_LIMITS) {
    command.addOption(
      new Option(
        `${row.flag} <${row.unit}>`,
        `${row.description} (env ${row.env}; default ${formatLimitValue(row.default, row.unit)}; ${formatRange(row)})`,
      ),
    );
  }
  addStorageOptions(command);
  command.addOption(
    new Option('--prediction-log <level>', 'one log line per prediction at this level, or off')
      .choices(PREDICTION_LOG_LEVELS)
      .env('SEGSERVE_PREDICTION_LOG')
      .default('info'),
  );
  command.addOption(
    new Option(
      '--monitoring <state>',
      'off: no /metrics, no drift monitoring, no monitor page data (to measure what monitoring costs, or to run without it)',
    )
      .choices(['on', 'off'])
      .env('SEGSERVE_MONITORING')
      .default('on'),
  );
  command.addOption(
    new Option(
      '--watch [state]',
      'apply changes of the model folder by themselves: new, removed and changed models and versions load and ' +
        'unload without a restart, each once its files stop changing (off: only the admin routes change what is served)',
    )
      .choices(['on', 'off'])
      .preset('on')
      .env('SEGSERVE_WATCH')
      .default('on'),
  );
  for (const row of MODELS_SYNC_SETTINGS) {
    command.addOption(new Option(`${row.flag} ${row.value}`, `${row.description} (env ${row.env})`));
  }
  command.addOption(
    new Option(
      '--admin-key-file <file>',
      `admin keys, one per line, plain or as sha256:<hex> from \`segserve admin hash-key\` (env ${ADMIN_KEY_FILE_ENV}; ` +
        `also ${ADMIN_KEYS_ENV}, comma-separated; default: none, the admin API is off)`,
    ),
  );
  command.addOption(
    new Option(
      '--api-key-file <file>',
      `API keys for the inference routes, one per line: <name> <key or sha256:hex> [rate=N/s|m|h] [burst=N] [revoked] ` +
        `(env ${API_KEY_FILE_ENV}; also ${API_KEYS_ENV}, comma-separated; default: none, the routes are open)`,
    ),
  );
  for (const row of QUEUE_SETTINGS) {
    command.addOption(new Option(`${row.flag} ${row.value}`, `${row.description} (env ${row.env})`));
  }
  command.addOption(
    new Option(
      '--job-concurrency <n>',
      'batch-job inputs this server runs at once (default 2 with the in-process queue; 0 with Redis, where `segserve worker` processes run them)',
    )
      .env('SEGSERVE_JOB_CONCURRENCY')
      .argParser(jobConcurrency),
  );
  command.addOption(
    new Option(
      '--events-model <name>',
      'turn storage events posted to /v1/events into jobs for this model (or endpoint); also --events-prefix and --events-output',
    ).env('SEGSERVE_EVENTS_MODEL'),
  );
  command.addOption(
    new Option(
      '--events-prefix <prefix>',
      'objects created under this prefix of the blob store (or s3://bucket/prefix/) are segmented',
    )
      .env('SEGSERVE_EVENTS_PREFIX')
      .default(''),
  );
  command.addOption(
    new Option('--events-output <prefix>', 'where the outputs of storage-event jobs go').env(
      'SEGSERVE_EVENTS_OUTPUT',
    ),
  );
  command.addOption(
    new Option(
      '--events-formats <list>',
      'outputs of storage-event jobs, comma-separated: json, coco, png, overlay',
    )
      .env('SEGSERVE_EVENTS_FORMATS')
      .default('json'),
  );
  command.option(
    '--cors-origin <origin>',
    `browser origin allowed to call the API cross-origin, e.g. https://app.example.com, or * for any ` +
      `(repeatable, comma-separated; env ${CORS_ORIGINS_ENV}; default: none, no CORS headers)`,
    collectOrigins,
  );
  return command;
}

/** The queue settings from a command's parsed options (`--redis-url`) and the environment. */
export function queueSettingsOf(options: Readonly<Record<string, unknown>>): QueueSettings {
  const flags: Partial<Record<QueueSettingKey, string>> = {};
  for (const row of QUEUE_SETTINGS) {
    const value = options[new Option(row.flag).attributeName()];
    if (typeof value === 'string') flags[row.key] = value;
  }
  return resolveQueueSettings(flags, process.env);
}

function jobConcurrency(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 256)
    throw new InvalidArgumentError('expected an integer from 0 to 256');
  return n;
}

/** The storage-event rule from the --events-* options; none without --events-model. */
function eventsOf(options: ServeCommandOptions): ServeOptions['events'] {
  if (options.eventsModel === undefined) {
    if (options.eventsOutput !== undefined) {
      throw new SegserveError('INVALID_ARGUMENT', { reason: '--events-output needs --events-model' });
    }
    return undefined;
  }
  if (options.eventsOutput === undefined) {
    throw new SegserveError('INVALID_ARGUMENT', {
      reason: '--events-model needs --events-output (where results go)',
    });
  }
  const formats = parseFormats(options.eventsFormats);
  return {
    rule: {
      target: { model: options.eventsModel },
      prefix: options.eventsPrefix,
      output: options.eventsOutput,
      formats,
    },
    token: process.env[EVENTS_TOKEN_ENV] || undefined,
  };
}

export async function serve(options: ServeCommandOptions): Promise<void> {
  const flags: Partial<Record<LimitKey, string>> = {};
  for (const [attribute, key] of LIMIT_ATTRIBUTES) {
    const value = options[attribute];
    if (typeof value === 'string') flags[key] = value;
  }
  // Both throw INVALID_ARGUMENT naming the flag or variable: refused before anything starts.
  const limits = splitLimits(resolveLimits(flags, process.env));
  const corsOrigins = resolveCorsOrigins(options.corsOrigin, process.env);
  const storage = storageSettingsOf(options);
  const adminKeys = AdminKeys.fromSettings({ keyFile: options.adminKeyFile }, process.env);
  const apiKeys = ApiKeys.fromSettings({ keyFile: options.apiKeyFile }, process.env);
  const syncFlags: Partial<Record<ModelsSyncSettingKey, string>> = {};
  for (const row of MODELS_SYNC_SETTINGS) {
    const value = options[new Option(row.flag).attributeName()];
    if (typeof value === 'string') syncFlags[row.key] = value;
  }
  const modelsSync = resolveModelsSyncSettings(syncFlags, process.env, storage);
  const queue = queueSettingsOf(options);
  const events = eventsOf(options);
  const { shutdownTimeoutMs } = limits.process;
  const server = await startServer({
    modelsDir: options.models,
    provisionEmpty: true,
    port: options.port,
    host: options.host,
    defaultModel: options.defaultModel,
    batchRoot: options.batchRoot,
    evalRoot: options.evalRoot,
    urlFetch: { allow: options.allowUrl },
    limits: limits.http,
    corsOrigins,
    adminKeys,
    apiKeys,
    logger: { level: options.logLevel },
    predictionLog: options.predictionLog,
    monitoring: options.monitoring === 'on',
    storage,
    sampleSpoolBytes: limits.process.sampleSpoolBytes,
    watch: options.watch === 'on' ? { intervalMs: limits.process.watchIntervalMs } : undefined,
    modelsSync: modelsSync && { settings: modelsSync, intervalMs: limits.process.modelsSyncIntervalMs },
    unloadTimeoutMs: limits.process.unloadTimeoutMs,
    jobs: {
      queue,
      concurrency: options.jobConcurrency,
      webhookSecret: process.env[WEBHOOK_SECRET_ENV] || undefined,
      attempts: limits.process.jobAttempts,
      lockMs: limits.process.jobLockMs,
    },
    events,
  });
  const { log } = server.app;
  // The values in effect, once, so an operator can check what flags and environment amounted to.
  log.info(
    {
      limits: { ...limits.http, ...limits.process },
      cors_origins: corsOrigins,
      admin_api: adminKeys ? `on, ${adminKeys.size} key(s)` : 'off',
      api_keys: apiKeys ? `on, ${apiKeys.size} key(s)` : 'off: inference routes are open',
      watch: options.watch === 'on' || modelsSync !== undefined ? 'on' : 'off',
      models_sync: modelsSync
        ? `${modelsSync.url} at ${modelsSync.endpoint ?? `AWS ${modelsSync.region}`}`
        : 'off',
      storage: summarizeStorage(storage),
      job_queue: queue.kind === 'redis' ? 'redis' : 'in-process',
      events: events
        ? `${events.rule.prefix || '(whole store)'} -> ${events.rule.output} with ${options.eventsModel}` +
          (events.token
            ? ''
            : ', no sender token (SEGSERVE_EVENTS_TOKEN): anyone reaching the route can submit')
        : 'off',
    },
    'settings',
  );
  stopOnSignals(log, shutdownTimeoutMs, () => server.close(), {
    closing: 'shutting down: refusing new requests, finishing those in flight',
    inFlight: 'requests in flight',
    closed: 'shut down',
  });
}
