/**
 * Importing a TFLite model into the model repository: `<repository>/<name>/<version>/model.onnx` and, when the
 * model has none yet, `<repository>/<name>/config.yaml`. Files appear whole or not at all: the config is
 * written to a temporary file and renamed, the version is written into a hidden folder (which the repository
 * ignores) and renamed to its number, so a server reading the repository meanwhile never sees half a model.
 */
import { createHash, randomUUID } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { basename, join, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import { SegserveError } from '../../errors.js';
import { ModelConfigSchema, parseModelConfig } from '../config.js';
import { CONFIG_FILE, readModelConfig } from '../load-config.js';
import { convertTflite } from './convert.js';
import { readTflite } from './reader.js';
import { type ServingChoices, type ServingConfig, servingConfig } from './serving-config.js';

export interface ImportOptions extends ServingChoices {
  /** Model name: the folder in the repository. */
  name: string;
  repository: string;
  /** Default: one more than the highest version already there (1 for a new model). */
  version?: number;
  description?: string;
  /** Extra comment lines for the config's header (e.g. the model's licence). */
  comments?: string[];
}

export interface ImportResult {
  modelDir: string;
  version: number;
  onnxPath: string;
  configPath: string;
  /** False when the model already had a config.yaml, which is kept as it is. */
  configWritten: boolean;
}

const MODEL_FILE = 'model.onnx';

function invalidArgument(reason: string): SegserveError {
  return new SegserveError('INVALID_ARGUMENT', { reason });
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

async function nextVersion(modelDir: string): Promise<number> {
  const entries = await readdir(modelDir, { withFileTypes: true });
  const versions = entries
    .filter((e) => e.isDirectory() && /^[1-9][0-9]*$/.test(e.name))
    .map((e) => Number(e.name));
  return Math.max(0, ...versions) + 1;
}

/** Writes `path` through a temporary file beside it and a rename. */
async function writeWhole(path: string, bytes: Uint8Array | string): Promise<void> {
  const temporary = `${path}.${randomUUID()}.tmp`;
  try {
    await writeFile(temporary, bytes);
    await rename(temporary, path);
  } finally {
    await rm(temporary, { force: true });
  }
}

/** YAML double-quoted scalars accept JSON strings, so names with `:` or `#` stay intact. */
const quoted = (value: string) => JSON.stringify(value);

function configText(serving: ServingConfig, header: string[], description: string): string {
  const comment = (line: string) => (line ? `# ${line}` : '#');
  return `${[
    ...header.map(comment),
    `description: ${quoted(description)}`,
    `task: ${serving.task}`,
    `decoder: ${serving.decoder}`,
    'input:',
    `  name: ${quoted(serving.inputName)}`,
    `  width: ${serving.width}`,
    `  height: ${serving.height}`,
    '  resize: stretch',
    '  layout: NHWC',
    '  color: RGB',
    '  # A TFLite file does not say how its pixels are normalised: 0..1 is assumed. Models trained on -1..1 need',
    '  # scale: 0.00784313725490196 and mean: [1, 1, 1].',
    `  scale: ${1 / 255}`,
    'output:',
    '  names:',
    `    scores: ${quoted(serving.outputName)}`,
    '  layout: NHWC',
    `  activation: ${serving.activation}`,
    `labels: [${serving.labels.map(quoted).join(', ')}]`,
  ].join('\n')}\n`;
}

/** The generated text must be a config the repository accepts; a failure here is a bug, not user error. */
function checkConfig(text: string): void {
  const parsed = parseModelConfig(parseDocument(text).toJS());
  if (!parsed.ok) {
    throw new Error(
      `generated config.yaml is invalid: ${parsed.issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`,
    );
  }
}

/** A new version must fit the config its model already has, or the repository could not serve it. */
async function checkExistingConfig(configPath: string, serving: ServingConfig): Promise<void> {
  const { input, output } = await readModelConfig(configPath);
  const scores = output.names.scores;
  const misfits = [
    input.name !== undefined && input.name !== serving.inputName && `input "${input.name}"`,
    (input.width !== serving.width || input.height !== serving.height) &&
      `${input.width}x${input.height} input`,
    scores !== undefined && scores !== serving.outputName && `scores output "${scores}"`,
  ].filter(Boolean);
  if (misfits.length > 0) {
    throw invalidArgument(
      `${configPath} expects ${misfits.join(', ')}; this model has input "${serving.inputName}" ${serving.width}x${serving.height} and output "${serving.outputName}" (import it under another name)`,
    );
  }
}

/**
 * Converts a TFLite model to ONNX and adds it to the repository as a new version of model `options.name`.
 * Throws TFLITE_INVALID for a file that is not a TFLite model, TFLITE_UNSUPPORTED_OPERATOR /
 * TFLITE_UNSUPPORTED_MODEL for one that cannot be converted exactly, and INVALID_ARGUMENT when the name,
 * version, task or labels are missing or do not fit.
 */
export async function importTflite(file: string, options: ImportOptions): Promise<ImportResult> {
  if (!options.name || !ModelConfigSchema.shape.name.safeParse(options.name).success) {
    throw invalidArgument(`model name "${options.name}": use letters, digits, ".", "_" and "-" (at most 64)`);
  }
  if (options.version !== undefined && !(Number.isInteger(options.version) && options.version >= 1)) {
    throw invalidArgument(`version ${options.version} is not a positive integer`);
  }
  let bytes: Uint8Array;
  try {
    bytes = await readFile(file);
  } catch (error) {
    throw invalidArgument(`cannot read ${file}: ${(error as Error).message}`);
  }
  const converted = convertTflite(readTflite(bytes), options.name);
  const serving = servingConfig(converted, options);

  const modelDir = resolve(options.repository, options.name);
  await mkdir(modelDir, { recursive: true });
  const version = options.version ?? (await nextVersion(modelDir));
  const versionDir = join(modelDir, String(version));
  if (await exists(versionDir)) throw invalidArgument(`${versionDir} already exists`);

  const configPath = join(modelDir, CONFIG_FILE);
  const configWritten = !(await exists(configPath));
  if (!configWritten) await checkExistingConfig(configPath, serving);
  else {
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    const text = configText(
      serving,
      [
        ...(options.description ? [options.description] : []),
        `Imported by segserve from ${basename(file)} (TFLite, sha256 ${sha256}).`,
        ...(options.comments ?? []),
        '',
        `Tensors: ${serving.summary}`,
      ],
      options.description ?? `${options.name}, imported from ${basename(file)}`,
    );
    checkConfig(text);
    await writeWhole(configPath, text);
  }

  const staging = join(modelDir, `.import-${randomUUID()}`);
  try {
    await mkdir(staging);
    await writeFile(join(staging, MODEL_FILE), converted.onnx);
    if (await exists(versionDir)) throw invalidArgument(`${versionDir} already exists`);
    await rename(staging, versionDir);
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
  return { modelDir, version, onnxPath: join(versionDir, MODEL_FILE), configPath, configWritten };
}

const SELFIE_PACKAGE = '@mediapipe/selfie_segmentation';

/**
 * Imports MediaPipe's selfie segmentation model from the installed npm package as model `person`, version 1:
 * a real model on a fresh machine with nothing downloaded beyond npm. The package has no `exports` map, so its
 * files resolve by path.
 */
export async function importBundledSelfieModel(repository: string): Promise<ImportResult> {
  const require = createRequire(import.meta.url);
  const file = require.resolve(`${SELFIE_PACKAGE}/selfie_segmentation.tflite`);
  const { version } = JSON.parse(await readFile(require.resolve(`${SELFIE_PACKAGE}/package.json`), 'utf8'));
  return importTflite(file, {
    name: 'person',
    repository,
    version: 1,
    task: 'binary',
    labels: ['background', 'person'],
    description: 'MediaPipe Selfie Segmentation (general model, 256x256): person vs background',
    comments: [
      `Source: npm package ${SELFIE_PACKAGE} ${version} (Google MediaPipe).`,
      "Licence: Apache-2.0 (the npm package's licence and MediaPipe's model card).",
    ],
  });
}
