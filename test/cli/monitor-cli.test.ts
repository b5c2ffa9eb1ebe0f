/**
 * `segserve monitor baseline` as a real process with a tiny model: it segments a folder through the service and
 * writes a baseline the monitor accepts for that model and refuses for another; too few images is a one-line
 * INVALID_ARGUMENT with exit code 2.
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DriftBaseline, readBaseline } from '../../src/monitoring/drift/index.js';
import { semanticScene, tinySigmoidModel } from '../helpers/tiny-models.js';
import { writeRepository } from '../http/helpers.js';
import { runCliWithin, STACK_LINE } from './run.js';

let work: string;
let repo: string;
const RUN_MS = 60_000;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'segserve-monitor-'));
  repo = await writeRepository({ sigmoid: tinySigmoidModel() });
  const scene = semanticScene();
  await mkdir(join(work, 'images'));
  // 24 images of varied brightness and size, so the quantile bins have something to split.
  for (let i = 0; i < 24; i++) {
    const data = Uint8Array.from(scene.data, (v) => Math.min(255, v * (0.5 + i / 24)));
    await sharp(data, { raw: { width: scene.width, height: scene.height, channels: 3 } })
      .resize(scene.width + i, scene.height)
      .png()
      .toFile(join(work, 'images', `${i}.png`));
  }
  await mkdir(join(work, 'few'));
  await writeFile(join(work, 'few', 'a.png'), await readFile(join(work, 'images', '0.png')));
});

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
  await rm(repo, { recursive: true, force: true });
});

describe('segserve monitor baseline', () => {
  it('writes a baseline of every image, which fits its model and no other', { timeout: RUN_MS }, async () => {
    const out = join(work, 'out', 'baseline.json');
    const run = await runCliWithin(
      [
        'monitor',
        'baseline',
        '-m',
        'sigmoid',
        '--models',
        repo,
        '--images',
        join(work, 'images'),
        '--out',
        out,
      ],
      RUN_MS,
    );
    expect(run.stderr).not.toMatch(STACK_LINE);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/baseline of 24\/24 images for sigmoid version 1 written to/);
    const baseline = JSON.parse(await readFile(out, 'utf8')) as DriftBaseline;
    expect(baseline).toMatchObject({
      format: 'segserve-drift-baseline',
      model: 'sigmoid',
      version: 1,
      size: 24,
    });
    expect(Object.keys(baseline.numeric).sort()).toEqual(
      ['aspect_ratio', 'brightness', 'colourfulness', 'contrast', 'entropy'].sort(),
    );
    expect(baseline.numeric.brightness?.edges.length).toBeGreaterThan(0);
    const target = {
      name: 'sigmoid',
      version: 1,
      task: baseline.task,
      labels: baseline.labels,
      input: baseline.input,
    };
    await expect(readBaseline(out, target)).resolves.toMatchObject({ size: 24 });
    await expect(readBaseline(out, { ...target, name: 'softmax' })).rejects.toMatchObject({
      code: 'DRIFT_BASELINE_INVALID',
    });
  });

  it('refuses a folder of fewer than 20 images in one line, exit code 2', { timeout: RUN_MS }, async () => {
    const run = await runCliWithin(
      [
        'monitor',
        'baseline',
        '-m',
        'sigmoid',
        '--models',
        repo,
        '--images',
        join(work, 'few'),
        '--out',
        join(work, 'x.json'),
      ],
      RUN_MS,
    );
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/INVALID_ARGUMENT.*at least 20 images/);
    expect(run.stderr).not.toMatch(STACK_LINE);
  });
});
