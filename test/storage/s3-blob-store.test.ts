/**
 * The S3 BlobStore against a real S3-protocol server: s3rver, started by this file in a child process, killed
 * and restarted for the outage test, and stopped at the end. Listing pages are 10 keys, so the listing tests
 * cross several pages (ListObjectsV2 continuation tokens) without storing thousands of objects.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isSegserveError } from '../../src/errors.js';
import { S3BlobStore } from '../../src/storage/s3-blob-store.js';
import { S3RVER_CREDENTIALS, S3rverProcess } from '../helpers/s3-server.js';
import { describeBlobStoreContract } from './blob-store.contract.js';

const PAGE = 10;

async function startServer(bucket: string): Promise<{ server: S3rverProcess; dir: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'segserve-s3rver-'));
  const server = new S3rverProcess(dir, bucket);
  await server.start();
  return { server, dir };
}

function storeOn(server: S3rverProcess, bucket: string, prefix: string): S3BlobStore {
  return new S3BlobStore({
    bucket,
    prefix,
    endpoint: server.endpoint,
    region: 'us-east-1',
    credentials: S3RVER_CREDENTIALS,
    pageSize: PAGE,
  });
}

describeBlobStoreContract(
  's3 (s3rver)',
  async () => {
    const { server, dir } = await startServer('segserve-contract');
    const store = storeOn(server, 'segserve-contract', 'under/a/prefix/');
    return {
      store,
      pageSize: PAGE,
      outage: { stop: () => server.stop(), start: () => server.start() },
      atomicReplace: false,
      cleanup: async () => {
        await store.close();
        await server.stop();
        await rm(dir, { recursive: true, force: true });
      },
    };
  },
  { server: true },
);

describe('S3 BlobStore specifics', () => {
  let server: S3rverProcess;
  let dir: string;

  beforeAll(async () => {
    ({ server, dir } = await startServer('segserve-specifics'));
  });

  afterAll(async () => {
    await server?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('keeps its keys under the URL prefix, and lists them without it', async () => {
    const inner = storeOn(server, 'segserve-specifics', 'tenant/');
    const whole = storeOn(server, 'segserve-specifics', '');
    await inner.put('x/y.png', new Uint8Array([1]));
    expect(await whole.exists('tenant/x/y.png')).toBe(true);
    const keys: string[] = [];
    for await (const info of inner.list('')) keys.push(info.key);
    expect(keys).toEqual(['x/y.png']);
    await inner.close();
    await whole.close();
  });

  it('stores the content type given, or the one of the key’s extension', async () => {
    const store = storeOn(server, 'segserve-specifics', '');
    await store.put('typed.bin', new Uint8Array([1]), { contentType: 'image/webp' });
    await store.putContent(new Uint8Array([1, 2, 3]), { ext: 'png' });
    const typed = await fetch(`${server.endpoint}/segserve-specifics/typed.bin`);
    // s3rver serves objects to anonymous GETs, which is all this needs to read the stored header.
    expect(typed.headers.get('content-type')).toBe('image/webp');
    await store.close();
  });

  it('reports a missing bucket as STORAGE_FAILED, not as an outage', async () => {
    const store = storeOn(server, 'no-such-bucket', '');
    const error = await store.put('k', new Uint8Array([1])).catch((e: unknown) => e);
    expect(isSegserveError(error) && error.code).toBe('STORAGE_FAILED');
    expect((error as Error).message).toContain('NoSuchBucket');
    await store.close();
  });
});
