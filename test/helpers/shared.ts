/**
 * The real models and datasets (shared-paths.ts) for the suites: those that need them skip with a visible message
 * when they are missing, never pass silently.
 */
import { describe } from 'vitest';
import { hasShared, sharedPath } from './shared-paths.js';

export { hasShared, SHARED_DIR, sharedPath } from './shared-paths.js';

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
