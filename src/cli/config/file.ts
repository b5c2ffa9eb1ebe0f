/**
 * The config file (`--config segserve.yaml`, or SEGSERVE_CONFIG): a YAML map whose keys are the settings' keys
 * of the registry. It is applied by filling the environment variables of its settings that are not set, before
 * the command reads its options: every parser then sees the file's values exactly as if they were variables,
 * so precedence is flag, then environment, then file, then default, with no parser reading a file of its own.
 *
 * An unknown key is refused with the known ones nearest to it: a misspelt key silently ignored is a setting the
 * operator believes applied.
 */
import { readFileSync } from 'node:fs';
import type { Option } from 'commander';
import { parse } from 'yaml';
import { SegserveError } from '../../errors.js';
import { SETTINGS, type Setting, type SettingCommand, settingByKey, settingOption } from './registry.js';

type Environment = Record<string, string | undefined>;

function refuse(path: string, reason: string): never {
  throw new SegserveError('INVALID_ARGUMENT', { reason: `config file ${path}: ${reason}` });
}

/** A YAML value as its variable would hold it: lists comma-separated (origins, CIDR ranges). */
function asVariable(path: string, key: string, value: unknown): string {
  if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean')
    return String(value);
  if (Array.isArray(value) && value.every((item) => typeof item === 'string' || typeof item === 'number')) {
    return value.join(',');
  }
  return refuse(path, `"${key}" must be a string, a number, a boolean or a list of strings`);
}

/** Keys sharing the most leading characters with `key`, for the error message. */
function nearest(key: string): string[] {
  const shared = (other: string) => {
    let n = 0;
    while (n < key.length && key[n] === other[n]) n++;
    return n;
  };
  const ranked = SETTINGS.map((setting) => setting.key).sort((a, b) => shared(b) - shared(a));
  return ranked.slice(0, 3);
}

/** The variables a config file sets, by name; INVALID_ARGUMENT for a file that is not a map of known keys. */
export function readConfigFile(path: string): Map<string, string> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    return refuse(path, `cannot be read (${(error as NodeJS.ErrnoException).code ?? String(error)})`);
  }
  let document: unknown;
  try {
    document = parse(text);
  } catch (error) {
    return refuse(path, `is not YAML: ${error instanceof Error ? error.message : String(error)}`);
  }
  if (document === null || document === undefined) return new Map();
  if (typeof document !== 'object' || Array.isArray(document))
    return refuse(path, 'must be a map of settings');
  const variables = new Map<string, string>();
  for (const [key, value] of Object.entries(document)) {
    const setting: Setting | undefined = settingByKey(key);
    if (!setting) return refuse(path, `unknown setting "${key}" (nearest: ${nearest(key).join(', ')})`);
    if (setting.key === 'config') return refuse(path, 'a config file cannot name another one');
    if (value === null) continue;
    variables.set(setting.env, asVariable(path, key, value));
  }
  return variables;
}

/**
 * Sets in `env` each variable of the file that `env` leaves unset or empty (shells and compose files write an
 * unset variable as an empty one); returns the names it set, for the log.
 */
export function applyConfigFile(path: string, env: Environment = process.env): string[] {
  const applied: string[] = [];
  for (const [name, value] of readConfigFile(path)) {
    if (env[name] === undefined || env[name]?.trim() === '') {
      env[name] = value;
      applied.push(name);
    }
  }
  return applied;
}

/** What `--config` leaves in a command's options: the file and the variables it set. */
export interface AppliedConfig {
  path: string;
  applied: string[];
}

/**
 * The `--config <file>` option of `command`. Its parser applies the file as it is parsed, which commander does
 * before it reads the other options' variables (flags first, then variables in the order the options were
 * added), so the option must be the command's first: the variables the file fills are then in place when the
 * later options look for theirs. SEGSERVE_CONFIG goes through the same parser.
 */
export function configOption(command: SettingCommand): Option {
  return settingOption('config', command, '<file>').argParser((path: string): AppliedConfig | undefined =>
    path.trim() === '' ? undefined : { path, applied: applyConfigFile(path) },
  );
}

/** For the "settings" log line: the file and the variables it filled (secrets named, never shown). */
export function describeConfig(config: AppliedConfig | undefined): string {
  if (!config) return 'none';
  return `${config.path}: ${config.applied.length > 0 ? config.applied.join(', ') : 'nothing (flags and variables set all it has)'}`;
}
