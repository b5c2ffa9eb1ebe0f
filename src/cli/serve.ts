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
import type { StorageSettings } from '../storage/index.js';
import {
  MODELS_SYNC_SETTINGS,
  type ModelsSyncSettingKey,
  type ModelsSyncSettings,
  QUEUE_SETTINGS,
  type QueueSettingKey,
  type QueueSettings,
  resolveModelsSyncSettings,
  resolveQueueSettings,
  summarizeStorage,
} from '../storage/settings.js';
import { list, port } from './arguments.js';
import { type AppliedConfig, configOption, describeConfig } from './config/file.js';
import { LOG_LEVELS, settingByKey, settingOption } from './config/registry.js';
import { parseFormats } from './predict.js';
import { stopOnSignals } from './signals.js';
import { addStorageOptions, storageSettingsOf } from './storage-options.js';

/** Secrets only from the environment: flags end up in shell history and `ps`. */
export const WEBHOOK_SECRET_ENV = 'SEGSERVE_WEBHOOK_SECRET';
export const EVENTS_TOKEN_ENV = 'SEGSERVE_EVENTS_TOKEN';

export interface ServeCommandOptions {
  config?: AppliedConfig;
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
 * The `serve` command. `--config` comes first: it fills the environment the options after it read (see
 * configOption).
 */
export function addServeCommand(program: Command, modelsOption: () => Option): Command {
  const command = program
    .command('serve')
    .description(
      'serve the models over HTTP: /v1 segmentation API, /predict routes, /v2 inference protocol, /docs',
    )
    .addOption(configOption('serve'))
    .addOption(modelsOption())
    // PORT as Cloud Run and most platforms set it; the command line wins over the environment.
    .addOption(settingOption('port', 'serve', '<n>', '-p').argParser(port).default(8080))
    .addOption(settingOption('host', 'serve', '<address>').default('0.0.0.0'))
    .addOption(settingOption('default-model', 'serve', '<name>'))
    .addOption(settingOption('batch-root', 'serve', '<dir>'))
    .addOption(settingOption('eval-root', 'serve', '<dir>'))
    .addOption(settingOption('allow-url', 'serve', '<cidr>').argParser(list).default([]))
    .addOption(settingOption('log-level', 'serve', '<level>').choices(LOG_LEVELS).default('info'));
  return addServeSettingOptions(command).action(serve);
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
    settingOption('prediction-log', 'serve', '<level>').choices(PREDICTION_LOG_LEVELS).default('info'),
  );
  command.addOption(settingOption('monitoring', 'serve', '<state>').choices(['on', 'off']).default('on'));
  command.addOption(
    settingOption('watch', 'serve', '[state]').choices(['on', 'off']).preset('on').default('on'),
  );
  addModelsSyncOptions(command);
  command.addOption(
    new Option(
      '--admin-key-file <file>',
      `${settingByKey('admin-key-file')?.description} (env ${ADMIN_KEY_FILE_ENV}; also ${ADMIN_KEYS_ENV}, comma-separated)`,
    ),
  );
  command.addOption(
    new Option(
      '--api-key-file <file>',
      `${settingByKey('api-key-file')?.description} (env ${API_KEY_FILE_ENV}; also ${API_KEYS_ENV}, comma-separated)`,
    ),
  );
  for (const row of QUEUE_SETTINGS) {
    command.addOption(new Option(`${row.flag} ${row.value}`, `${row.description} (env ${row.env})`));
  }
  command.addOption(settingOption('job-concurrency', 'serve', '<n>').argParser(jobConcurrency));
  command.addOption(settingOption('events-model', 'serve', '<name>'));
  command.addOption(settingOption('events-prefix', 'serve', '<prefix>').default(''));
  command.addOption(settingOption('events-output', 'serve', '<prefix>'));
  command.addOption(settingOption('events-formats', 'serve', '<list>').default('json'));
  // No .env(): resolveCorsOrigins reads the variable itself, so its errors name the variable, not the flag.
  command.option(
    '--cors-origin <origin>',
    `${settingByKey('cors-origin')?.description} (env ${CORS_ORIGINS_ENV})`,
    collectOrigins,
  );
  return command;
}

/** `--models-sync` and its endpoint, for `serve` and `worker` alike (no parser or default: see below). */
export function addModelsSyncOptions(command: Command): Command {
  for (const row of MODELS_SYNC_SETTINGS) {
    command.addOption(new Option(`${row.flag} ${row.value}`, `${row.description} (env ${row.env})`));
  }
  return command;
}

/** Where the model folder is mirrored from, or undefined; INVALID_ARGUMENT names a bad flag or variable. */
export function modelsSyncSettingsOf(
  options: Readonly<Record<string, unknown>>,
  storage: StorageSettings,
): ModelsSyncSettings | undefined {
  const flags: Partial<Record<ModelsSyncSettingKey, string>> = {};
  for (const row of MODELS_SYNC_SETTINGS) {
    const value = options[new Option(row.flag).attributeName()];
    if (typeof value === 'string') flags[row.key] = value;
  }
  return resolveModelsSyncSettings(flags, process.env, storage);
}

/** How a sync is described in the `settings` log line of `serve` and `worker`. */
export function describeModelsSync(settings: ModelsSyncSettings | undefined): string {
  return settings ? `${settings.url} at ${settings.endpoint ?? `AWS ${settings.region}`}` : 'off';
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
  const modelsSync = modelsSyncSettingsOf(options, storage);
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
      config_file: describeConfig(options.config),
      limits: { ...limits.http, ...limits.process },
      cors_origins: corsOrigins,
      admin_api: adminKeys ? `on, ${adminKeys.size} key(s)` : 'off',
      api_keys: apiKeys ? `on, ${apiKeys.size} key(s)` : 'off: inference routes are open',
      watch: options.watch === 'on' || modelsSync !== undefined ? 'on' : 'off',
      models_sync: describeModelsSync(modelsSync),
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
