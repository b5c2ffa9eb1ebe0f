/**
 * The storage flags (`--data-dir`, `--database-url`, `--blob-url`, `--s3-endpoint`), generated from the table in
 * src/storage/settings.ts, for every command that stores or reads stored data: `serve` and `datasets ...` take
 * the same flags and environment variables, so they find the same data. The flags carry no parser or default:
 * resolveStorageSettings reads flag, then variable, then default in one place.
 */
import { type Command, Option } from 'commander';
import {
  resolveStorageSettings,
  STORAGE_SETTINGS,
  type StorageSettingKey,
  type StorageSettings,
} from '../storage/settings.js';

/** Storage setting key by commander attribute name (`--data-dir` is `dataDir`). */
const STORAGE_ATTRIBUTES = new Map<string, StorageSettingKey>(
  STORAGE_SETTINGS.map((row) => [new Option(row.flag).attributeName(), row.key]),
);

export function addStorageOptions(command: Command): Command {
  for (const row of STORAGE_SETTINGS) {
    command.addOption(new Option(`${row.flag} ${row.value}`, `${row.description} (env ${row.env})`));
  }
  return command;
}

/** The settings from a command's parsed options and the environment; INVALID_ARGUMENT names a bad one. */
export function storageSettingsOf(options: Readonly<Record<string, unknown>>): StorageSettings {
  const flags: Partial<Record<StorageSettingKey, string>> = {};
  for (const [attribute, key] of STORAGE_ATTRIBUTES) {
    const value = options[attribute];
    if (typeof value === 'string') flags[key] = value;
  }
  return resolveStorageSettings(flags, process.env);
}
