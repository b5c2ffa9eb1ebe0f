/**
 * Where the real models and datasets live (never inside the project): `SEGSERVE_SHARED` or `../shared` beside
 * the checkout. Without vitest, so the benchmarks read them too (shared.ts adds the suites' skip).
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { PROJECT_ROOT } from './paths.js';

export const SHARED_DIR = process.env.SEGSERVE_SHARED ?? resolve(PROJECT_ROOT, '..', 'shared');

export function sharedPath(...parts: string[]): string {
  return join(SHARED_DIR, ...parts);
}

export function hasShared(...parts: string[]): boolean {
  return existsSync(sharedPath(...parts));
}
