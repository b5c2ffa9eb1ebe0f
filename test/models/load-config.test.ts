import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SegserveError } from '../../src/errors.js';
import {
  expandEnv,
  loadModelDefinition,
  parseLabels,
  readModelConfig,
} from '../../src/models/load-config.js';
import { SEMANTIC_CONFIG, writeModelFolder } from './model-folders.js';

let root: string;
let counter = 0;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'segserve-config-'));
});
afterAll(() => rm(root, { recursive: true, force: true }));

function folder(): string {
  return join(root, `model-${++counter}`);
}

async function failure(promise: Promise<unknown>): Promise<SegserveError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(error instanceof SegserveError)) throw new Error(`expected a SegserveError, got ${String(error)}`);
  return error;
}

describe('readModelConfig', () => {
  it('reports YAML syntax errors with line and column', async () => {
    const dir = await writeModelFolder(folder(), {
      config: 'task: semantic\ninput:\n  width: [4\n  height: 4\n',
    });
    const error = await failure(readModelConfig(join(dir, 'config.yaml')));
    expect(error.code).toBe('CONFIG_INVALID');
    expect(error.details.file).toBe(join(dir, 'config.yaml'));
    expect(error.details.issues).toMatch(/^line \d+, column \d+: /);
  });

  it('reports duplicate keys as YAML errors', async () => {
    const dir = await writeModelFolder(folder(), { config: `${SEMANTIC_CONFIG}task: binary\n` });
    const error = await failure(readModelConfig(join(dir, 'config.yaml')));
    expect(error.details.issues).toMatch(/line 6, column 1: .*unique/i);
  });

  it('reports every schema issue as path: message in one error', async () => {
    const dir = await writeModelFolder(folder(), {
      config: 'task: semantic\ndecoder: yolo-seg\ninput: {width: -1, height: 4, foo: 1}\n',
    });
    const error = await failure(readModelConfig(join(dir, 'config.yaml')));
    expect(error.details.issues).toContain('input.width: ');
    expect(error.details.issues).toContain('input.foo: unknown field');
    expect(error.details.issues).toContain('decoder: decoder "yolo-seg" serves task instance');
    expect(error.message).toContain(join(dir, 'config.yaml'));
  });

  it('reports a missing config.yaml', async () => {
    const error = await failure(readModelConfig(join(folder(), 'config.yaml')));
    expect(error.code).toBe('CONFIG_INVALID');
    expect(error.details.issues).toMatch(/cannot read/);
  });
});

describe('labels', () => {
  it('parses one label per line, ignoring trailing empty lines, CRLF and a BOM', () => {
    expect(parseLabels('\uFEFFcat\r\ndog \nbird\n\n\n')).toEqual(['cat', 'dog', 'bird']);
  });

  it('reads labels.txt beside config.yaml by default', async () => {
    const dir = await writeModelFolder(folder(), {
      config: SEMANTIC_CONFIG,
      labels: 'a\nb\n',
      versions: { 1: 'x' },
    });
    expect((await loadModelDefinition(dir, {})).labels).toEqual(['a', 'b']);
  });

  it('prefers inline labels', async () => {
    const dir = await writeModelFolder(folder(), {
      config: `${SEMANTIC_CONFIG}labels: [x, y, z]\n`,
      versions: { 1: 'x' },
    });
    expect((await loadModelDefinition(dir, {})).labels).toEqual(['x', 'y', 'z']);
  });

  it('reads labels_file relative to the model folder with environment references', async () => {
    const dir = await writeModelFolder(folder(), {
      config: `${SEMANTIC_CONFIG}labels_file: \${LABELS_DIR:-.}/names.txt\n`,
      versions: { 1: 'x' },
    });
    await writeFile(join(dir, 'names.txt'), 'one\ntwo\n');
    expect((await loadModelDefinition(dir, {})).labels).toEqual(['one', 'two']);
    expect((await loadModelDefinition(dir, { LABELS_DIR: dir })).labels).toEqual(['one', 'two']);
  });

  it('reports missing labels, empty lines among labels, and a missing labels_file together with version problems', async () => {
    const none = await writeModelFolder(folder(), { config: SEMANTIC_CONFIG, versions: { 1: 'x' } });
    expect((await failure(loadModelDefinition(none, {}))).details.issues).toMatch(/^labels: no labels/);

    const gaps = await writeModelFolder(folder(), {
      config: SEMANTIC_CONFIG,
      labels: 'a\n\nc\n',
      versions: { 1: 'x' },
    });
    expect((await failure(loadModelDefinition(gaps, {}))).details.issues).toMatch(
      /empty lines among the labels \(lines 2\)/,
    );

    const both = await writeModelFolder(folder(), {
      config: `${SEMANTIC_CONFIG}labels_file: missing.txt\nversions:\n  1: \${NOPE}/m.onnx\n`,
    });
    const issues = String((await failure(loadModelDefinition(both, {}))).details.issues);
    expect(issues).toContain('labels_file: cannot read');
    expect(issues).toContain('versions.1: environment variable NOPE is not set');
  });
});

describe('expandEnv', () => {
  it('expands $NAME references with and without a default, the default also for an empty variable', () => {
    expect(expandEnv(`\${A}/x/\${B:-b}/\${C:-c}`, { A: 'a', B: 'bee', C: '' })).toEqual({
      value: 'a/x/bee/c',
      missing: [],
    });
  });

  it('lists variables that are unset and have no default', () => {
    expect(expandEnv(`\${A}/\${B}`, {}).missing).toEqual(['A', 'B']);
  });
});

describe('versions and version policy', () => {
  const versionsOf = async (dir: string, env: Record<string, string> = {}) =>
    (await loadModelDefinition(dir, env)).versions.map((v) => ({ version: v.version, problem: v.problem }));

  it('serves the newest version by default', async () => {
    const dir = await writeModelFolder(folder(), {
      config: SEMANTIC_CONFIG,
      labels: 'a\n',
      versions: { 1: 'x', 2: 'x', 10: 'x' },
    });
    expect(await versionsOf(dir)).toEqual([{ version: 10, problem: undefined }]);
  });

  it('latest: 2 of 3 picks the two highest numbers', async () => {
    const dir = await writeModelFolder(folder(), {
      config: `${SEMANTIC_CONFIG}version_policy: {latest: 2}\n`,
      labels: 'a\n',
      versions: { 1: 'x', 2: 'x', 3: 'x' },
    });
    expect((await versionsOf(dir)).map((v) => v.version)).toEqual([3, 2]);
  });

  it('specific picks the listed versions and reports a listed one that does not exist', async () => {
    const dir = await writeModelFolder(folder(), {
      config: `${SEMANTIC_CONFIG}version_policy: {specific: [1, 4]}\n`,
      labels: 'a\n',
      versions: { 1: 'x', 2: 'x' },
    });
    const versions = await versionsOf(dir);
    expect(versions.map((v) => v.version)).toEqual([4, 1]);
    expect(versions[0].problem).toMatch(
      /version 4 is listed in version_policy.specific, but there is no 4\/model.onnx/,
    );
    expect(versions[1].problem).toBeUndefined();
  });

  it('all picks every version, newest first', async () => {
    const dir = await writeModelFolder(folder(), {
      config: `${SEMANTIC_CONFIG}version_policy: {all: true}\n`,
      labels: 'a\n',
      versions: { 2: 'x', 1: 'x', 3: 'x' },
    });
    expect((await versionsOf(dir)).map((v) => v.version)).toEqual([3, 2, 1]);
  });

  it('takes files from the versions map, expanding the environment, over numbered folders', async () => {
    const elsewhere = await writeModelFolder(folder(), {});
    await writeFile(join(elsewhere, 'v7.onnx'), 'x');
    const dir = await writeModelFolder(folder(), {
      config: `${SEMANTIC_CONFIG}versions:\n  7: \${STORE:-/nowhere}/v7.onnx\n  8: ../missing.onnx\nversion_policy: {all: true}\n`,
      labels: 'a\n',
      versions: { 1: 'x' },
    });
    const definition = await loadModelDefinition(dir, { STORE: elsewhere });
    expect(definition.versions.map((v) => [v.version, v.modelPath])).toEqual([
      [8, join(root, 'missing.onnx')],
      [7, join(elsewhere, 'v7.onnx')],
      [1, join(dir, '1', 'model.onnx')],
    ]);
    expect(definition.versions[0].problem).toMatch(/missing.onnx not found \(versions.8\)/);
  });

  it('reports a numbered folder without model.onnx when the policy picks it', async () => {
    const dir = await writeModelFolder(folder(), {
      config: SEMANTIC_CONFIG,
      labels: 'a\n',
      versions: { 1: 'x' },
    });
    await writeModelFolder(join(dir, '2'), {});
    expect(await versionsOf(dir)).toEqual([
      { version: 2, problem: `${join(dir, '2', 'model.onnx')} not found` },
    ]);
  });

  it('reports a model folder without any version', async () => {
    const dir = await writeModelFolder(folder(), { config: SEMANTIC_CONFIG, labels: 'a\n' });
    expect((await failure(loadModelDefinition(dir, {}))).details.issues).toMatch(/^versions: no versions/);
  });

  it('names the model after its folder unless the config names it', async () => {
    const dir = await writeModelFolder(folder(), {
      config: SEMANTIC_CONFIG,
      labels: 'a\n',
      versions: { 1: 'x' },
    });
    expect((await loadModelDefinition(dir, {})).name).toBe(`model-${counter}`);
    const named = await writeModelFolder(folder(), {
      config: `${SEMANTIC_CONFIG}name: people\n`,
      labels: 'a\n',
      versions: { 1: 'x' },
    });
    expect((await loadModelDefinition(named, {})).name).toBe('people');
  });
});
