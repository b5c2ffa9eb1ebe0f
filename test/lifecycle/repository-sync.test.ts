/**
 * A model repository mirrored from an S3 prefix (`--models-sync`), against a real S3-protocol server (s3rver in a
 * child process): objects added, changed and deleted reach the local folder; the server stopped and started
 * again is reported and the sync resumes; a pass that fails mid-way leaves no half-written file; and a server
 * started with the sync serves the bucket's models, following them as they change.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { SegserveError } from '../../src/errors.js';
import { startServer } from '../../src/host/server.js';
import { RepositorySync, SYNC_MANIFEST, type SyncEvent } from '../../src/lifecycle/repository-sync.js';
import type { BlobStore } from '../../src/storage/index.js';
import { S3BlobStore } from '../../src/storage/s3-blob-store.js';
import { S3RVER_CREDENTIALS, S3rverProcess } from '../helpers/s3-server.js';
import { testStorage } from '../helpers/storage.js';
import { TINY } from '../models/registry-folders.js';

const BUCKET = 'segserve-models';
let s3dir: string;
let server: S3rverProcess;
let prefixes = 0;

const text = (value: string) => new TextEncoder().encode(value);
const CONFIG = (() => {
  const config = { ...(TINY.config as Record<string, unknown>) };
  delete config.name;
  return text(stringify(config));
})();

function storeAt(prefix: string): S3BlobStore {
  return new S3BlobStore({
    bucket: BUCKET,
    prefix,
    endpoint: server.endpoint,
    region: 'us-east-1',
    credentials: S3RVER_CREDENTIALS,
    // An outage is reported at the first refusal, not after the SDK's retries.
    maxAttempts: 1,
    connectTimeoutMs: 1_000,
  });
}

/** Every file below `dir` (relative, sorted), hidden ones included. */
async function filesBelow(dir: string, prefix = ''): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  const files: string[] = [];
  for (const entry of entries) {
    if (entry.isDirectory())
      files.push(...(await filesBelow(join(dir, entry.name), `${prefix}${entry.name}/`)));
    else files.push(`${prefix}${entry.name}`);
  }
  return files.sort();
}

async function until(condition: () => boolean | Promise<boolean>, what: string, timeoutMs = 15_000) {
  const deadline = performance.now() + timeoutMs;
  while (!(await condition())) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

beforeAll(async () => {
  s3dir = await mkdtemp(join(tmpdir(), 'segserve-s3rver-sync-'));
  server = new S3rverProcess(s3dir, BUCKET);
  await server.start();
});

afterAll(async () => {
  await server?.stop();
  if (s3dir) await rm(s3dir, { recursive: true, force: true });
});

let bucket: S3BlobStore;
let local: string;
let events: SyncEvent[];

beforeEach(async () => {
  bucket = storeAt(`repo${++prefixes}/`);
  local = await mkdtemp(join(tmpdir(), 'segserve-synced-'));
  events = [];
  return async () => {
    await bucket.close();
    await rm(local, { recursive: true, force: true });
  };
});

function syncOf(store: BlobStore = bucket): RepositorySync {
  return new RepositorySync({ store, dir: local, source: 's3://test', log: (event) => events.push(event) });
}

describe('the repository sync', () => {
  it('mirrors objects added, changed and deleted, and leaves files it did not write', async () => {
    await bucket.put('m/config.yaml', CONFIG);
    await bucket.put('m/1/model.onnx', TINY.bytes);
    await bucket.put('m/.DS_Store', text('hidden: not mirrored'));
    const sync = syncOf();
    const first = await sync.syncOnce();
    expect(first).toMatchObject({
      downloaded: ['m/1/model.onnx', 'm/config.yaml'],
      deleted: [],
      unchanged: 0,
    });
    expect(first.error).toBeUndefined();
    expect(await filesBelow(local)).toEqual([SYNC_MANIFEST, 'm/1/model.onnx', 'm/config.yaml']);
    expect(Buffer.compare(await readFile(join(local, 'm/1/model.onnx')), TINY.bytes)).toBe(0);

    expect(await sync.syncOnce()).toMatchObject({ downloaded: [], deleted: [], unchanged: 2 });

    await writeFile(join(local, 'by-hand.txt'), 'an operator put this here');
    await bucket.put('m/config.yaml', text(`${Buffer.from(CONFIG).toString()}description: changed\n`));
    await bucket.put('m/2/model.onnx', TINY.bytes);
    await bucket.delete('m/1/model.onnx');
    const third = await sync.syncOnce();
    expect(third).toMatchObject({
      downloaded: ['m/2/model.onnx', 'm/config.yaml'],
      deleted: ['m/1/model.onnx'],
      unchanged: 0,
    });
    expect(await readFile(join(local, 'm/config.yaml'), 'utf8')).toContain('description: changed');
    // The emptied version folder went with its file; the file put there by hand stays.
    expect(await filesBelow(local)).toEqual([
      SYNC_MANIFEST,
      'by-hand.txt',
      'm/2/model.onnx',
      'm/config.yaml',
    ]);
    expect(events.map((e) => e.type)).toEqual(['models-sync-completed', 'models-sync-completed']);
    await sync.close();
  });

  it('downloads a file again when it was changed or removed locally, and skips a key that is also a folder', async () => {
    await bucket.put('m/config.yaml', CONFIG);
    await bucket.put('x/1', text('a file where a folder must be'));
    await bucket.put('x/1/model.onnx', TINY.bytes);
    const sync = syncOf();
    const first = await sync.syncOnce();
    expect(first.skipped).toEqual([{ key: 'x/1', reason: expect.stringContaining('folder') }]);
    await rm(join(local, 'm/config.yaml'));
    expect((await sync.syncOnce()).downloaded).toEqual(['m/config.yaml']);
    await sync.close();
  });

  it('reports the S3 server stopped, deletes nothing meanwhile, and resumes once it is back', async () => {
    await bucket.put('m/config.yaml', CONFIG);
    await bucket.put('m/1/model.onnx', TINY.bytes);
    const sync = syncOf();
    await sync.syncOnce();
    const before = await filesBelow(local);
    await server.stop();
    try {
      const failed = await sync.syncOnce();
      expect(failed.error?.code).toBe('STORAGE_UNAVAILABLE');
      expect(failed.deleted).toEqual([]);
      expect(await filesBelow(local)).toEqual(before);
      expect((await sync.syncOnce()).error?.code).toBe('STORAGE_UNAVAILABLE');
    } finally {
      await server.start();
    }
    await bucket.put('m/2/model.onnx', TINY.bytes);
    const resumed = await sync.syncOnce();
    expect(resumed.error).toBeUndefined();
    expect(resumed.downloaded).toEqual(['m/2/model.onnx']);
    expect(events.map((e) => e.type)).toEqual([
      'models-sync-completed',
      'models-sync-failed',
      'models-sync-failed',
      'models-sync-recovered',
      'models-sync-completed',
    ]);
    expect(events[3]).toMatchObject({ type: 'models-sync-recovered', failedPasses: 2 });
    await sync.close();
  });

  it('leaves no half-written file when a pass fails mid-way, and completes at the next pass', async () => {
    await bucket.put('m/1/model.onnx', TINY.bytes);
    await bucket.put('m/2/model.onnx', TINY.bytes);
    await bucket.put('m/config.yaml', CONFIG);
    // The store goes away in the middle of the pass: after the first object, the second get fails.
    let gets = 0;
    const flaky: BlobStore = Object.create(bucket, {
      get: {
        value: async (key: string) => {
          if (++gets === 2) throw new SegserveError('STORAGE_UNAVAILABLE', { store: 'test', reason: 'gone' });
          return bucket.get(key);
        },
      },
    });
    const sync = syncOf(flaky);
    const failed = await sync.syncOnce();
    expect(failed).toMatchObject({ downloaded: ['m/1/model.onnx'], error: { code: 'STORAGE_UNAVAILABLE' } });
    // Only whole files: the first one, and no temporary file of the second.
    expect(await filesBelow(local)).toEqual([SYNC_MANIFEST, 'm/1/model.onnx']);
    const next = await sync.syncOnce();
    expect(next).toMatchObject({ downloaded: ['m/2/model.onnx', 'm/config.yaml'], unchanged: 1 });
    expect(await filesBelow(local)).toEqual([
      SYNC_MANIFEST,
      'm/1/model.onnx',
      'm/2/model.onnx',
      'm/config.yaml',
    ]);
    await sync.close();
  });
});

describe('a server whose repository is a synced copy of a prefix', () => {
  it('starts with the prefix’s models and follows them as they are added, changed and deleted', async () => {
    await bucket.put('seg/config.yaml', CONFIG);
    await bucket.put('seg/1/model.onnx', TINY.bytes);
    const modelsDir = join(local, 'models');
    const running = await startServer({
      modelsDir,
      provisionEmpty: true,
      storage: testStorage(local),
      port: 0,
      host: '127.0.0.1',
      logger: false,
      modelsSync: { store: bucket, source: 's3://test', intervalMs: 200 },
      watch: { intervalMs: 100, settleMs: 50 },
    });
    try {
      const { repository } = running.service;
      // Started with the bucket's model, and nothing imported beside it.
      expect(repository.list().map((m) => m.name)).toEqual(['seg']);
      expect(existsSync(join(modelsDir, 'person'))).toBe(false);

      await bucket.put('seg/2/model.onnx', TINY.bytes);
      await until(() => repository.get('seg')?.versions[0]?.version === 2, 'version 2 to be served');
      const models = (await (await fetch(`${running.url}/v1/models/seg`)).json()) as {
        versions: Array<{ version: number }>;
      };
      expect(models.versions.map((v) => v.version)).toEqual([2]);

      await bucket.delete('seg/1/model.onnx');
      await bucket.delete('seg/2/model.onnx');
      await bucket.delete('seg/config.yaml');
      await until(() => repository.get('seg') === undefined, 'the model to go');
      expect(await filesBelow(modelsDir)).toEqual([SYNC_MANIFEST]);
    } finally {
      await running.close();
    }
  });
});
