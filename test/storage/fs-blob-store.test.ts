/**
 * The filesystem BlobStore: the contract suite, and what only a filesystem has (its layout, staging files,
 * a key that would need to be a file and a folder at once, a root it cannot create).
 */
import { mkdtemp, readdir, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isSegserveError } from '../../src/errors.js';
import { FsBlobStore } from '../../src/storage/fs-blob-store.js';
import { describeBlobStoreContract } from './blob-store.contract.js';

describeBlobStoreContract('filesystem', async () => {
  const root = await mkdtemp(join(tmpdir(), 'segserve-fs-blobs-'));
  const store = await FsBlobStore.open(join(root, 'blobs'));
  return {
    store,
    cleanup: async () => {
      // Nothing was written outside the store's root, whatever the keys tried.
      expect(await readdir(root)).toEqual(['blobs']);
      expect(await readdir(join(root, 'blobs', 'staging'))).toEqual([]);
      await rm(root, { recursive: true, force: true });
    },
  };
});

describe('filesystem BlobStore specifics', () => {
  let root: string;

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'segserve-fs-blobs-'));
  });

  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('keeps one file per key under objects/, and no staging file after a put', async () => {
    const store = await FsBlobStore.open(join(root, 'layout'));
    await store.put('a/b/c.png', new Uint8Array([1, 2]));
    expect([...(await readFile(join(root, 'layout', 'objects', 'a', 'b', 'c.png')))]).toEqual([1, 2]);
    expect(await readdir(join(root, 'layout', 'staging'))).toEqual([]);
  });

  it('lists in S3’s order, UTF-8 bytes with a folder read as name/', async () => {
    const store = await FsBlobStore.open(join(root, 'order'));
    // '-' (0x2d) sorts before '/' (0x2f), 'Z' before 'a', and any ASCII before a multi-byte character.
    const keys = ['a-c', 'a/b', 'a/c/d', 'aZ', 'ab', 'é'];
    for (const key of [...keys].reverse()) await store.put(key, new Uint8Array([1]));
    const listed: string[] = [];
    for await (const info of store.list('')) listed.push(info.key);
    expect(listed).toEqual(keys);
  });

  it('removes staging files left by a crash once they are an hour old', async () => {
    const dir = join(root, 'crash');
    await FsBlobStore.open(dir);
    const old = join(dir, 'staging', 'left-by-a-crash');
    const recent = join(dir, 'staging', 'being-written');
    await writeFile(old, 'partial');
    await writeFile(recent, 'partial');
    const twoHoursAgo = new Date(Date.now() - 2 * 3_600_000);
    await utimes(old, twoHoursAgo, twoHoursAgo);
    await FsBlobStore.open(dir);
    expect(await readdir(join(dir, 'staging'))).toEqual(['being-written']);
  });

  it('refuses a key that would be a file and a folder at once, naming the clash', async () => {
    const store = await FsBlobStore.open(join(root, 'clash'));
    await store.put('a', new Uint8Array([1]));
    await store.put('b/c', new Uint8Array([1]));
    for (const [key, text] of [
      ['a/below', 'a key it lies below exists'],
      ['b', 'keys below it exist'],
    ]) {
      const error = await store.put(key, new Uint8Array([2])).catch((e: unknown) => e);
      expect(isSegserveError(error) && error.code).toBe('BLOB_KEY_INVALID');
      expect(String((error as Error).message)).toContain(text);
    }
    expect([...(await store.get('a'))]).toEqual([1]);
    expect(await readdir(join(root, 'clash', 'staging'))).toEqual([]);
  });

  it('reports a root it cannot create as STORAGE_FAILED', async () => {
    const file = join(root, 'a-file');
    await writeFile(file, 'x');
    const error = await FsBlobStore.open(join(file, 'blobs')).catch((e: unknown) => e);
    expect(isSegserveError(error) && error.code).toBe('STORAGE_FAILED');
    expect((error as Error).message).toContain(join(file, 'blobs'));
  });
});
