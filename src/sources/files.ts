/**
 * Reads the files `/predict/batch` names by path: only inside the folder the operator configured, never by
 * an absolute path, never through `..`, and never out of the folder through a symbolic link (the real path
 * must stay inside the real folder). Only regular files are read, with a time limit (`readRegularFile`, which
 * the command line uses too).
 */
import type { Stats } from 'node:fs';
import { constants } from 'node:fs';
import { type FileHandle, open, realpath, stat } from 'node:fs/promises';
import { isAbsolute, join, sep } from 'node:path';
import { SegserveError } from '../errors.js';

/** How long one batch file may take to read before the item fails with FILE_READ_TIMEOUT. */
export const BATCH_READ_TIMEOUT_MS = 10_000;

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

/** What a non-regular file is, in the words of an error message; undefined for a regular file. */
export function describeNonRegular(info: Stats): string | undefined {
  if (info.isFile()) return undefined;
  if (info.isDirectory()) return 'it is a folder, not an image file';
  if (info.isFIFO()) return 'it is a FIFO (named pipe), not a regular file';
  if (info.isSocket()) return 'it is a socket, not a regular file';
  if (info.isCharacterDevice()) return 'it is a character device, not a regular file';
  if (info.isBlockDevice()) return 'it is a block device, not a regular file';
  if (info.isSymbolicLink()) return 'it is a symbolic link';
  return 'it is not a regular file';
}

export interface ReadRegularFileOptions {
  /** Refuse files larger than this with INPUT_TOO_LARGE. */
  maxBytes?: number;
  /** Abort with FILE_READ_TIMEOUT when the whole read (open included) takes longer. */
  timeoutMs: number;
  /** The path as errors should show it (the caller's relative path, never a server folder). */
  label?: string;
}

/** O_NOFOLLOW where the platform has it: the last path component must not be swapped for a link. */
const OPEN_FLAGS = constants.O_RDONLY | constants.O_NONBLOCK | (constants.O_NOFOLLOW ?? 0);

/**
 * The bytes of a regular file, refusing anything else before and after opening it.
 *
 * Why so careful: a FIFO, a socket or a device can block a read forever, and a blocked read holds one of
 * libuv's four threadpool threads, which no timer and no signal handler can free (a FIFO among the inputs once
 * kept a SIGTERMed process alive for 40 minutes). So: `stat` first (no open, no side effect), then open with
 * O_NONBLOCK (a FIFO cannot block the open itself), then `fstat` on the handle (the path may have been swapped
 * in between), then read in chunks against a deadline.
 */
export async function readRegularFile(path: string, options: ReadRegularFileOptions): Promise<Buffer> {
  const label = options.label ?? path;
  const before = await stat(path).catch((error: unknown) => {
    throw unreadable(label, error);
  });
  const refusal = describeNonRegular(before);
  if (refusal) throw forbidden(label, refusal);
  checkSize(before, label, options.maxBytes);

  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new SegserveError('FILE_READ_TIMEOUT', { path: label, timeout_ms: options.timeoutMs })),
      options.timeoutMs,
    );
  });
  // The handle is closed without waiting when the deadline wins: a read still stuck in the threadpool would
  // make `close` wait for it too.
  const opening = open(path, OPEN_FLAGS).catch((error: unknown) => {
    throw unreadable(label, error);
  });
  let opened = false;
  try {
    const file = await Promise.race([opening, deadline]);
    opened = true;
    let timedOut = false;
    try {
      const info = await Promise.race([file.stat(), deadline]);
      const swapped = describeNonRegular(info);
      if (swapped) throw forbidden(label, swapped);
      checkSize(info, label, options.maxBytes);
      return await Promise.race([readAll(file, info.size, label, options.maxBytes), deadline]);
    } catch (error) {
      timedOut = error instanceof SegserveError && error.code === 'FILE_READ_TIMEOUT';
      throw error;
    } finally {
      if (timedOut) file.close().catch(() => undefined);
      else await file.close();
    }
  } catch (error) {
    // An open that lost the race to the deadline still needs its handle closed once it arrives.
    if (!opened) opening.then((file) => file.close()).catch(() => undefined);
    throw error;
  } finally {
    clearTimeout(timer);
  }
}

/** A file system error while opening, as a catalogue error naming the path the caller gave. */
function unreadable(label: string, error: unknown): SegserveError {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return forbidden(label, 'it does not exist (any more)');
  // O_NOFOLLOW: the file was replaced by a symbolic link after its path was checked.
  if (code === 'ELOOP') return forbidden(label, 'it is a symbolic link');
  if (code === 'EACCES' || code === 'EPERM') return forbidden(label, 'permission denied');
  return forbidden(label, code ?? String(error));
}

function checkSize(info: Stats, label: string, maxBytes: number | undefined): void {
  if (maxBytes !== undefined && info.size > maxBytes) {
    throw new SegserveError('INPUT_TOO_LARGE', { source: `file "${label}"`, limit: maxBytes });
  }
}

/** Reads to the end; a file that grows past `maxBytes` while being read is refused as well. */
async function readAll(
  file: FileHandle,
  sizeHint: number,
  label: string,
  maxBytes: number | undefined,
): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  const chunkSize = Math.min(Math.max(sizeHint, 64 * 1024), 8 * 1024 * 1024);
  for (;;) {
    const buffer = Buffer.allocUnsafe(chunkSize);
    const { bytesRead } = await file.read(buffer, 0, chunkSize, null);
    if (bytesRead === 0) break;
    total += bytesRead;
    if (maxBytes !== undefined && total > maxBytes) {
      throw new SegserveError('INPUT_TOO_LARGE', { source: `file "${label}"`, limit: maxBytes });
    }
    chunks.push(buffer.subarray(0, bytesRead));
  }
  return chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, total);
}

/** The bytes of `relative` inside `root` (a real path), at most `maxBytes` of them. */
export async function readBatchFile(
  root: string,
  relative: string,
  maxBytes: number,
  timeoutMs: number = BATCH_READ_TIMEOUT_MS,
): Promise<Buffer> {
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
  // `.`, `sub/..`-free spellings of the root such as `./` resolve to the root itself: a folder, not a
  // symbolic link out of it, so say that rather than the escape message below.
  if (real === root) throw forbidden(relative, 'it is the batch folder itself, a folder, not an image file');
  if (!real.startsWith(`${root}${sep}`)) {
    throw forbidden(relative, 'it leads out of the batch folder through a symbolic link');
  }
  return readRegularFile(real, { maxBytes, timeoutMs, label: relative });
}
