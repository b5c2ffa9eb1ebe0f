/**
 * Reading one model folder of the repository: config.yaml, the labels, and which ONNX file serves which version.
 * Every problem a person can fix in the folder is reported as CONFIG_INVALID with the file and each issue as
 * `path: message`, all at once.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { LineCounter, parseDocument } from 'yaml';
import { SegserveError } from '../errors.js';
import { classLabels } from './class-labels.js';
import { type ConfigIssue, type ModelConfig, parseModelConfig } from './config.js';
import { samplingClassIssues } from './sampling-config.js';

export const CONFIG_FILE = 'config.yaml';
const DEFAULT_LABELS_FILE = 'labels.txt';
const DEFAULT_MODEL_FILE = 'model.onnx';

export type Env = Record<string, string | undefined>;

function configInvalid(file: string, issues: ConfigIssue[]): SegserveError {
  return new SegserveError('CONFIG_INVALID', {
    file,
    issues: issues.map((i) => `${i.path}: ${i.message}`).join('; '),
  });
}

/** Reads and validates config.yaml; YAML syntax errors carry their line and column. */
export async function readModelConfig(file: string): Promise<ModelConfig> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw configInvalid(file, [{ path: '(file)', message: `cannot read: ${(error as Error).message}` }]);
  }
  const lineCounter = new LineCounter();
  const document = parseDocument(text, { lineCounter, prettyErrors: false });
  if (document.errors.length > 0) {
    throw configInvalid(
      file,
      document.errors.map((e) => {
        const { line, col } = lineCounter.linePos(e.pos[0]);
        return { path: `line ${line}, column ${col}`, message: e.message };
      }),
    );
  }
  const parsed = parseModelConfig(document.toJS());
  if (!parsed.ok) throw configInvalid(file, parsed.issues);
  return parsed.config;
}

const ENV_REFERENCE = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

/**
 * Expands `${VAR}` and `${VAR:-default}` (the default applies when VAR is unset or empty, as in a shell).
 * An unset `${VAR}` without default is a problem, not an empty string: a path silently losing a part would
 * point somewhere unintended.
 */
export function expandEnv(value: string, env: Env): { value: string; missing: string[] } {
  const missing: string[] = [];
  const expanded = value.replace(ENV_REFERENCE, (_whole, name: string, fallback: string | undefined) => {
    const current = env[name];
    if (current !== undefined && current !== '') return current;
    if (fallback !== undefined) return fallback;
    missing.push(name);
    return '';
  });
  return { value: expanded, missing };
}

function expandPath(
  raw: string,
  base: string,
  env: Env,
  path: string,
  issues: ConfigIssue[],
): string | undefined {
  const { value, missing } = expandEnv(raw, env);
  if (missing.length > 0) {
    issues.push({
      path,
      message: `environment variable ${missing.join(', ')} is not set (write \${NAME:-default} for a fallback)`,
    });
    return undefined;
  }
  return resolve(base, value);
}

/** One label per line; a trailing newline or trailing empty lines are not labels. */
export function parseLabels(text: string): string[] {
  const lines = text
    .replace(/^\uFEFF/, '')
    .split(/\r?\n/)
    .map((line) => line.trim());
  while (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  return lines;
}

async function isFile(path: string): Promise<boolean> {
  return stat(path).then(
    (s) => s.isFile(),
    () => false,
  );
}

/** Labels from `labels`, `labels_file`, or labels.txt beside config.yaml; decoders need them, so none is a problem. */
async function readLabels(
  config: ModelConfig,
  modelDir: string,
  env: Env,
  issues: ConfigIssue[],
): Promise<string[]> {
  if (config.labels) return config.labels;
  const path = config.labels_file ? 'labels_file' : 'labels';
  const file = config.labels_file
    ? expandPath(config.labels_file, modelDir, env, path, issues)
    : join(modelDir, DEFAULT_LABELS_FILE);
  if (!file) return [];
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    issues.push({
      path,
      message: config.labels_file
        ? `cannot read ${file}: ${(error as Error).message}`
        : `no labels: give labels or labels_file, or put ${DEFAULT_LABELS_FILE} beside ${CONFIG_FILE}`,
    });
    return [];
  }
  const labels = parseLabels(text);
  const empty = labels.flatMap((label, i) => (label === '' ? [i + 1] : []));
  if (labels.length === 0) issues.push({ path, message: `${file} holds no labels` });
  if (empty.length > 0)
    issues.push({ path, message: `${file} has empty lines among the labels (lines ${empty.join(', ')})` });
  return labels;
}

/** A version chosen by the version policy: its ONNX file, or why it cannot be served. */
export interface VersionSource {
  version: number;
  modelPath: string;
  problem?: string;
}

/**
 * Versions on offer: numeric subfolders (`<n>/model.onnx`) and the `versions` map (which wins for the same
 * number). Then the version policy picks: the latest N, specific ones (a listed one that does not exist is
 * reported), or all. The result is sorted by version, newest first.
 */
async function resolveVersions(
  config: ModelConfig,
  modelDir: string,
  env: Env,
  issues: ConfigIssue[],
): Promise<{ chosen: VersionSource[]; available: VersionSource[] }> {
  const known = new Map<number, VersionSource>();
  const entries = await readdir(modelDir, { withFileTypes: true });
  for (const entry of entries) {
    if (!entry.isDirectory() || !/^[1-9][0-9]*$/.test(entry.name)) continue;
    const modelPath = join(modelDir, entry.name, DEFAULT_MODEL_FILE);
    const problem = (await isFile(modelPath)) ? undefined : `${modelPath} not found`;
    known.set(Number(entry.name), { version: Number(entry.name), modelPath, problem });
  }
  const unexpanded: ConfigIssue[] = [];
  for (const [key, raw] of Object.entries(config.versions)) {
    const modelPath = expandPath(raw, modelDir, env, `versions.${key}`, unexpanded);
    if (!modelPath) continue;
    const problem = (await isFile(modelPath)) ? undefined : `${modelPath} not found (versions.${key})`;
    known.set(Number(key), { version: Number(key), modelPath, problem });
  }
  issues.push(...unexpanded);
  if (known.size === 0) {
    if (unexpanded.length === 0) {
      issues.push({
        path: 'versions',
        message: `no versions: expected <n>/${DEFAULT_MODEL_FILE} folders in ${modelDir} or a versions map`,
      });
    }
    return { chosen: [], available: [] };
  }
  const newestFirst = [...known.values()].sort((a, b) => b.version - a.version);
  const policy = config.version_policy;
  if ('all' in policy) return { chosen: newestFirst, available: newestFirst };
  if ('latest' in policy) return { chosen: newestFirst.slice(0, policy.latest), available: newestFirst };
  const chosen = [...new Set(policy.specific)]
    .sort((a, b) => b - a)
    .map(
      (version) =>
        known.get(version) ?? {
          version,
          modelPath: join(modelDir, String(version), DEFAULT_MODEL_FILE),
          problem: `version ${version} is listed in version_policy.specific, but there is no ${version}/${DEFAULT_MODEL_FILE} and no versions.${version} entry`,
        },
    );
  return { chosen, available: newestFirst };
}

/** Everything read from a model folder before any session is created. */
export interface ModelDefinition {
  name: string;
  dir: string;
  configFile: string;
  config: ModelConfig;
  labels: string[];
  /** The versions the version policy picks, newest first. */
  versions: VersionSource[];
  /** Every version on offer (folders and the `versions` map), newest first, whether the policy picks it or not. */
  available: VersionSource[];
}

export async function loadModelDefinition(
  modelDir: string,
  env: Env = process.env,
): Promise<ModelDefinition> {
  const dir = resolve(modelDir);
  const configFile = join(dir, CONFIG_FILE);
  const config = await readModelConfig(configFile);
  const issues: ConfigIssue[] = [];
  const [labels, { chosen, available }] = await Promise.all([
    readLabels(config, dir, env, issues),
    resolveVersions(config, dir, env, issues),
  ]);
  // Checked here, where the labels are known: a file naming a class the model never answers would keep nothing.
  if (labels.length > 0)
    issues.push(...samplingClassIssues(config.sampling, classLabels(config.decoder, labels)));
  if (issues.length > 0) throw configInvalid(configFile, issues);
  return { name: config.name ?? basename(dir), dir, configFile, config, labels, versions: chosen, available };
}
