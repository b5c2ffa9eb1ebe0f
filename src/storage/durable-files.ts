/**
 * Files that survive a crash once written: the bytes flushed to disk before the rename that publishes them,
 * and the folder's entry flushed after it. Shared by the filesystem blob store and the sample spool (both write
 * to a staging name, then rename into place, so a reader never sees half a file).
 */
import { open } from 'node:fs/promises';

/** Creates `path` (it must not exist) holding `bytes`, flushed to disk before this resolves. */
export async function writeNewFileSynced(path: string, bytes: Uint8Array): Promise<void> {
  const handle = await open(path, 'wx');
  try {
    await handle.writeFile(bytes);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Flushes a folder's entries, so a rename into it survives a crash too. */
export async function syncFolder(folder: string): Promise<void> {
  const handle = await open(folder, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
