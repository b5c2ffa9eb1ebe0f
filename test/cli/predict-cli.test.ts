/**
 * `segserve predict` with tiny models as a real process: outputs mirror the input tree and never overwrite an
 * input or each other; non-regular files (FIFOs) are skipped in folders and refused when named; the summary
 * counts what the task finds; expected errors are one line with a catalogue code and exit code 2.
 */
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ERROR_CATALOGUE } from '../../src/errors.js';
import type { CocoResult } from '../../src/serving/types.js';
import { PROJECT_ROOT } from '../helpers/paths.js';
import {
  semanticScene,
  tinySigmoidModel,
  tinySoftmaxModel,
  tinyYoloSegModel,
  yoloScene,
} from '../helpers/tiny-models.js';
import { png, writeRepository } from '../http/helpers.js';
import { runCliWithin, STACK_LINE } from './run.js';

let work: string;
let repo: string;
let scenePng: Buffer;
let sceneJpg: Buffer;

const RUN_MS = 60_000;

async function listTree(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile())
    .map((e) => relative(dir, join(e.parentPath, e.name)))
    .sort();
}

function predictArgs(inputs: string[], out: string, ...rest: string[]): string[] {
  return ['predict', ...inputs, '--models', repo, '--out', out, ...rest];
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'segserve-cli-'));
  repo = await writeRepository({
    softmax: tinySoftmaxModel(),
    sigmoid: tinySigmoidModel(),
    yolo: tinyYoloSegModel(),
  });
  scenePng = await png(semanticScene());
  const scene = semanticScene();
  sceneJpg = await sharp(Buffer.from(scene.data), {
    raw: { width: scene.width, height: scene.height, channels: 3 },
  })
    .jpeg({ quality: 100 })
    .toBuffer();
});

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
  await rm(repo, { recursive: true, force: true });
});

describe('output layout', () => {
  it('--out into the input folder: mirrors the tree, never overwrites an input, JSON and COCO name relative paths', async () => {
    const dir = join(work, 'in-place');
    await mkdir(join(dir, 'sub'), { recursive: true });
    await writeFile(join(dir, 'x.png'), scenePng);
    await writeFile(join(dir, 'sub', 'x.jpg'), sceneJpg);
    await writeFile(join(dir, 'sub', 'y.png'), scenePng);
    const run = await runCliWithin(
      predictArgs([dir], dir, '--model', 'softmax', '--version', '1', '-r', '--format', 'json,png,coco'),
      RUN_MS,
    );
    expect(run.code, run.stderr).toBe(0);
    // The inputs are untouched.
    expect(await readFile(join(dir, 'x.png'))).toEqual(scenePng);
    expect(await readFile(join(dir, 'sub', 'x.jpg'))).toEqual(sceneJpg);
    expect(await readFile(join(dir, 'sub', 'y.png'))).toEqual(scenePng);
    // x.png's mask would be x.png itself, and sub/y.png's would be sub/y.png: they take their full names as the
    // base of all their outputs (one base per image, so an image's files stay together).
    expect(await listTree(dir)).toEqual(
      [
        'results.json',
        'sub/x.jpg',
        'sub/x.json',
        'sub/x.png',
        'sub/y.png',
        'sub/y.png.json',
        'sub/y.png.png',
        'x.png',
        'x.png.json',
        'x.png.png',
      ].sort(),
    );
    const jsonOf = async (name: string) =>
      JSON.parse(await readFile(join(dir, name), 'utf8')) as { file: string };
    expect((await jsonOf('sub/x.json')).file).toBe('sub/x.jpg');
    expect((await jsonOf('sub/y.png.json')).file).toBe('sub/y.png');
    expect((await jsonOf('x.png.json')).file).toBe('x.png');
    const results: CocoResult[] = JSON.parse(await readFile(join(dir, 'results.json'), 'utf8'));
    expect([...new Set(results.map((r) => r.file_name))].sort()).toEqual(['sub/x.jpg', 'sub/y.png', 'x.png']);
  });

  it('--out elsewhere: out/sub/x.png, and two images with one stem never overwrite each other', async () => {
    const dir = join(work, 'tree');
    const out = join(work, 'tree-out');
    await mkdir(join(dir, 'sub'), { recursive: true });
    await writeFile(join(dir, 'z.jpg'), sceneJpg);
    await writeFile(join(dir, 'z.png'), scenePng);
    await writeFile(join(dir, 'sub', 'x.jpg'), sceneJpg);
    const run = await runCliWithin(
      predictArgs([dir], out, '--model', 'softmax', '-r', '--format', 'json,png'),
      RUN_MS,
    );
    expect(run.code, run.stderr).toBe(0);
    expect(await listTree(out)).toEqual(
      ['sub/x.json', 'sub/x.png', 'z.json', 'z.png', 'z.png.json', 'z.png.png'].sort(),
    );
    const z = JSON.parse(await readFile(join(out, 'z.json'), 'utf8')) as { file: string };
    const zPng = JSON.parse(await readFile(join(out, 'z.png.json'), 'utf8')) as { file: string };
    expect([z.file, zPng.file]).toEqual(['z.jpg', 'z.png']);
  });
});

describe('non-regular files', () => {
  it('skips a FIFO named like an image in a folder, and refuses a FIFO named on the command line', async () => {
    const dir = join(work, 'fifo');
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'a.png'), scenePng);
    // Nobody ever writes to this pipe: reading it would block forever.
    execFileSync('mkfifo', [join(dir, 'b.png')]);

    const folder = await runCliWithin(
      predictArgs([dir], join(work, 'fifo-out'), '--model', 'softmax'),
      RUN_MS,
    );
    expect(folder.timedOut, folder.stderr).toBe(false);
    expect(folder.code, folder.stderr).toBe(0);
    expect(folder.stdout).toMatch(/^1\/1 images segmented/m);
    expect(folder.stdout).toContain('skipped 1 folder entries that are not regular files');
    expect(folder.stdout).toContain(join(dir, 'b.png'));

    const named = await runCliWithin(
      predictArgs([join(dir, 'b.png')], join(work, 'fifo-out'), '--model', 'softmax'),
      RUN_MS,
    );
    expect(named.timedOut, named.stderr).toBe(false);
    expect(named.code).toBe(2);
    expect(named.stderr.trim()).toBe(
      `error PATH_FORBIDDEN: Path "${join(dir, 'b.png')}" cannot be read: it is a FIFO (named pipe), not a regular file`,
    );
  });
});

describe('summary', () => {
  it('semantic: counts the non-background classes present, not background', async () => {
    const dir = join(work, 'summary');
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'scene.png'), scenePng);
    const run = await runCliWithin(
      predictArgs([dir], join(work, 'summary-out'), '--model', 'softmax'),
      RUN_MS,
    );
    expect(run.code, run.stderr).toBe(0);
    // red, green and blue; background (172 px) is not a detection.
    expect(run.stdout).toMatch(/1\/1 images segmented .*, 3 non-background classes present/);
    expect(run.stdout).not.toMatch(/detections/);
  });

  it('binary: says in how many images the foreground was found (class 0 is background)', async () => {
    const dir = join(work, 'summary-binary');
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'scene.png'), scenePng);
    await writeFile(
      join(dir, 'black.png'),
      await png({ width: 16, height: 16, channels: 3, data: new Uint8Array(16 * 16 * 3) }),
    );
    const run = await runCliWithin(
      predictArgs([dir], join(work, 'summary-binary-out'), '--model', 'sigmoid'),
      RUN_MS,
    );
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/2\/2 images segmented .*, foreground in 1 of 2 images/);
  });

  it('instance: counts instances', async () => {
    const dir = join(work, 'summary-instance');
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'scene.png'), await png(yoloScene()));
    const run = await runCliWithin(
      predictArgs([dir], join(work, 'summary-instance-out'), '--model', 'yolo'),
      RUN_MS,
    );
    expect(run.code, run.stderr).toBe(0);
    const json = JSON.parse(await readFile(join(work, 'summary-instance-out', 'scene.json'), 'utf8')) as {
      instances: unknown[];
    };
    expect(json.instances.length).toBeGreaterThan(0);
    expect(run.stdout).toMatch(new RegExp(`1/1 images segmented .*, ${json.instances.length} instances?\\n`));
  });
});

describe('errors and --version', () => {
  it('an unwritable --out: one line with OUTPUT_NOT_WRITABLE, exit code 2, no stack trace', async () => {
    const dir = join(work, 'unwritable');
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'a.png'), scenePng);
    // A path below a regular file can never be created, even by root (chmod would not stop root).
    const out = join(dir, 'a.png', 'out');
    const run = await runCliWithin(predictArgs([dir], out, '--model', 'softmax'), RUN_MS);
    expect(run.code).toBe(2);
    expect(run.stderr).not.toMatch(STACK_LINE);
    expect(run.stderr.trim()).toBe(
      `error OUTPUT_NOT_WRITABLE: Cannot write to ${out}: a part of the path is a file, not a folder`,
    );
    expect(ERROR_CATALOGUE.OUTPUT_NOT_WRITABLE).toBeDefined();
  });

  it('expected errors are one line with a catalogue code and exit code 2', async () => {
    const dir = join(work, 'errors');
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'a.png'), scenePng);
    const cases: Array<[string[], string]> = [
      [predictArgs([join(work, 'missing')], join(work, 'o'), '--model', 'softmax'), 'INVALID_ARGUMENT'],
      [predictArgs([work], join(work, 'o'), '--model', 'nope'), 'MODEL_NOT_FOUND'],
      [predictArgs([work], join(work, 'o'), '--model', 'softmax', '--format', 'gif'), 'INVALID_ARGUMENT'],
      [
        predictArgs([dir], join(work, 'o'), '--model', 'softmax', '--categories', join(work, 'none.json')),
        'INVALID_ARGUMENT',
      ],
    ];
    for (const [args, code] of cases) {
      const run = await runCliWithin(args, RUN_MS);
      expect(run.code, run.stderr).toBe(2);
      expect(run.stderr).toMatch(new RegExp(`^error ${code}: `));
      expect(run.stderr.trim().split('\n')).toHaveLength(1);
      expect(run.stderr).not.toMatch(STACK_LINE);
    }
  });

  it('a usage error (commander refuses the arguments) exits with 2', async () => {
    const run = await runCliWithin(['predict', work, '--model', 'softmax', '--out', work, '--nope'], RUN_MS);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/^error: unknown option '--nope'/);
  });

  it('--version prints the package version', async () => {
    const pkg = JSON.parse(await readFile(join(PROJECT_ROOT, 'package.json'), 'utf8')) as {
      version: string;
    };
    const run = await runCliWithin(['--version'], RUN_MS);
    expect(run.code).toBe(0);
    expect(run.stdout.trim()).toBe(pkg.version);
  });
});
