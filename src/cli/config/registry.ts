/**
 * Every setting of segserve's long-running commands in one list: its config-file key, the flag of each command
 * that takes it, its environment variable, its default and what it does. The tables that already define groups
 * of settings with their parsers (the limits of src/http/settings.ts, the storage, model-sync and queue
 * settings of src/storage/settings.ts, the key variables of the HTTP adapters) feed it unchanged; the settings
 * that were scattered over the commands are declared here, and the commands build their options from these rows
 * (`settingOption`). The README's "Configuration" table, the config file's keys and the test that every
 * variable a manifest sets is one segserve reads all come from this list, so none of them can drift.
 */
import { Option } from 'commander';
import { ADMIN_KEY_FILE_ENV, ADMIN_KEYS_ENV } from '../../http/admin-auth.js';
import { API_KEY_FILE_ENV, API_KEYS_ENV } from '../../http/api-keys.js';
import { CORS_ORIGINS_ENV, formatLimitValue, formatRange, SERVER_LIMITS } from '../../http/settings.js';
import { PREDICTION_LOG_LEVELS } from '../../monitoring/prediction-log.js';
import {
  MODELS_SYNC_SETTINGS,
  QUEUE_SETTINGS,
  REDIS_PREFIX_ENV,
  STORAGE_SETTINGS,
} from '../../storage/settings.js';

/** The commands that read settings; `models push`, `jobs` and `train` are clients of a running server. */
export type SettingCommand = 'serve' | 'worker' | 'datasets' | 'models push' | 'jobs' | 'train';

export type Flag = `--${string}`;

export interface Setting {
  /** The key in a config file (`--config segserve.yaml`): the flag's name, or the variable's for those without. */
  key: string;
  env: string;
  /** The flag each command takes it with; null where a command reads only the variable (secrets). */
  commands: Partial<Record<SettingCommand, Flag | null>>;
  /** As the README shows it; '' when there is none. */
  default: string;
  description: string;
  /** Passwords, keys and tokens: never a flag (shell history, `ps`), and better from a Secret than a file. */
  secret?: boolean;
  group: SettingGroup;
}

export type SettingGroup =
  | 'process'
  | 'limits'
  | 'storage'
  | 'models'
  | 'jobs'
  | 'security'
  | 'training'
  | 'client';

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace'] as const;

/** Settings that have no table of their own elsewhere: the options of `serve` and `worker`, and secrets. */
const OWN: readonly Setting[] = [
  {
    key: 'config',
    env: 'SEGSERVE_CONFIG',
    commands: { serve: '--config', worker: '--config' },
    default: '',
    description:
      "YAML file of settings, keys as in the README's Configuration table (`max-image-bytes: 8MiB`); a flag or a variable wins over it",
    group: 'process',
  },
  {
    key: 'port',
    env: 'PORT',
    commands: { serve: '--port', worker: '--port' },
    default: '8080 (serve), 9091 (worker)',
    description: 'port to listen on (the worker: for /healthz, /readyz and /metrics)',
    group: 'process',
  },
  {
    key: 'host',
    env: 'HOST',
    commands: { serve: '--host', worker: '--host' },
    default: '0.0.0.0',
    description: 'address to listen on',
    group: 'process',
  },
  {
    key: 'log-level',
    env: 'LOG_LEVEL',
    commands: { serve: '--log-level', worker: '--log-level' },
    default: 'info',
    description: `least severe level logged: ${LOG_LEVELS.join(', ')}`,
    group: 'process',
  },
  {
    key: 'debug',
    env: 'SEGSERVE_DEBUG',
    commands: { serve: null, worker: null, datasets: null, 'models push': null },
    default: '',
    description: 'any value: an unforeseen error prints its stack trace',
    group: 'process',
  },
  {
    key: 'models',
    env: 'SEGSERVE_MODELS',
    commands: { serve: '--models', worker: '--models' },
    default: './models',
    description: 'model repository folder',
    group: 'models',
  },
  {
    key: 'default-model',
    env: 'SEGSERVE_DEFAULT_MODEL',
    commands: { serve: '--default-model' },
    default: '',
    description: 'model for requests that name none (default: the first ready model)',
    group: 'models',
  },
  {
    key: 'watch',
    env: 'SEGSERVE_WATCH',
    commands: { serve: '--watch' },
    default: 'on',
    description:
      'apply changes of the model folder by themselves: new, removed and changed models and versions load and ' +
      'unload without a restart, each once its files stop changing (off: only the admin routes change what is served)',
    group: 'models',
  },
  {
    key: 'monitoring',
    env: 'SEGSERVE_MONITORING',
    commands: { serve: '--monitoring' },
    default: 'on',
    description:
      'off: no /metrics, no drift monitoring, no monitor page data (to measure what monitoring costs, or to run without it)',
    group: 'process',
  },
  {
    key: 'prediction-log',
    env: 'SEGSERVE_PREDICTION_LOG',
    commands: { serve: '--prediction-log' },
    default: 'info',
    description: `one log line per prediction at this level, or off (${PREDICTION_LOG_LEVELS.join(', ')})`,
    group: 'process',
  },
  {
    key: 'batch-root',
    env: 'SEGSERVE_BATCH_ROOT',
    commands: { serve: '--batch-root' },
    default: '',
    description: 'folder /predict/batch may read {"paths"} from (default: paths refused)',
    group: 'security',
  },
  {
    key: 'eval-root',
    env: 'SEGSERVE_EVAL_ROOT',
    commands: { serve: '--eval-root' },
    default: '',
    description:
      'folder the evaluation API may read dataset paths from (default: only dataset:<name> sources)',
    group: 'security',
  },
  {
    key: 'allow-url',
    env: 'SEGSERVE_ALLOW_URL',
    commands: { serve: '--allow-url', worker: '--allow-url' },
    default: '',
    description:
      'addresses or CIDR ranges URL downloads may reach although private or loopback (repeatable, comma-separated)',
    group: 'security',
  },
  {
    key: 'cors-origin',
    env: CORS_ORIGINS_ENV,
    commands: { serve: '--cors-origin' },
    default: '',
    description:
      'browser origins allowed to call the API cross-origin, e.g. https://app.example.com, or * for any ' +
      '(repeatable, comma-separated; default: none, no CORS headers)',
    group: 'security',
  },
  {
    key: 'admin-key-file',
    env: ADMIN_KEY_FILE_ENV,
    commands: { serve: '--admin-key-file' },
    default: '',
    description:
      'admin keys, one per line, plain or as sha256:<hex> from `segserve admin hash-key` (default: none, the admin API is off)',
    group: 'security',
  },
  {
    key: 'admin-keys',
    env: ADMIN_KEYS_ENV,
    commands: { serve: null },
    default: '',
    description: 'admin keys, comma-separated (with or instead of the key file)',
    secret: true,
    group: 'security',
  },
  {
    key: 'api-key-file',
    env: API_KEY_FILE_ENV,
    commands: { serve: '--api-key-file' },
    default: '',
    description:
      'API keys for the inference routes, one per line: <name> <key or sha256:hex> [rate=N/s|m|h] [burst=N] [revoked] ' +
      '(default: none, the routes are open)',
    group: 'security',
  },
  {
    key: 'api-keys',
    env: API_KEYS_ENV,
    commands: { serve: null },
    default: '',
    description: 'API keys, comma-separated (with or instead of the key file)',
    secret: true,
    group: 'security',
  },
  {
    key: 'job-concurrency',
    env: 'SEGSERVE_JOB_CONCURRENCY',
    commands: { serve: '--job-concurrency', worker: '--concurrency' },
    default: 'serve: 2 with the in-process queue, 0 with Redis; worker: 2',
    description: 'batch-job inputs this process runs at once',
    group: 'jobs',
  },
  {
    key: 'redis-prefix',
    env: REDIS_PREFIX_ENV,
    commands: { serve: null, worker: null },
    default: 'segserve',
    description: 'prefix of every Redis key, so several installations share one Redis',
    group: 'jobs',
  },
  {
    key: 'webhook-secret',
    env: 'SEGSERVE_WEBHOOK_SECRET',
    commands: { serve: null },
    default: '',
    description: 'signs the webhooks of jobs that name no secret of their own',
    secret: true,
    group: 'jobs',
  },
  {
    key: 'events-model',
    env: 'SEGSERVE_EVENTS_MODEL',
    commands: { serve: '--events-model' },
    default: '',
    description:
      'turn storage events posted to /v1/events into jobs for this model (or endpoint); also events-prefix and events-output',
    group: 'jobs',
  },
  {
    key: 'events-prefix',
    env: 'SEGSERVE_EVENTS_PREFIX',
    commands: { serve: '--events-prefix' },
    default: '',
    description: 'objects created under this prefix of the blob store (or s3://bucket/prefix/) are segmented',
    group: 'jobs',
  },
  {
    key: 'events-output',
    env: 'SEGSERVE_EVENTS_OUTPUT',
    commands: { serve: '--events-output' },
    default: '',
    description: 'where the outputs of storage-event jobs go',
    group: 'jobs',
  },
  {
    key: 'events-formats',
    env: 'SEGSERVE_EVENTS_FORMATS',
    commands: { serve: '--events-formats' },
    default: 'json',
    description: 'outputs of storage-event jobs, comma-separated: json, coco, png, overlay',
    group: 'jobs',
  },
  {
    key: 'events-token',
    env: 'SEGSERVE_EVENTS_TOKEN',
    commands: { serve: null },
    default: '',
    description:
      'token the storage-event senders must present (default: none, anyone reaching the route can submit)',
    secret: true,
    group: 'jobs',
  },
  {
    key: 'aws-region',
    env: 'AWS_REGION',
    commands: { serve: null, worker: null, datasets: null },
    default: 'us-east-1',
    description: 'region of the S3 buckets (also AWS_DEFAULT_REGION)',
    group: 'storage',
  },
  {
    key: 'aws-access-key-id',
    env: 'AWS_ACCESS_KEY_ID',
    commands: { serve: null, worker: null, datasets: null },
    default: '',
    description: "S3 credentials, read by the AWS SDK (default: the SDK's chain: instance role, profile...)",
    secret: true,
    group: 'storage',
  },
  {
    key: 'aws-secret-access-key',
    env: 'AWS_SECRET_ACCESS_KEY',
    commands: { serve: null, worker: null, datasets: null },
    default: '',
    description: 'the secret of AWS_ACCESS_KEY_ID',
    secret: true,
    group: 'storage',
  },
  {
    key: 'python',
    env: 'SEGSERVE_PYTHON',
    commands: { train: null },
    default: '/usr/bin/python3, else python3',
    description: 'the Python with PyTorch that runs the reference trainer (training/)',
    group: 'training',
  },
  {
    key: 'model',
    env: 'SEGSERVE_MODEL',
    commands: { train: null },
    default: '',
    description:
      "the model trained when --model is not given (the retraining trigger's command hook sets it)",
    group: 'training',
  },
  {
    key: 'dataset',
    env: 'SEGSERVE_DATASET',
    commands: { train: null },
    default: '',
    description: 'the dataset trained on when --data and --dataset are not given (set by the command hook)',
    group: 'training',
  },
  {
    key: 'dataset-version',
    env: 'SEGSERVE_DATASET_VERSION',
    commands: { train: null },
    default: 'latest',
    description: 'the version of SEGSERVE_DATASET (set by the command hook)',
    group: 'training',
  },
  {
    key: 'server',
    env: 'SEGSERVE_SERVER',
    commands: { 'models push': '--server', jobs: '--server' },
    default: 'http://127.0.0.1:8080',
    description: 'the server the client commands talk to',
    group: 'client',
  },
  {
    key: 'admin-key',
    env: 'SEGSERVE_ADMIN_KEY',
    commands: { 'models push': null, train: null },
    default: '',
    description: 'the admin key `segserve models push` and `segserve train --push` present',
    secret: true,
    group: 'client',
  },
  {
    key: 'api-key',
    env: 'SEGSERVE_API_KEY',
    commands: { 'models push': null, jobs: null },
    default: '',
    description: 'the API key the client commands present to a server that requires one',
    secret: true,
    group: 'client',
  },
];

/** Limits: every one is read from the environment by `serve` and `worker` alike (one ConfigMap for both). */
const LIMITS: readonly Setting[] = SERVER_LIMITS.map((row) => ({
  key: row.flag.slice(2),
  env: row.env,
  commands: { serve: row.flag, worker: null },
  default: formatLimitValue(row.default, row.unit),
  description: `${row.description} Accepted: ${formatRange(row)}.`,
  group: 'limits',
}));

const STORAGE: readonly Setting[] = STORAGE_SETTINGS.map((row) => ({
  key: row.flag.slice(2),
  env: row.env,
  commands: { serve: row.flag, worker: row.flag, datasets: row.flag },
  default: '',
  description: row.description,
  group: 'storage',
}));

const SYNC_AND_QUEUE: readonly Setting[] = [
  ...MODELS_SYNC_SETTINGS.map(
    (row): Setting => ({
      key: row.flag.slice(2),
      env: row.env,
      commands: { serve: row.flag, worker: row.flag },
      default: '',
      description: row.description,
      group: 'models',
    }),
  ),
  ...QUEUE_SETTINGS.map(
    (row): Setting => ({
      key: row.flag.slice(2),
      env: row.env,
      commands: { serve: row.flag, worker: row.flag },
      default: '',
      description: row.description,
      group: 'jobs',
    }),
  ),
];

const GROUP_ORDER: readonly SettingGroup[] = [
  'process',
  'models',
  'storage',
  'jobs',
  'security',
  'limits',
  'training',
  'client',
];

/** Every setting, grouped in the README's order. */
export const SETTINGS: readonly Setting[] = [...OWN, ...LIMITS, ...STORAGE, ...SYNC_AND_QUEUE].sort(
  (a, b) => GROUP_ORDER.indexOf(a.group) - GROUP_ORDER.indexOf(b.group),
);

const BY_KEY = new Map(SETTINGS.map((setting) => [setting.key, setting]));

export function settingByKey(key: string): Setting | undefined {
  return BY_KEY.get(key);
}

/** The environment variables segserve reads, for checks of deployment files. */
export function settingEnvNames(): Set<string> {
  return new Set([...SETTINGS.map((setting) => setting.env), 'AWS_DEFAULT_REGION']);
}

/**
 * The option of `command` for setting `key`, with its variable and description from the row; parsers, choices
 * and defaults stay with the command (they are code). Throws when the row gives that command no flag, so a
 * command cannot grow an option the table does not list.
 */
export function settingOption(
  key: string,
  command: SettingCommand,
  value: string,
  short?: `-${string}`,
): Option {
  const setting = BY_KEY.get(key);
  const flag = setting?.commands[command];
  if (!setting || !flag) throw new Error(`no setting "${key}" with a flag for ${command} in the registry`);
  return new Option(`${short ? `${short}, ` : ''}${flag} ${value}`, setting.description).env(setting.env);
}

export { LOG_LEVELS };
