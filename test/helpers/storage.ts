/**
 * Storage settings for a server a test starts: the data directory inside `dir`, a temporary folder the test
 * removes (as `.data`, which a model repository does not read as a model), and nothing from the environment,
 * so a developer's SEGSERVE_DATABASE_URL never reaches a test. The server opens storage on first use only: a
 * test that stores nothing creates nothing.
 */
import { join } from 'node:path';
import { resolveStorageSettings, type StorageSettings } from '../../src/storage/index.js';

export function testStorage(dir: string): StorageSettings {
  return resolveStorageSettings({ dataDir: join(dir, '.data') }, {});
}
