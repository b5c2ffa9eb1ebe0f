/**
 * The BlobStore contract: one suite every adapter must pass (fs-blob-store.test.ts, s3-blob-store.test.ts).
 * Each test works under a prefix of its own, so the tests of one file share a store without seeing each
 * other's keys.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BlobInfo, BlobStore } from '../../src/storage/index.js';
import { caught } from '../helpers/caught.js';

export interface BlobStoreTarget {
  store: BlobStore;
  /** Keys per listing page, where the adapter pages (S3): the listing tests store several pages' worth. */
  pageSize?: number;
  /** Where the store runs as a server: stop it (a real outage) and start it again with the same data. */
  outage?: { stop(): Promise<void>; start(): Promise<void> };
  /**
   * False where the server under test mixes concurrent writes to one key: s3rver writes into the object's file
   * as the bytes arrive (seen once in CI: eight writers left bytes of several), where AWS S3 and MinIO replace
   * an object whole. The adapter cannot make a server atomic, so that half of the check is skipped there.
   */
  atomicReplace?: false;
  cleanup(): Promise<void>;
}

let prefixes = 0;
/** A prefix no other test of this run uses. */
const fresh = () => `t${++prefixes}-${randomBytes(3).toString('hex')}/`;

async function all(listing: AsyncIterable<BlobInfo>): Promise<BlobInfo[]> {
  const found: BlobInfo[] = [];
  for await (const info of listing) found.push(info);
  return found;
}

/** By UTF-8 bytes, S3's order; the port leaves listing order to the store (s3rver does not follow S3's). */
function sorted(infos: BlobInfo[]): BlobInfo[] {
  return [...infos].sort((a, b) => Buffer.compare(Buffer.from(a.key), Buffer.from(b.key)));
}

const bytes = (...values: number[]) => new Uint8Array(values);
const text = (value: string) => new TextEncoder().encode(value);

/** Every byte value, twice, in a scrambled order: what a text-only path would mangle. */
function everyByte(): Uint8Array {
  const out = new Uint8Array(512);
  for (let i = 0; i < 512; i++) out[i] = (i * 167 + 13) % 256;
  return out;
}

export function describeBlobStoreContract(
  name: string,
  setup: () => Promise<BlobStoreTarget>,
  options: { server?: boolean } = {},
): void {
  describe(`BlobStore contract: ${name}`, () => {
    let target: BlobStoreTarget;
    let store: BlobStore;

    beforeAll(async () => {
      target = await setup();
      store = target.store;
    });

    afterAll(async () => {
      await target?.cleanup();
    });

    it('gives back what was put, and a second put replaces it', async () => {
      const key = `${fresh()}photos/a.jpg`;
      await store.put(key, text('first'), { contentType: 'image/jpeg' });
      expect(Buffer.from(await store.get(key)).toString()).toBe('first');
      await store.put(key, text('second, longer'));
      expect(Buffer.from(await store.get(key)).toString()).toBe('second, longer');
      expect(await store.head(key)).toEqual({ key, size: 14 });
      expect(await store.exists(key)).toBe(true);
    });

    it('keeps bytes exactly: every byte value, an empty blob, unicode keys', async () => {
      const prefix = fresh();
      const binary = everyByte();
      await store.put(`${prefix}binary.bin`, binary);
      expect(Buffer.compare(Buffer.from(await store.get(`${prefix}binary.bin`)), Buffer.from(binary))).toBe(
        0,
      );
      await store.put(`${prefix}empty`, new Uint8Array(0));
      expect((await store.get(`${prefix}empty`)).byteLength).toBe(0);
      expect(await store.head(`${prefix}empty`)).toEqual({ key: `${prefix}empty`, size: 0 });
      const unicode = `${prefix}ünïcødé/名前 with spaces+plus&amp.png`;
      await store.put(unicode, bytes(1, 2, 3));
      expect([...(await store.get(unicode))]).toEqual([1, 2, 3]);
      expect((await all(store.list(prefix))).map((info) => info.key)).toContain(unicode);
    });

    it('round-trips a large blob in one pass (16 MiB)', async () => {
      const key = `${fresh()}large.bin`;
      const large = randomBytes(16 * 1024 * 1024);
      const started = performance.now();
      await store.put(key, large);
      const back = await store.get(key);
      const elapsed = performance.now() - started;
      expect(back.byteLength).toBe(large.byteLength);
      expect(Buffer.compare(Buffer.from(back), large)).toBe(0);
      // Linear work is well under a second here; a copy per chunk (quadratic) takes many.
      expect(elapsed).toBeLessThan(15_000);
    });

    it('reports a missing key: BLOB_NOT_FOUND from get, undefined from head, and delete is a no-op', async () => {
      const key = `${fresh()}missing.png`;
      const error = await caught(() => store.get(key));
      expect(error.code).toBe('BLOB_NOT_FOUND');
      expect(error.status).toBe(404);
      expect(error.message).toContain(key);
      expect(await store.head(key)).toBeUndefined();
      expect(await store.exists(key)).toBe(false);
      await store.delete(key);
    });

    it('lists a tag of each object that changes when other bytes are stored under its key', async () => {
      const key = `${fresh()}tagged.bin`;
      const tagOf = async () => (await all(store.list(key))).find((info) => info.key === key)?.etag;
      await store.put(key, Buffer.alloc(12, 1));
      const first = await tagOf();
      expect(typeof first).toBe('string');
      expect(await tagOf()).toBe(first);
      await store.put(key, Buffer.alloc(12, 7));
      const second = await tagOf();
      expect(typeof second).toBe('string');
      expect(second).not.toBe(first);
    });

    it('deletes', async () => {
      const key = `${fresh()}gone.bin`;
      await store.put(key, bytes(9));
      await store.delete(key);
      expect(await store.exists(key)).toBe(false);
      expect((await caught(() => store.get(key))).code).toBe('BLOB_NOT_FOUND');
    });

    it('lists every key under a prefix once, across several pages', async () => {
      const prefix = fresh();
      const count = Math.max(3 * (target.pageSize ?? 0) + 5, 40);
      const keys = Array.from({ length: count }, (_, i) => `${prefix}many/${String(i).padStart(4, '0')}.bin`);
      await Promise.all(keys.map((key, i) => store.put(key, new Uint8Array(i % 7))));
      const listed = sorted(await all(store.list(`${prefix}many/`)));
      expect(listed.map((info) => info.key)).toEqual(keys);
      expect(listed.map((info) => info.size)).toEqual(keys.map((_, i) => i % 7));
    });

    it('matches prefixes by their bytes, also ending inside a segment, and lists nothing for none', async () => {
      const prefix = fresh();
      const keys = [
        `${prefix}a-c`,
        `${prefix}a/b`,
        `${prefix}a/c/d`,
        `${prefix}aZ`,
        `${prefix}ab`,
        `${prefix}é`,
      ];
      await Promise.all(keys.map((key) => store.put(key, bytes(1))));
      const keysOf = async (start: string) => sorted(await all(store.list(start))).map((info) => info.key);
      expect(await keysOf(prefix)).toEqual(keys);
      expect(await keysOf(`${prefix}a/`)).toEqual([`${prefix}a/b`, `${prefix}a/c/d`]);
      expect(await keysOf(`${prefix}a`)).toEqual(keys.slice(0, 5));
      expect(await keysOf(`${prefix}a/c`)).toEqual([`${prefix}a/c/d`]);
      expect(await keysOf(`${prefix}nothing-here/`)).toEqual([]);
      expect(await keysOf('')).toEqual(expect.arrayContaining(keys));
    });

    it('stores content under its SHA-256 once: the same bytes give the same key and the second put writes nothing', async () => {
      const image = randomBytes(1000);
      const first = await store.putContent(image, { contentType: 'image/jpeg' });
      expect(first.key).toMatch(/^sha256\/[0-9a-f]{2}\/[0-9a-f]{62}\.jpg$/);
      expect(first.created).toBe(true);
      const again = await store.putContent(Buffer.from(image), { ext: 'jpg' });
      expect(again).toEqual({ key: first.key, created: false });
      expect(Buffer.compare(Buffer.from(await store.get(first.key)), image)).toBe(0);
      const other = await store.putContent(image, { ext: 'png' });
      expect(other.key).toBe(first.key.replace(/\.jpg$/, '.png'));
      const plain = await store.putContent(image);
      expect(plain.key).toBe(first.key.replace(/\.jpg$/, ''));
    });

    it('takes the same content from many writers at once as one blob', async () => {
      const image = randomBytes(50_000);
      const puts = await Promise.all(
        Array.from({ length: 12 }, () => store.putContent(image, { ext: 'png' })),
      );
      expect(new Set(puts.map((put) => put.key)).size).toBe(1);
      expect(puts.some((put) => put.created)).toBe(true);
      const key = puts[0].key;
      expect(Buffer.compare(Buffer.from(await store.get(key)), image)).toBe(0);
      const hash = key.slice(0, key.lastIndexOf('/') + 1);
      expect(
        (await all(store.list(hash)))
          .filter((info) => info.key.startsWith(key))
          .map(({ key, size }) => ({ key, size })),
      ).toEqual([{ key, size: image.byteLength }]);
    });

    it('takes concurrent puts: distinct keys all land, one key ends with one writer’s bytes whole', async () => {
      const prefix = fresh();
      const blobs = Array.from({ length: 30 }, (_, i) => randomBytes(1000 + i));
      await Promise.all(blobs.map((blob, i) => store.put(`${prefix}k${i}`, blob)));
      for (const [i, blob] of blobs.entries()) {
        expect(Buffer.compare(Buffer.from(await store.get(`${prefix}k${i}`)), blob)).toBe(0);
      }
      const contenders = Array.from({ length: 8 }, (_, i) => Buffer.alloc(200_000, i + 1));
      await Promise.all(contenders.map((blob) => store.put(`${prefix}contended`, blob)));
      const winner = Buffer.from(await store.get(`${prefix}contended`));
      if (target.atomicReplace !== false) expect(contenders.some((blob) => blob.equals(winner))).toBe(true);
    });

    it('refuses invalid keys with BLOB_KEY_INVALID on every operation, and writes nothing', async () => {
      const prefix = fresh();
      const invalid = [
        '',
        '/etc/passwd',
        '../outside',
        `${prefix}../../outside`,
        `${prefix}./x`,
        `${prefix}a//b`,
        `${prefix}trailing/`,
        `${prefix}back\\slash`,
        `${prefix}nul\u0000byte`,
        `${prefix}new\nline`,
        `${prefix}${'x'.repeat(1100)}`,
      ];
      for (const key of invalid) {
        for (const action of [
          () => store.put(key, bytes(1)),
          () => store.get(key),
          () => store.head(key),
          () => store.delete(key),
        ]) {
          const error = await caught(action);
          expect(error.code, JSON.stringify(key)).toBe('BLOB_KEY_INVALID');
          expect(error.status).toBe(400);
        }
      }
      for (const bad of ['/abs', '../up', 'a/../b', 'back\\slash', 'nul\u0000']) {
        expect((await caught(() => all(store.list(bad)))).code, JSON.stringify(bad)).toBe('BLOB_KEY_INVALID');
      }
      expect(await all(store.list(prefix))).toEqual([]);
      expect((await all(store.list(''))).filter((info) => !/^(t\d+-|sha256\/)/.test(info.key))).toEqual([]);
    });

    // Only adapters that talk to a server can lose it; a filesystem store has no outage of this kind.
    if (!options.server) return;

    it('reports an outage as STORAGE_UNAVAILABLE and works again once the server is back', async () => {
      const outage = target.outage;
      if (!outage) throw new Error(`${name} is a server adapter but its target has no outage hooks`);
      const key = `${fresh()}survives.bin`;
      await store.put(key, bytes(7, 7, 7));
      await outage.stop();
      try {
        for (const action of [
          () => store.put(`${key}.new`, bytes(1)),
          () => store.get(key),
          () => store.head(key),
          () => all(store.list('')),
          () => store.putContent(bytes(1, 2)),
        ]) {
          const error = await caught(action);
          expect(error.code).toBe('STORAGE_UNAVAILABLE');
          expect(error.status).toBe(503);
          expect(error.message).toContain(store.description);
        }
      } finally {
        await outage.start();
      }
      expect([...(await store.get(key))]).toEqual([7, 7, 7]);
      await store.put(`${key}.new`, bytes(1));
      expect(await store.exists(`${key}.new`)).toBe(true);
    });
  });
}
