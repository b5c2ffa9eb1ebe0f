/** The SegserveError that `action` rejects with; fails the test when it resolves or rejects with anything else. */
import { isSegserveError, type SegserveError } from '../../src/errors.js';

export async function caught(action: () => Promise<unknown>): Promise<SegserveError> {
  try {
    await action();
  } catch (error) {
    if (isSegserveError(error)) return error;
    throw error;
  }
  throw new Error('no error was raised');
}

/** The catalogue code `promise` rejects with; fails the test when it resolves or rejects with anything else. */
export async function codeOf(promise: Promise<unknown>): Promise<string> {
  return (await caught(() => promise)).code;
}
