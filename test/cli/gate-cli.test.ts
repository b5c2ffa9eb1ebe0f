/**
 * `segserve predict` as a real process with a classifier and a gated model (tiny models built here): a gated
 * model is opened with its gate model (by name in a repository, or as a model folder beside it), images the gate
 * refuses are reported as failed with GATE_REFUSED (exit code 1) while the rest are written; a classifier writes
 * its classes as JSON and is refused formats made of masks before any image is read.
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SegmentationJson } from '../../src/serving/types.js';
import {
  BLUE,
  paintRgb,
  RED,
  semanticScene,
  tinyColourClassifier,
  tinyRedClassifier,
  tinySoftmaxModel,
} from '../helpers/tiny-models.js';
import { png, writeRepository } from '../http/helpers.js';
import { runCliWithin, STACK_LINE } from './run.js';

const RUN_MS = 60_000;
let work: string;
let repo: string;
let images: string;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'segserve-gate-cli-'));
  const softmax = tinySoftmaxModel();
  repo = await writeRepository({
    gated: {
      bytes: softmax.bytes,
      config: {
        ...(softmax.config as object),
        pipeline: { gate: { model: 'red-or-not', accept: ['red'], min_score: 0.6 } },
      },
    },
    'red-or-not': tinyRedClassifier(),
    colour: tinyColourClassifier(),
    softmax,
  });
  images = join(work, 'images');
  await mkdir(images);
  await writeFile(
    join(images, 'reddish.png'),
    await png(
      paintRgb(16, 16, [
        { x0: 0, y0: 0, x1: 16, y1: 16, rgb: RED },
        { x0: 4, y0: 10, x1: 8, y1: 14, rgb: BLUE },
      ]),
    ),
  );
  await writeFile(join(images, 'scene.png'), await png(semanticScene()));
});

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
  await rm(repo, { recursive: true, force: true });
});

describe('segserve predict with a gate', () => {
  for (const [how, model] of [
    ['by name in the repository', () => ['--models', repo, '--model', 'gated']],
    ['as a model folder beside its gate', () => ['--model', join(repo, 'gated')]],
  ] as const) {
    it(`${how}: segments what the gate accepts, reports what it refuses`, async () => {
      const out = join(work, `out-${how.split(' ')[0]}`);
      const run = await runCliWithin(['predict', images, ...model(), '--out', out], RUN_MS);
      expect(run.code, run.stderr).toBe(1);
      expect(run.stdout).toMatch(/1\/2 images segmented/);
      expect(run.stdout).toMatch(/, gate [\d.]+/);
      expect(run.stdout).toContain(
        `FAILED ${join(images, 'scene.png')}: GATE_REFUSED Model "gated" segments only images its gate "red-or-not" accepts`,
      );
      const json = JSON.parse(await readFile(join(out, 'reddish.json'), 'utf8')) as SegmentationJson;
      expect(json.gate).toEqual({ model: 'red-or-not', version: 1, label: 'red', score: 0.9375 });
      expect(json.timings.gate).toBeGreaterThan(0);
    });
  }
});

describe('segserve predict with a classifier', () => {
  it('writes its classes as JSON', async () => {
    const out = join(work, 'out-colour');
    const run = await runCliWithin(
      ['predict', join(images, 'scene.png'), '--models', repo, '--model', 'colour', '--out', out],
      RUN_MS,
    );
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/1\/1 images segmented .*, 1 image classified/);
    const json = JSON.parse(await readFile(join(out, 'scene.json'), 'utf8')) as SegmentationJson;
    expect(json.task).toBe('classification');
    expect(json.classes?.map((c) => c.label)).toEqual(['grey', 'red', 'blue', 'green']);
  });

  it('refuses formats made of masks before reading any image', async () => {
    const run = await runCliWithin(
      [
        'predict',
        images,
        '--models',
        repo,
        '--model',
        'colour',
        '--out',
        join(work, 'o'),
        '--format',
        'json,png',
      ],
      RUN_MS,
    );
    expect(run.code).toBe(2);
    expect(run.stderr.trim()).toBe(
      'error ANSWER_FORMAT_UNSUPPORTED: Model "colour" is a classification model and gives no mask PNG: a classifier answers labels and scores, not masks; ask for the JSON answer',
    );
    expect(run.stderr).not.toMatch(STACK_LINE);
  });
});
