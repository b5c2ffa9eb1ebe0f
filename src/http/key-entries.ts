/**
 * Where keys come from, for admin keys and API keys alike: a comma-separated environment variable and a key
 * file (its flag, else its variable), one entry a line with `#` comments. Each entry keeps where it was found,
 * so a bad one is reported by place, never by its text (it may hold a real key).
 */
import { readFileSync } from 'node:fs';
import { SegserveError } from '../errors.js';

export interface KeyEntry {
  text: string;
  where: string;
}

export function readKeyEntries(source: {
  /** e.g. "admin key", in messages. */
  what: string;
  listEnv: string;
  fileEnv: string;
  /** The flag's file, which wins over the variable's. */
  keyFile?: string;
  env: Readonly<Record<string, string | undefined>>;
}): KeyEntry[] {
  const { what, listEnv, fileEnv, env } = source;
  const entries: KeyEntry[] = [];
  (env[listEnv] ?? '').split(',').forEach((text, i) => {
    if (text.trim() !== '') entries.push({ text: text.trim(), where: `${listEnv} entry ${i + 1}` });
  });
  const file = source.keyFile ?? (env[fileEnv]?.trim() || undefined);
  if (file === undefined) return entries;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new SegserveError('INVALID_ARGUMENT', {
      reason: `${what} file ${file} cannot be read: ${(error as Error).message}`,
    });
  }
  const before = entries.length;
  text.split(/\r?\n/).forEach((line, i) => {
    const entry = line.trim();
    if (entry !== '' && !entry.startsWith('#')) entries.push({ text: entry, where: `${file} line ${i + 1}` });
  });
  // A file named but empty is a mistake (a wrong path mounted empty), not a wish to turn keys off.
  if (entries.length === before)
    throw new SegserveError('INVALID_ARGUMENT', { reason: `${what} file ${file} holds no key` });
  return entries;
}
