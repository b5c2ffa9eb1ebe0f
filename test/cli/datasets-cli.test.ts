/**
 * `segserve datasets ...` through the real command line, on a temporary data directory (--data-dir, as serve
 * takes it): import a mask folder with progress on stderr, snapshot twice (the second finds the same version),
 * list, show, diff, export, and refusals with their codes and exit status 2.
 */
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeGreyPng } from '../../src/masks/index.js';
import { runCli } from '../helpers/cli.js';
import { tinyImage } from '../helpers/dataset-stores.js';

let dir: string;
let data: string;

const cli = (...args: string[]) =>
  runCli(['datasets', ...args, '--data-dir', data], {
    SEGSERVE_DATABASE_URL: '',
    SEGSERVE_BLOB_URL: '',
    SEGSERVE_S3_ENDPOINT: '',
  });

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'segserve-datasets-cli-'));
  data = join(dir, 'data');
  const folder = join(dir, 'labelled');
  await mkdir(join(folder, 'images'), { recursive: true });
  await mkdir(join(folder, 'masks'), { recursive: true });
  const lines = ['image,mask'];
  for (let i = 0; i < 10; i++) {
    await writeFile(join(folder, 'images', `${i}.png`), tinyImage(i));
    // 0/255 masks, as black-and-white mask folders usually are.
    const mask = Uint8Array.from({ length: 12 }, (_, p) => (p <= i ? 255 : 0));
    await writeFile(join(folder, 'masks', `${i}.png`), encodeGreyPng(mask, 4, 3));
    lines.push(`images/${i}.png,masks/${i}.png`);
  }
  await writeFile(join(folder, 'manifest.csv'), `${lines.join('\n')}\n`);
});

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('segserve datasets', () => {
  let versionId: string;

  it('imports a mask folder, showing progress', async () => {
    const run = await cli(
      'import',
      'people',
      '--masks',
      join(dir, 'labelled'),
      '--labels',
      'background,person',
    );
    expect(run.stderr).not.toMatch(/error/);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('imported 10 image(s) into people (binary: background, person)');
    expect(run.stdout).toContain('10 added, 0 relabelled, 0 unchanged');
    // Not a terminal: a line per tenth of the way for each phase.
    expect(run.stderr).toContain('check: 10/10 (100%)');
    expect(run.stderr).toContain('store: 10/10 (100%)');
  });

  it('snapshots, and finds the same version when nothing changed', async () => {
    const first = await cli('snapshot', 'people', '--note', 'seed', '--json');
    expect(first.code).toBe(0);
    const body = JSON.parse(first.stdout);
    expect(body).toMatchObject({ created: true, version: { items: 10, note: 'seed' } });
    versionId = body.version.id;
    const second = await cli('snapshot', 'people');
    expect(second.code).toBe(0);
    expect(second.stdout).toBe(`people is unchanged since version ${versionId}; nothing recorded\n`);
  });

  it('lists, shows and diffs', async () => {
    const list = await cli('list');
    expect(list.stdout).toMatch(
      /^NAME\s+TASK\s+CLASSES\s+ITEMS\s+VERSIONS\s+LATEST\npeople\s+binary\s+2\s+10\s+1\s+/,
    );
    const show = await cli('show', 'people', versionId.slice(0, 8), '--json');
    expect(JSON.parse(show.stdout)).toMatchObject({
      id: versionId,
      classes: [{ label: 'background' }, { label: 'person', images: 10, pixels: 55 }],
    });
    const text = await cli('show', 'people');
    expect(text.stdout).toContain('working set: 10 image(s)');
    expect(text.stdout).toContain(`  ${versionId.slice(0, 12)}`);
    const diff = await cli('diff', 'people');
    expect(diff.stdout).toContain('10 added, 0 removed, 0 relabelled, 0 unchanged');
  });

  it('exports a version to a folder', async () => {
    const out = join(dir, 'export-cvat');
    const run = await cli('export', 'people', 'latest', '--format', 'cvat', '--out', out);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain(`as cvat to ${out}: 10 image(s), 1 annotation file(s) (annotations.xml)`);
    expect((await readdir(out)).sort()).toEqual(['annotations.xml', 'export.json', 'images']);
    expect(await readFile(join(out, 'annotations.xml'), 'utf8')).toContain('<mask label="person"');
  });

  it('refuses with a code and exit status 2', async () => {
    const both = await cli('export', 'people', '--format', 'coco');
    expect(both.code).toBe(2);
    expect(both.stderr).toContain('error INVALID_ARGUMENT: give one of --out <dir> and --prefix <prefix>');
    const unknown = await cli('show', 'nobody');
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('error DATASET_NOT_FOUND: No dataset named "nobody".');
    const bad = await cli('import', 'people', '--masks', join(dir, 'nowhere'));
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('error DATASET_IMPORT_INVALID:');
    expect(bad.stderr).toContain('manifest.csv is missing');
  });
});
