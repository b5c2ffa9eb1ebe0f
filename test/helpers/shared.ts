/**
 * Where the real models and datasets live (never inside the project): `SEGSERVE_SHARED` or `../shared` beside
 * the checkout. Suites that need them skip with a visible message when they are missing, never pass silently.
 */
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe } from 'vitest';

const projectRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

export const SHARED_DIR = process.env.SEGSERVE_SHARED ?? resolve(projectRoot, '..', 'shared');

export function sharedPath(...parts: string[]): string {
  return join(SHARED_DIR, ...parts);
}

export function hasShared(...parts: string[]): boolean {
  return existsSync(sharedPath(...parts));
}

/** `describe` that runs only when `sharedPath(...parts)` exists, and says so loudly when it does not. */
export function describeWithShared(name: string, parts: string[], body: () => void): void {
  const present = hasShared(...parts);
  if (!present) {
    console.warn(`SKIPPED "${name}": ${sharedPath(...parts)} is missing (set SEGSERVE_SHARED to the shared folder)`);
  }
  describe.skipIf(!present)(present ? name : `${name} [skipped: ${sharedPath(...parts)} missing]`, body);
}
