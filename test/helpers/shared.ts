/**
 * Where the real models and datasets live (never inside the project): `SEGSERVE_SHARED` or `../shared` beside
 * the checkout. Suites that need them skip with a visible message when they are missing, never pass silently.
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe } from 'vitest';
import { PROJECT_ROOT } from './paths.js';

export const SHARED_DIR = process.env.SEGSERVE_SHARED ?? resolve(PROJECT_ROOT, '..', 'shared');

export function sharedPath(...parts: string[]): string {
  return join(SHARED_DIR, ...parts);
}

export function hasShared(...parts: string[]): boolean {
  return existsSync(sharedPath(...parts));
}

/**
 * `describe` that runs only when `sharedPath(...parts)` exists, and says so loudly when it does not.
 * Vitest still executes a skipped suite's body to collect it, so suites read shared files in `beforeAll`.
 */
export function describeWithShared(name: string, parts: string[], body: () => void): void {
  const present = hasShared(...parts);
  if (!present) {
    console.warn(
      `SKIPPED "${name}": ${sharedPath(...parts)} is missing (set SEGSERVE_SHARED to the shared folder)`,
    );
  }
  describe.skipIf(!present)(present ? name : `${name} [skipped: ${sharedPath(...parts)} missing]`, body);
}
