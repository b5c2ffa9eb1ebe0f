/**
 * The /predict/batch path reader (src/sources/files.ts) on the file system itself: the batch root and its
 * folders are named as folders, and FIFOs, sockets and devices are refused without ever blocking a read.
 */
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SegserveError } from '../../src/errors.js';
import { readBatchFile, readRegularFile, realBatchRoot } from '../../src/sources/files.js';

let root: string;
let socketServer: Server;

async function refusal(promise: Promise<unknown>): Promise<SegserveError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(SegserveError);
  return error as SegserveError;
}

beforeAll(async () => {
  root = await realBatchRoot(await mkdtemp(join(tmpdir(), 'segserve-batch-files-')));
  await mkdir(join(root, 'sub'));
  await writeFile(join(root, 'a.png'), Buffer.from('png bytes'));
  // Nobody writes to this pipe: opening it for reading without O_NONBLOCK would wait for a writer forever.
  execFileSync('mkfifo', [join(root, 'pipe.png')]);
  socketServer = createServer();
  await new Promise<void>((resolve) => socketServer.listen(join(root, 'socket.png'), resolve));
});

afterAll(async () => {
  await new Promise((resolve) => socketServer.close(resolve));
  await rm(root, { recursive: true, force: true });
});

// A FIFO that blocked would hang the read (and a threadpool thread) forever: these tests must end in seconds.
describe('readBatchFile', { timeout: 5_000 }, () => {
  it('reads a regular file', async () => {
    expect((await readBatchFile(root, 'a.png', 1024)).toString()).toBe('png bytes');
  });

  it('"." is the batch folder itself: said to be a folder, not a symbolic link out of it', async () => {
    for (const path of ['.', './']) {
      const error = await refusal(readBatchFile(root, path, 1024));
      expect(error.code).toBe('PATH_FORBIDDEN');
      expect(error.message).toBe(
        `Path "${path}" cannot be read: it is the batch folder itself, a folder, not an image file`,
      );
    }
  });

  it('a sub-folder is a folder, not an image file', async () => {
    const error = await refusal(readBatchFile(root, 'sub', 1024));
    expect(error.code).toBe('PATH_FORBIDDEN');
    expect(error.message).toBe('Path "sub" cannot be read: it is a folder, not an image file');
  });

  it('a FIFO is refused at once, with no writer and without blocking', async () => {
    const started = Date.now();
    const error = await refusal(readBatchFile(root, 'pipe.png', 1024));
    expect(error.code).toBe('PATH_FORBIDDEN');
    expect(error.message).toBe(
      'Path "pipe.png" cannot be read: it is a FIFO (named pipe), not a regular file',
    );
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it('a socket is refused', async () => {
    const error = await refusal(readBatchFile(root, 'socket.png', 1024));
    expect(error.message).toBe('Path "socket.png" cannot be read: it is a socket, not a regular file');
  });

  it('a file over the limit is refused before reading', async () => {
    const error = await refusal(readBatchFile(root, 'a.png', 4));
    expect(error.code).toBe('INPUT_TOO_LARGE');
  });
});

describe('readRegularFile', { timeout: 5_000 }, () => {
  it('refuses a character device', async () => {
    const error = await refusal(readRegularFile('/dev/zero', { timeoutMs: 1_000 }));
    expect(error.message).toBe(
      'Path "/dev/zero" cannot be read: it is a character device, not a regular file',
    );
  });

  it('refuses a FIFO by its full path (the reader the CLI uses), naming it by its label', async () => {
    const error = await refusal(readRegularFile(join(root, 'pipe.png'), { timeoutMs: 1_000, label: 'p' }));
    expect(error.message).toBe('Path "p" cannot be read: it is a FIFO (named pipe), not a regular file');
  });

  it('names a missing file by its label', async () => {
    const error = await refusal(readRegularFile(join(root, 'gone.png'), { timeoutMs: 1_000, label: 'gone' }));
    expect(error.message).toBe('Path "gone" cannot be read: it does not exist (any more)');
  });
});
