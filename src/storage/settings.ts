/**
 * Where segserve keeps its data, from flags and environment variables, parsed and checked in one place: the
 * data directory, the database (embedded, or a PostgreSQL URL) and the blob store (a folder, or an S3 URL).
 * As with the limits (src/http/settings.ts), a flag wins over its variable, an empty variable counts as unset,
 * and every bad value is reported at once, naming the flag or variable, before anything is opened.
 *
 * A database URL is never echoed: it may hold a password.
 */
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SegserveError } from '../errors.js';
import { checkPrefix } from './blob-keys.js';

export type StorageSettingKey = 'dataDir' | 'databaseUrl' | 'blobUrl' | 's3Endpoint';

export interface StorageSettingSpec {
  key: StorageSettingKey;
  flag: `--${string}`;
  env: `SEGSERVE_${string}`;
  /** Placeholder in --help, e.g. `<dir>`. */
  value: string;
  description: string;
}

export const STORAGE_SETTINGS: readonly StorageSettingSpec[] = [
  {
    key: 'dataDir',
    flag: '--data-dir',
    env: 'SEGSERVE_DATA_DIR',
    value: '<dir>',
    description: 'folder of the embedded database and the blob folder (default ./data)',
  },
  {
    key: 'databaseUrl',
    flag: '--database-url',
    env: 'SEGSERVE_DATABASE_URL',
    value: '<url>',
    description:
      'postgres://user:password@host:5432/database (default: the embedded database in <data dir>/db)',
  },
  {
    key: 'blobUrl',
    flag: '--blob-url',
    env: 'SEGSERVE_BLOB_URL',
    value: '<url>',
    description:
      's3://bucket[/prefix] (credentials from the AWS variables) or file:///folder (default: <data dir>/blobs)',
  },
  {
    key: 's3Endpoint',
    flag: '--s3-endpoint',
    env: 'SEGSERVE_S3_ENDPOINT',
    value: '<url>',
    description: 'S3-protocol server for an s3:// blob URL, e.g. http://minio:9000 (default: AWS)',
  },
];

export type DatabaseSettings = { kind: 'embedded'; dir: string } | { kind: 'postgres'; url: string };

export type BlobSettings =
  | { kind: 'filesystem'; root: string }
  | { kind: 's3'; bucket: string; prefix: string; endpoint?: string; region: string };

export interface StorageSettings {
  dataDir: string;
  database: DatabaseSettings;
  blobs: BlobSettings;
}

type Environment = Readonly<Record<string, string | undefined>>;

/** S3's bucket naming rules: 3-63 lower-case letters, digits, dots and dashes, a letter or digit at each end. */
const BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

/** Why a database URL is refused, or undefined; never quoting it. */
function databaseUrlProblem(text: string): string | undefined {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return 'it does not parse as a URL';
  }
  if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') {
    return `its scheme is ${url.protocol.slice(0, -1)}`;
  }
  return url.hostname === '' && !url.searchParams.has('host') ? 'it names no host' : undefined;
}

function parseBlobUrl(text: string, region: string): BlobSettings | string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return 'it does not parse as a URL';
  }
  if (url.protocol === 'file:') {
    if (url.host !== '' || url.search || url.hash) return 'a file: URL is file:///absolute/folder';
    return { kind: 'filesystem', root: fileURLToPath(url) };
  }
  if (url.protocol !== 's3:') return `its scheme is ${url.protocol.slice(0, -1)}`;
  if (url.username || url.password || url.port || url.search || url.hash) {
    return 'an s3: URL is s3://bucket[/prefix]; credentials come from the AWS variables';
  }
  if (!BUCKET.test(url.hostname)) {
    return `bucket "${url.hostname}" is not a valid S3 bucket name (3 to 63 lower-case letters, digits, dots, dashes)`;
  }
  const path = decodeURIComponent(url.pathname.replace(/^\//, ''));
  const prefix = path === '' || path.endsWith('/') ? path : `${path}/`;
  try {
    checkPrefix(prefix);
  } catch (error) {
    return `prefix "${path}" is not accepted: ${error instanceof SegserveError ? error.details.reason : error}`;
  }
  return { kind: 's3', bucket: url.hostname, prefix, region };
}

function endpointProblem(text: string): string | undefined {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return 'it does not parse as a URL';
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return 'it is not http:// or https://';
  if (url.username || url.password) return 'credentials come from the AWS variables, not the URL';
  if (url.pathname !== '/' || url.search || url.hash) return 'it must be scheme://host[:port] only';
  return undefined;
}

/**
 * The storage settings in effect: each from its flag (raw text), else its environment variable, else the
 * default; relative folders against `cwd`. INVALID_ARGUMENT lists every problem.
 */
export function resolveStorageSettings(
  flags: Partial<Record<StorageSettingKey, string>>,
  env: Environment = process.env,
  cwd: string = process.cwd(),
): StorageSettings {
  const problems: string[] = [];
  const given: Partial<Record<StorageSettingKey, { text: string; source: string }>> = {};
  for (const spec of STORAGE_SETTINGS) {
    const flagText = flags[spec.key];
    const envText = env[spec.env]?.trim() ? env[spec.env] : undefined;
    const text = flagText ?? envText;
    if (text !== undefined) given[spec.key] = { text, source: flagText !== undefined ? spec.flag : spec.env };
  }
  /** Refuses a given setting, naming its flag or variable the way the limits do; `quote` shows its value. */
  const refuse = (key: StorageSettingKey, problem: string, expected: string, quote = true) => {
    const spec = STORAGE_SETTINGS.find((row) => row.key === key);
    const setting = given[key];
    if (!spec || !setting) return;
    const fromFlag = setting.source === spec.flag;
    const value = quote ? `${fromFlag ? ' ' : '='}${JSON.stringify(setting.text)}` : '';
    problems.push(
      `${setting.source}${value} is not accepted (${fromFlag ? `env ${spec.env}` : `flag ${spec.flag}`}): ` +
        `${problem}; expected ${expected}`,
    );
  };

  const dataDir = resolve(cwd, given.dataDir?.text ?? 'data');

  let database: DatabaseSettings = { kind: 'embedded', dir: join(dataDir, 'db') };
  if (given.databaseUrl) {
    const problem = databaseUrlProblem(given.databaseUrl.text);
    if (problem) refuse('databaseUrl', problem, 'postgres://user:password@host:5432/database', false);
    else database = { kind: 'postgres', url: given.databaseUrl.text };
  }

  const region = env.AWS_REGION?.trim() || env.AWS_DEFAULT_REGION?.trim() || 'us-east-1';
  let blobs: BlobSettings = { kind: 'filesystem', root: join(dataDir, 'blobs') };
  const blobUrl = given.blobUrl && parseBlobUrl(given.blobUrl.text, region);
  if (typeof blobUrl === 'string') {
    refuse('blobUrl', blobUrl, 's3://bucket[/prefix] or file:///folder');
  } else if (blobUrl) blobs = blobUrl;
  if (given.s3Endpoint) {
    const problem = endpointProblem(given.s3Endpoint.text);
    if (problem) {
      refuse('s3Endpoint', problem, 'http(s)://host[:port]');
    } else if (blobs.kind === 's3') {
      blobs = { ...blobs, endpoint: given.s3Endpoint.text.replace(/\/$/, '') };
    } else if (typeof blobUrl !== 'string') {
      // An endpoint without an s3:// URL would leave the blobs on the local disk while the operator believes
      // them in the bucket.
      refuse('s3Endpoint', 'the blob store is not S3', 'an s3:// blob URL (--blob-url) with it');
    }
  }
  if (problems.length > 0) {
    throw new SegserveError('INVALID_ARGUMENT', {
      reason: `invalid storage settings: ${problems.join('; ')}`,
    });
  }
  return { dataDir, database, blobs };
}

/** The settings for a log line: where the data goes, with a database URL's password masked. */
export function summarizeStorage(settings: StorageSettings): Record<string, string> {
  const { database, blobs } = settings;
  let db = `embedded (${database.kind === 'embedded' ? database.dir : ''})`;
  if (database.kind === 'postgres') {
    const url = new URL(database.url);
    if (url.password) url.password = '***';
    db = url.toString();
  }
  return {
    data_dir: settings.dataDir,
    database: db,
    blobs:
      blobs.kind === 'filesystem'
        ? blobs.root
        : `s3://${blobs.bucket}/${blobs.prefix} at ${blobs.endpoint ?? `AWS ${blobs.region}`}`,
  };
}

// ---- the model repository mirrored from a bucket (`serve` and `worker --models-sync`) ------------------------

export type ModelsSyncSettingKey = 'modelsSync' | 'modelsSyncEndpoint';

export const MODELS_SYNC_SETTINGS: ReadonlyArray<
  Omit<StorageSettingSpec, 'key'> & { key: ModelsSyncSettingKey }
> = [
  {
    key: 'modelsSync',
    flag: '--models-sync',
    env: 'SEGSERVE_MODELS_SYNC',
    value: '<url>',
    description:
      's3://bucket[/prefix] mirrored into the model folder now and then, the watch applying what changed (credentials from the AWS variables; default: none)',
  },
  {
    key: 'modelsSyncEndpoint',
    flag: '--models-sync-endpoint',
    env: 'SEGSERVE_MODELS_SYNC_ENDPOINT',
    value: '<url>',
    description:
      'S3-protocol server of --models-sync, e.g. http://minio:9000 (default: --s3-endpoint, else AWS)',
  },
];

export interface ModelsSyncSettings {
  bucket: string;
  /** '' or ending in `/`. */
  prefix: string;
  endpoint?: string;
  region: string;
  /** As given, for logs: `s3://bucket/prefix`. */
  url: string;
}

/**
 * Where the model repository is mirrored from, or undefined when no URL is given. The endpoint is its own flag,
 * else the blob store's S3 endpoint (one MinIO usually holds both), else AWS. INVALID_ARGUMENT names the flag or
 * variable of every bad value.
 */
export function resolveModelsSyncSettings(
  flags: Partial<Record<ModelsSyncSettingKey, string>>,
  env: Environment = process.env,
  storage?: StorageSettings,
): ModelsSyncSettings | undefined {
  const problems: string[] = [];
  const given = (key: ModelsSyncSettingKey) => {
    const spec = MODELS_SYNC_SETTINGS.find((row) => row.key === key)!;
    const flagText = flags[key];
    const envText = env[spec.env]?.trim() ? env[spec.env] : undefined;
    const text = flagText ?? envText;
    if (text === undefined) return undefined;
    const fromFlag = flagText !== undefined;
    return {
      text,
      refuse: (problem: string, expected: string) =>
        problems.push(
          `${fromFlag ? spec.flag : spec.env}${fromFlag ? ' ' : '='}${JSON.stringify(text)} is not accepted ` +
            `(${fromFlag ? `env ${spec.env}` : `flag ${spec.flag}`}): ${problem}; expected ${expected}`,
        ),
    };
  };
  const url = given('modelsSync');
  const endpoint = given('modelsSyncEndpoint');
  const region = env.AWS_REGION?.trim() || env.AWS_DEFAULT_REGION?.trim() || 'us-east-1';
  let settings: ModelsSyncSettings | undefined;
  if (url) {
    const parsed = url.text.startsWith('s3:') ? parseBlobUrl(url.text, region) : 'its scheme is not s3';
    if (typeof parsed === 'string') url.refuse(parsed, 's3://bucket[/prefix]');
    else if (parsed.kind === 's3') {
      const { bucket, prefix } = parsed;
      settings = { bucket, prefix, region, url: `s3://${bucket}/${prefix}` };
      if (storage?.blobs.kind === 's3' && storage.blobs.endpoint) settings.endpoint = storage.blobs.endpoint;
    }
  }
  if (endpoint) {
    const problem = endpointProblem(endpoint.text);
    if (problem) endpoint.refuse(problem, 'http(s)://host[:port]');
    else if (!url) endpoint.refuse('no --models-sync URL is given', 'an s3:// URL (--models-sync) with it');
    else if (settings) settings.endpoint = endpoint.text.replace(/\/$/, '');
  }
  if (problems.length > 0) {
    throw new SegserveError('INVALID_ARGUMENT', {
      reason: `invalid model sync settings: ${problems.join('; ')}`,
    });
  }
  return settings;
}

// ---- the work queues: in this process, or BullMQ on Redis ------------------------------------------------------

export type QueueSettingKey = 'redisUrl';

export const QUEUE_SETTINGS: ReadonlyArray<Omit<StorageSettingSpec, 'key'> & { key: QueueSettingKey }> = [
  {
    key: 'redisUrl',
    flag: '--redis-url',
    env: 'SEGSERVE_REDIS_URL',
    value: '<url>',
    description:
      'redis://[user:password@]host:6379[/db] (rediss:// for TLS): work queues in Redis, shared by every process using it (default: queues in this process)',
  },
];

/** `prefix`: of every Redis key (SEGSERVE_REDIS_PREFIX), so several installations share one Redis. */
export type QueueSettings = { kind: 'in-process' } | { kind: 'redis'; url: string; prefix?: string };

export const REDIS_PREFIX_ENV = 'SEGSERVE_REDIS_PREFIX';

/** Why a Redis URL is refused, or undefined; never quoting it (it may hold a password). */
export function redisUrlProblem(text: string): string | undefined {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return 'it does not parse as a URL';
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:')
    return `its scheme is ${url.protocol.slice(0, -1)}`;
  if (url.hostname === '') return 'it names no host';
  if (!/^\/?([0-9]+)?$/.test(url.pathname)) return 'its path is not a database number';
  if (url.search || url.hash) return 'it has a query or fragment, which are not read';
  return undefined;
}

/**
 * Where the work queues live: Redis at the URL of the flag, else of the variable, else in this process. An empty
 * value counts as unset, so `--redis-url ''` keeps the queues in the process whatever the environment says.
 * INVALID_ARGUMENT names the flag or variable of a bad URL, without echoing it.
 */
export function resolveQueueSettings(
  flags: Partial<Record<QueueSettingKey, string>>,
  env: Environment = process.env,
): QueueSettings {
  const [spec] = QUEUE_SETTINGS;
  const fromFlag = flags.redisUrl !== undefined;
  const text = (fromFlag ? flags.redisUrl : env[spec.env])?.trim() ?? '';
  if (text === '') return { kind: 'in-process' };
  const problem = redisUrlProblem(text);
  if (problem) {
    throw new SegserveError('INVALID_ARGUMENT', {
      reason:
        `invalid queue settings: ${fromFlag ? spec.flag : spec.env} is not accepted ` +
        `(${fromFlag ? `env ${spec.env}` : `flag ${spec.flag}`}): ${problem}; ` +
        'expected redis://[user:password@]host[:port][/db] or rediss://...',
    });
  }
  const prefix = env[REDIS_PREFIX_ENV]?.trim();
  if (prefix && !/^[A-Za-z0-9._-]{1,64}$/.test(prefix)) {
    throw new SegserveError('INVALID_ARGUMENT', {
      reason: `${REDIS_PREFIX_ENV} must be 1-64 letters, digits, ".", "_" or "-"`,
    });
  }
  return { kind: 'redis', url: text, ...(prefix ? { prefix } : {}) };
}
