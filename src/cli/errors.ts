/**
 * How the command line reports an error: one line `error <CODE>: <message>` with a code from the catalogue,
 * never a stack trace for an error we expect (set SEGSERVE_DEBUG=1 to see the stack of an unforeseen one).
 *
 * Exit codes: 0 done; 1 some items failed (`predict`, `models list`) or an unforeseen error; 2 the command
 * could not run as asked (bad arguments, missing model, unwritable output: something the user must fix).
 */
import { CommanderError } from 'commander';
import { type ErrorCode, SegserveError } from '../errors.js';

export const EXIT_OK = 0;
export const EXIT_FAILURES = 1;
export const EXIT_USAGE = 2;

export interface CliFailure {
  /** Empty when commander already printed its own usage message. */
  line: string;
  exitCode: number;
  code?: ErrorCode;
}

function isSystemError(error: unknown): error is NodeJS.ErrnoException {
  return (
    error instanceof Error &&
    typeof (error as NodeJS.ErrnoException).code === 'string' &&
    typeof (error as NodeJS.ErrnoException).syscall === 'string'
  );
}

/** The code of an error raised while working on one item (an image): the catalogue's, or INTERNAL_ERROR. */
export function itemErrorCode(error: unknown): ErrorCode {
  return error instanceof SegserveError ? error.code : 'INTERNAL_ERROR';
}

export function describeFailure(error: unknown): CliFailure {
  if (error instanceof CommanderError) {
    // Help and --version end this way too, with exit code 0; usage errors were already printed by commander.
    return { line: '', exitCode: error.exitCode === 0 ? EXIT_OK : EXIT_USAGE };
  }
  if (error instanceof SegserveError) {
    return { line: `error ${error.code}: ${error.message}`, exitCode: EXIT_USAGE, code: error.code };
  }
  if (isSystemError(error)) {
    // A file or socket the user named (a --categories file, a port in use): their setup, not our bug. Node's
    // message names the call, the error and the path in one line.
    return {
      line: `error INVALID_ARGUMENT: ${error.message}`,
      exitCode: EXIT_USAGE,
      code: 'INVALID_ARGUMENT',
    };
  }
  const message = error instanceof Error ? error.message : String(error);
  const stack = process.env.SEGSERVE_DEBUG && error instanceof Error ? `\n${error.stack}` : '';
  return {
    line: `error INTERNAL_ERROR: ${message} (an unforeseen error; SEGSERVE_DEBUG=1 shows where)${stack}`,
    exitCode: EXIT_FAILURES,
    code: 'INTERNAL_ERROR',
  };
}
