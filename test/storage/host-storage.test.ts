/**
 * The server's storage (src/host/storage.ts): nothing is opened or written at start, each store opens on its
 * first use, a failed open is tried again on the next use, and closing the server closes what was opened.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isSegserveError } from '../../src/errors.js';
import { startServer } from '../../src/host/server.js';
import { LazyStorage } from '../../src/host/storage.js';
import { resolveStorageSettings } from '../../src/storage/index.js';
import { tinySoftmaxModel } from '../helpers/tiny-models.js';
import { writeRepository } from '../http/helpers.js';

let scratch: string;

beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'segserve-host-storage-'));
});

afterAll(async () => {
  await rm(scratch, { recursive: true, force: true });
});

describe('storage of a running server', () => {
  it('opens nothing at start, opens the blob store on first use, and closes it with the server', async () => {
    const dataDir = join(scratch, 'served');
    const modelsDir = await writeRepository({ softmax: tinySoftmaxModel() });
    const server = await startServer({
      modelsDir,
      port: 0,
      host: '127.0.0.1',
      logger: false,
      storage: resolveStorageSettings({ dataDir }, {}),
    });
    try {
      expect(existsSync(dataDir)).toBe(false);
      const blobs = await server.storage.blobs();
      expect(await server.storage.blobs()).toBe(blobs);
      const { key } = await blobs.putContent(new Uint8Array([1, 2, 3]), { ext: 'png' });
      expect(existsSync(join(dataDir, 'blobs', 'objects', key))).toBe(true);
      // The database was never asked for: still no folder for it.
      expect(existsSync(join(dataDir, 'db'))).toBe(false);
    } finally {
      await server.close();
      await rm(modelsDir, { recursive: true, force: true });
    }
    await expect(server.storage.blobs()).rejects.toThrow('after the server closed it');
  });

  it('tries a failed open again on the next use', async () => {
    const blocked = join(scratch, 'blocked');
    await writeFile(blocked, 'a file where the data folder should be');
    const storage = new LazyStorage(resolveStorageSettings({ dataDir: blocked }, {}));
    const first = await storage.blobs().catch((e: unknown) => e);
    expect(isSegserveError(first) && first.code).toBe('STORAGE_FAILED');
    await rm(blocked);
    const store = await storage.blobs();
    await store.put('k', new Uint8Array([1]));
    expect(existsSync(join(blocked, 'blobs', 'objects', 'k'))).toBe(true);
    await storage.close();
  });
});
