/**
 * Reads the files `/predict/batch` names by path: only inside the folder the operator configured, never by
 * an absolute path, never through `..`, and never out of the folder through a symbolic link (the real path
 * must stay inside the real folder).
 */
import { open, realpath } from 'node:fs/promises';
import { isAbsolute, join, sep } from 'node:path';
import { SegserveError } from '../errors.js';

/** The real path of the batch folder, checked once at start-up. */
export async function realBatchRoot(folder: string): Promise<string> {
  try {
    return await realpath(folder);
  } catch (error) {
    throw new SegserveError('INVALID_ARGUMENT', {
      reason: `batch folder ${folder} cannot be read: ${(error as Error).message}`,
    });
  }
}

function forbidden(path: string, reason: string): SegserveError {
  return new SegserveError('PATH_FORBIDDEN', { path, reason });
}

/** The bytes of `relative` inside `root` (a real path), at most `maxBytes` of them. */
export async function readBatchFile(root: string, relative: string, maxBytes: number): Promise<Buffer> {
  if (isAbsolute(relative) || /^[A-Za-z]:/.test(relative) || relative.startsWith('\\')) {
    throw forbidden(relative, 'absolute paths are refused; give a path relative to the batch folder');
  }
  if (relative.includes('\0')) throw forbidden(relative, 'it contains a NUL byte');
  if (relative.split(/[\\/]/).includes('..')) throw forbidden(relative, '".." is refused');
  let real: string;
  try {
    real = await realpath(join(root, relative));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR')
      throw new SegserveError('FILE_NOT_FOUND', { path: relative });
    throw forbidden(relative, code ?? 'it cannot be resolved');
  }
  if (!real.startsWith(`${root}${sep}`)) {
    throw forbidden(relative, 'it leads out of the batch folder through a symbolic link');
  }
  const file = await open(real, 'r');
  try {
    const info = await file.stat();
    if (!info.isFile()) throw forbidden(relative, 'it is not a file');
    if (info.size > maxBytes) {
      throw new SegserveError('INPUT_TOO_LARGE', { source: `file "${relative}"`, limit: maxBytes });
    }
    return await file.readFile();
  } finally {
    await file.close();
  }
}
