/**
 * The embedded database (PGlite): the contract suite on a new folder, and its one-process lock. Opening a new
 * folder runs initdb (several seconds, about 800 MB of memory at its peak), so this file opens one folder and
 * reopens it, never more.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isSegserveError } from '../../src/errors.js';
import { openDatabase } from '../../src/storage/index.js';
import { PgliteDatabase } from '../../src/storage/pglite-database.js';
import { describeDatabaseContract } from './database.contract.js';

let root: string;
let dir: string;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'segserve-pglite-'));
  dir = join(root, 'data', 'db');
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describeDatabaseContract('embedded (PGlite)', async () => ({
  open: (migrations) => openDatabase({ kind: 'embedded', dir }, migrations),
  cleanup: async () => {},
}));

describe('embedded database lock', () => {
  it('refuses a second opener of the same folder while the first has it, naming the holder', async () => {
    const first = await PgliteDatabase.open(dir);
    try {
      expect(await readFile(`${dir}.lock`, 'utf8')).toBe(`${process.pid}\n`);
      const second = await PgliteDatabase.open(dir).catch((e: unknown) => e);
      expect(isSegserveError(second) && second.code).toBe('STORAGE_FAILED');
      expect((second as Error).message).toContain('open in this process');
      expect((second as Error).message).toContain('--database-url');
    } finally {
      await first.close();
    }
  });

  it('takes over a lock left by a process that is gone, and releases it at close', async () => {
    // Pid 2^22 + 1 is above Linux's default pid_max (2^22): no process has it.
    await writeFile(`${dir}.lock`, `${2 ** 22 + 1}\n`);
    const db = await PgliteDatabase.open(dir);
    expect(await readFile(`${dir}.lock`, 'utf8')).toBe(`${process.pid}\n`);
    await db.close();
    await expect(readFile(`${dir}.lock`)).rejects.toThrow('ENOENT');
  });
});
