/**
 * Reading the files of a dataset given by path (a COCO instances file and its images, a mask folder), with or
 * without a root they must stay inside.
 *
 * The command line reads any path its user can (`root` undefined). The server reads only inside its
 * evaluation root (`segserve serve --eval-root`): whoever holds an admin key must not be able to have the
 * server read /etc/shadow, a key file or another tenant's data by naming it as a dataset (even a file that is
 * not an image leaks through error messages, and an image through the model's answer). So every file is
 * checked where it is opened, not only the path that was typed: its real path (symbolic links resolved) must
 * lie inside the real root, which catches `../`, absolute paths elsewhere, and a link inside the root that
 * points out of it. Files are read with readRegularFile (no FIFOs or devices, a time limit). Errors name the
 * path as the caller gave it, never the server's folders.
 */
import { realpath } from 'node:fs/promises';
import { relative, resolve, sep } from 'node:path';
import { SegserveError } from '../../errors.js';
import { readRegularFile } from '../../sources/files.js';

/** A local file takes milliseconds to read; a minute means a stuck mount (as `segserve predict` decides). */
export const DATASET_READ_TIMEOUT_MS = 60_000;

/** Annotation files and images up to 1 GiB each (COCO's train2017 instances file is 448 MB). */
const MAX_FILE_BYTES = 1024 ** 3;

function forbidden(path: string, reason: string): SegserveError {
  return new SegserveError('PATH_FORBIDDEN', { path, reason });
}

export class DatasetFiles {
  /**
   * `root`: the real path of the folder every file must lie in (see `open`), or undefined for no limit.
   * `base`: what relative paths are relative to (the root when there is one, else the working directory).
   */
  private constructor(
    readonly root: string | undefined,
    readonly base: string,
  ) {}

  /** Files anywhere, relative paths from `base` (default: the working directory): the command line. */
  static unconfined(base: string = process.cwd()): DatasetFiles {
    return new DatasetFiles(undefined, resolve(base));
  }

  /** Files inside `root` only, relative paths from it: the server. INVALID_ARGUMENT when it cannot be read. */
  static async confined(root: string): Promise<DatasetFiles> {
    let real: string;
    try {
      real = await realpath(root);
    } catch (error) {
      throw new SegserveError('INVALID_ARGUMENT', {
        reason: `evaluation root ${root} cannot be read: ${(error as Error).message}`,
      });
    }
    return new DatasetFiles(real, real);
  }

  /** `path` as a full path (not yet checked: `real` and `read` check). */
  resolve(path: string): string {
    return resolve(this.base, path);
  }

  /**
   * How to name `path` in messages: relative to the root when there is one and it lies inside (so no server
   * folder shows), else as given.
   */
  label(path: string): string {
    if (this.root === undefined) return path;
    const full = resolve(this.base, path);
    if (!inside(this.root, full)) return path;
    const rel = relative(this.root, full);
    return rel === '' ? '.' : rel;
  }

  /**
   * The real path of `path`, refused with PATH_FORBIDDEN when it leads outside the root (directly, or through
   * a symbolic link), or does not exist. `shown` is how messages name it.
   */
  async real(path: string, shown: string = this.label(path)): Promise<string> {
    const real = await this.#real(path, shown);
    if (real === undefined) throw forbidden(shown, 'it does not exist');
    return real;
  }

  /** The bytes of the regular file `path` (checked as `real` does). */
  async read(path: string, shown: string = this.label(path)): Promise<Buffer> {
    return this.#readReal(await this.real(path, shown), shown);
  }

  /** `read`, or undefined when the file does not exist (an optional file such as labels.txt). */
  async readOptional(path: string, shown: string = this.label(path)): Promise<Buffer | undefined> {
    const real = await this.#real(path, shown);
    return real === undefined ? undefined : this.#readReal(real, shown);
  }

  /** Whether something is at `path` (PATH_FORBIDDEN all the same when `path` leads outside the root). */
  async exists(path: string, shown: string = this.label(path)): Promise<boolean> {
    return (await this.#real(path, shown)) !== undefined;
  }

  #readReal(real: string, shown: string): Promise<Buffer> {
    return readRegularFile(real, {
      timeoutMs: DATASET_READ_TIMEOUT_MS,
      maxBytes: MAX_FILE_BYTES,
      label: shown,
    });
  }

  /** The checked real path, or undefined when nothing is there. */
  async #real(path: string, shown: string): Promise<string | undefined> {
    if (path.includes('\0')) throw forbidden(shown, 'it contains a NUL byte');
    const full = this.resolve(path);
    if (this.root !== undefined && !inside(this.root, full)) {
      throw forbidden(shown, 'it is outside the evaluation root (segserve serve --eval-root)');
    }
    let real: string;
    try {
      real = await realpath(full);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
      if (code === 'EACCES' || code === 'EPERM') throw forbidden(shown, 'permission denied');
      throw forbidden(shown, code ?? String(error));
    }
    if (this.root !== undefined && !inside(this.root, real)) {
      throw forbidden(shown, 'it leads out of the evaluation root through a symbolic link');
    }
    return real;
  }
}

/** `path` (absolute, normalised) is `root` or below it. */
function inside(root: string, path: string): boolean {
  return path === root || path.startsWith(root.endsWith(sep) ? root : `${root}${sep}`);
}
