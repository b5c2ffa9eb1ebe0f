/**
 * The storage settings (src/storage/settings.ts): defaults, flag over environment, and refusals that name the
 * flag or variable, never echo a database password, and stop `segserve serve` before it opens anything.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isSegserveError } from '../../src/errors.js';
import {
  QUEUE_SETTINGS,
  resolveQueueSettings,
  resolveStorageSettings,
  STORAGE_SETTINGS,
  summarizeStorage,
} from '../../src/storage/index.js';
import { MODELS_SYNC_SETTINGS, resolveModelsSyncSettings } from '../../src/storage/settings.js';
import { runCli } from '../helpers/cli.js';

const CWD = '/srv/app';

function refusal(action: () => unknown): string {
  try {
    action();
  } catch (error) {
    if (isSegserveError(error) && error.code === 'INVALID_ARGUMENT') return error.message;
    throw error;
  }
  throw new Error('not refused');
}

describe('resolveStorageSettings', () => {
  it('defaults to the embedded database and a blob folder in ./data', () => {
    expect(resolveStorageSettings({}, {}, CWD)).toEqual({
      dataDir: '/srv/app/data',
      database: { kind: 'embedded', dir: '/srv/app/data/db' },
      blobs: { kind: 'filesystem', root: '/srv/app/data/blobs' },
    });
  });

  it('takes a flag over its variable, and an empty variable as unset', () => {
    const env = { SEGSERVE_DATA_DIR: '/var/segserve', SEGSERVE_DATABASE_URL: ' ' };
    expect(resolveStorageSettings({}, env, CWD).dataDir).toBe('/var/segserve');
    expect(resolveStorageSettings({ dataDir: 'mine' }, env, CWD).dataDir).toBe('/srv/app/mine');
    expect(resolveStorageSettings({}, env, CWD).database.kind).toBe('embedded');
  });

  it('reads PostgreSQL URLs and S3 URLs with their endpoint and region', () => {
    const settings = resolveStorageSettings(
      { s3Endpoint: 'http://minio:9000/' },
      {
        SEGSERVE_DATABASE_URL: 'postgresql://app:pw@db.internal:5433/segserve?sslmode=require',
        SEGSERVE_BLOB_URL: 's3://segserve-data/prod/images',
        AWS_DEFAULT_REGION: 'eu-west-3',
      },
      CWD,
    );
    expect(settings.database).toEqual({
      kind: 'postgres',
      url: 'postgresql://app:pw@db.internal:5433/segserve?sslmode=require',
    });
    expect(settings.blobs).toEqual({
      kind: 's3',
      bucket: 'segserve-data',
      prefix: 'prod/images/',
      endpoint: 'http://minio:9000',
      region: 'eu-west-3',
    });
    expect(resolveStorageSettings({ blobUrl: 's3://abc' }, { AWS_REGION: 'ap-south-1' }, CWD).blobs).toEqual({
      kind: 's3',
      bucket: 'abc',
      prefix: '',
      region: 'ap-south-1',
    });
    expect(resolveStorageSettings({ blobUrl: 's3://abc/' }, {}, CWD).blobs).toMatchObject({
      region: 'us-east-1',
    });
    expect(resolveStorageSettings({ blobUrl: 'file:///mnt/blobs' }, {}, CWD).blobs).toEqual({
      kind: 'filesystem',
      root: '/mnt/blobs',
    });
  });

  it('refuses a bad database URL naming the variable, without echoing it', () => {
    const message = refusal(() =>
      resolveStorageSettings({}, { SEGSERVE_DATABASE_URL: 'mysql://root:hunter2@db/app' }, CWD),
    );
    expect(message).toContain(
      'SEGSERVE_DATABASE_URL is not accepted (flag --database-url): its scheme is mysql',
    );
    expect(message).toContain('expected postgres://user:password@host:5432/database');
    expect(message).not.toContain('hunter2');
    expect(refusal(() => resolveStorageSettings({ databaseUrl: 'not a url' }, {}, CWD))).toContain(
      '--database-url is not accepted (env SEGSERVE_DATABASE_URL): it does not parse as a URL',
    );
  });

  it('refuses bad blob URLs and endpoints, every problem at once', () => {
    const message = refusal(() =>
      resolveStorageSettings({ blobUrl: 's3://Bad_Bucket/x' }, { SEGSERVE_S3_ENDPOINT: 'ftp://minio' }, CWD),
    );
    expect(message).toContain('--blob-url "s3://Bad_Bucket/x" is not accepted (env SEGSERVE_BLOB_URL)');
    expect(message).toContain('is not a valid S3 bucket name');
    expect(message).toContain('SEGSERVE_S3_ENDPOINT="ftp://minio" is not accepted (flag --s3-endpoint)');
    for (const [url, reason] of [
      ['http://bucket/x', 'its scheme is http'],
      ['s3://ab', 'is not a valid S3 bucket name'],
      ['s3://bucket/a//b', 'prefix "a//b" is not accepted'],
      ['s3://key:secret@bucket', 'credentials come from the AWS variables'],
      ['file://host/x', 'file:///absolute/folder'],
    ]) {
      expect(
        refusal(() => resolveStorageSettings({ blobUrl: url }, {}, CWD)),
        url,
      ).toContain(reason);
    }
  });

  it('refuses an S3 endpoint without an S3 blob URL: the blobs would stay on the local disk', () => {
    expect(
      refusal(() => resolveStorageSettings({}, { SEGSERVE_S3_ENDPOINT: 'http://minio:9000' }, CWD)),
    ).toContain(
      'SEGSERVE_S3_ENDPOINT="http://minio:9000" is not accepted (flag --s3-endpoint): the blob store is not S3; expected an s3:// blob URL (--blob-url) with it',
    );
  });

  it('summarizes the settings for the log with the database password masked', () => {
    const settings = resolveStorageSettings(
      { databaseUrl: 'postgres://app:hunter2@db:5432/segserve', blobUrl: 's3://bucket/p' },
      {},
      CWD,
    );
    expect(summarizeStorage(settings)).toEqual({
      data_dir: '/srv/app/data',
      database: 'postgres://app:***@db:5432/segserve',
      blobs: 's3://bucket/p/ at AWS us-east-1',
    });
  });
});

describe('resolveModelsSyncSettings (serve --models-sync)', () => {
  it('is off without a URL, and reads an s3 URL with its region and endpoint', () => {
    expect(resolveModelsSyncSettings({}, {})).toBeUndefined();
    expect(
      resolveModelsSyncSettings({ modelsSync: 's3://models-bucket/prod/repo' }, { AWS_REGION: 'eu-west-3' }),
    ).toEqual({
      bucket: 'models-bucket',
      prefix: 'prod/repo/',
      region: 'eu-west-3',
      url: 's3://models-bucket/prod/repo/',
    });
    expect(
      resolveModelsSyncSettings(
        {},
        { SEGSERVE_MODELS_SYNC: 's3://models-bucket', SEGSERVE_MODELS_SYNC_ENDPOINT: 'http://minio:9000/' },
      ),
    ).toMatchObject({ bucket: 'models-bucket', prefix: '', endpoint: 'http://minio:9000' });
  });

  it("takes the blob store's S3 endpoint unless given its own", () => {
    const storage = resolveStorageSettings(
      { blobUrl: 's3://data-bucket', s3Endpoint: 'http://minio:9000' },
      {},
      CWD,
    );
    expect(resolveModelsSyncSettings({ modelsSync: 's3://models-bucket' }, {}, storage)?.endpoint).toBe(
      'http://minio:9000',
    );
    expect(
      resolveModelsSyncSettings(
        { modelsSync: 's3://models-bucket', modelsSyncEndpoint: 'http://other:9000' },
        {},
        storage,
      )?.endpoint,
    ).toBe('http://other:9000');
  });

  it('refuses a URL that is not s3, a bad bucket, and an endpoint without a URL, naming each', () => {
    expect(refusal(() => resolveModelsSyncSettings({ modelsSync: 'file:///models' }, {}))).toBe(
      'invalid model sync settings: --models-sync "file:///models" is not accepted (env SEGSERVE_MODELS_SYNC): its scheme is not s3; expected s3://bucket[/prefix]',
    );
    expect(refusal(() => resolveModelsSyncSettings({}, { SEGSERVE_MODELS_SYNC: 's3://B' }))).toContain(
      'SEGSERVE_MODELS_SYNC="s3://B" is not accepted (flag --models-sync): bucket "B" is not a valid S3 bucket name',
    );
    expect(
      refusal(() => resolveModelsSyncSettings({ modelsSyncEndpoint: 'http://minio:9000' }, {})),
    ).toContain('no --models-sync URL is given');
  });
});

describe('resolveQueueSettings', () => {
  it('keeps the queues in the process unless a Redis URL is given; an empty one counts as none', () => {
    expect(resolveQueueSettings({}, {})).toEqual({ kind: 'in-process' });
    expect(resolveQueueSettings({}, { SEGSERVE_REDIS_URL: '  ' })).toEqual({ kind: 'in-process' });
    expect(resolveQueueSettings({}, { SEGSERVE_REDIS_URL: 'redis://redis:6379' })).toEqual({
      kind: 'redis',
      url: 'redis://redis:6379',
    });
    expect(
      resolveQueueSettings(
        { redisUrl: 'rediss://user:pw@cache.internal:6380/2' },
        { SEGSERVE_REDIS_URL: 'redis://x' },
      ),
    ).toEqual({ kind: 'redis', url: 'rediss://user:pw@cache.internal:6380/2' });
    // An empty flag overrides the variable: the way to keep one command's queues in its process.
    expect(resolveQueueSettings({ redisUrl: '' }, { SEGSERVE_REDIS_URL: 'redis://redis:6379' })).toEqual({
      kind: 'in-process',
    });
    expect(QUEUE_SETTINGS.map((row) => [row.flag, row.env])).toEqual([['--redis-url', 'SEGSERVE_REDIS_URL']]);
  });

  it('refuses a bad Redis URL naming the flag or variable, never echoing it', () => {
    for (const [url, reason] of [
      ['http://app:hunter2@redis:6379', 'its scheme is http'],
      ['redis://app:hunter2@redis:6379/db0', 'its path is not a database number'],
      ['redis://app:hunter2@redis:6379/0?family=6', 'it has a query or fragment'],
      ['redis:///0', 'it names no host'],
      ['not a url hunter2', 'it does not parse as a URL'],
    ]) {
      const message = refusal(() => resolveQueueSettings({}, { SEGSERVE_REDIS_URL: url }));
      expect(message, url).toContain(`SEGSERVE_REDIS_URL is not accepted (flag --redis-url): ${reason}`);
      expect(message, url).toContain('expected redis://[user:password@]host[:port][/db]');
      expect(message, url).not.toContain('hunter2');
    }
    expect(refusal(() => resolveQueueSettings({ redisUrl: 'redis//x' }, {}))).toContain(
      '--redis-url is not accepted (env SEGSERVE_REDIS_URL): it does not parse as a URL',
    );
  });
});

describe('segserve serve storage settings', () => {
  let scratch: string;

  beforeAll(async () => {
    scratch = await mkdtemp(join(tmpdir(), 'segserve-storage-settings-'));
  });

  afterAll(async () => {
    await rm(scratch, { recursive: true, force: true });
  });

  it('documents every storage flag with its variable in --help', async () => {
    const run = await runCli(['serve', '--help']);
    expect(run.code).toBe(0);
    const help = run.stdout.replace(/\s+/g, ' ');
    for (const row of [...STORAGE_SETTINGS, ...MODELS_SYNC_SETTINGS]) {
      expect(help).toContain(`${row.flag} ${row.value}`);
      expect(help).toContain(`env ${row.env}`);
    }
    expect(help).toContain('--watch [state]');
    expect(help).toContain('env: SEGSERVE_WATCH');
  });

  it('refuses a bad model sync URL before opening anything', async () => {
    const models = join(scratch, 'models');
    const run = await runCli(
      ['serve', '--models', models, '--port', '0', '--data-dir', join(scratch, 'data')],
      {
        SEGSERVE_MODELS_SYNC: 'https://bucket.example/models',
      },
    );
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(
      'error INVALID_ARGUMENT: invalid model sync settings: SEGSERVE_MODELS_SYNC=',
    );
    expect(existsSync(models)).toBe(false);
  });

  it('refuses a bad storage setting before opening anything', async () => {
    const models = join(scratch, 'models');
    const run = await runCli(
      ['serve', '--models', models, '--port', '0', '--data-dir', join(scratch, 'data')],
      {
        SEGSERVE_BLOB_URL: 'gs://bucket',
      },
    );
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(
      'error INVALID_ARGUMENT: invalid storage settings: SEGSERVE_BLOB_URL="gs://bucket"',
    );
    expect(existsSync(models)).toBe(false);
    expect(existsSync(join(scratch, 'data'))).toBe(false);
  });
});
