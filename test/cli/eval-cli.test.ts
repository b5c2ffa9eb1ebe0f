/**
 * `segserve eval --results`: through the real command line (tsx subprocess) for what a user sees (table, JSON
 * report, progress, exit codes and error lines), and in-process for the file handling. The shared-data case
 * scores the reference YOLOv8n-seg results of coco-val2017-mini (skipped with a message when missing).
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { evalResults, writeReport } from '../../src/cli/eval.js';
import type { InstanceReport } from '../../src/eval/index.js';
import { caught } from '../helpers/caught.js';
import { runCli } from '../helpers/cli.js';
import { describeWithShared, sharedPath } from '../helpers/shared.js';

let dir: string;
let dataset: string;
let results: string;

const square = (x: number, y: number, s: number) => [x, y, x + s, y, x + s, y + s, x, y + s];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'segserve-eval-cli-'));
  dataset = join(dir, 'instances.json');
  results = join(dir, 'results.json');
  await writeFile(
    dataset,
    JSON.stringify({
      images: [{ id: 1, width: 64, height: 48, file_name: 'one.jpg' }],
      categories: [
        { id: 1, name: 'cat' },
        { id: 2, name: 'dog' },
      ],
      annotations: [
        {
          id: 1,
          image_id: 1,
          category_id: 2,
          iscrowd: 0,
          area: 100,
          bbox: [0, 0, 10, 10],
          segmentation: [square(0, 0, 10)],
        },
      ],
    }),
  );
  // Category 5 in the model's numbering, matched to the dataset's "dog" by name.
  await writeFile(
    results,
    JSON.stringify([{ image_id: 1, category_id: 5, category_name: 'dog', bbox: [0, 0, 10, 10], score: 0.9 }]),
  );
});

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('segserve eval --results', () => {
  it('prints the table of box AP for a results file without masks, and JSON with --json', async () => {
    const run = await runCli(['eval', '--results', results, '--dataset', dataset]);
    expect(run.stderr).not.toMatch(/error/);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain(`instance evaluation of results ${results} on ${dataset}`);
    expect(run.stdout).toMatch(/^AP {2}\.50:\.95 {2}all {10}100 {2}1\.000$/m);
    expect(run.stdout).toContain('warning: the results have no masks: boxes only');
    const json = await runCli([
      'eval',
      '--results',
      results,
      '--dataset',
      dataset,
      '--iou-type',
      'segm',
      '--json',
    ]);
    expect(json.code).toBe(0);
    const report = JSON.parse(json.stdout) as InstanceReport;
    expect(report.iou_types).toEqual(['segm']);
    expect(report.summary.mask?.AP).toBeCloseTo(1, 12);
  });

  it('refuses with a stable code and exit status 2', async () => {
    const none = await runCli(['eval', '--dataset', dataset]);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('error INVALID_ARGUMENT: give exactly one of --results');
    const horse = join(dir, 'horse.json');
    await writeFile(
      horse,
      JSON.stringify([{ image_id: 1, category_name: 'horse', bbox: [0, 0, 1, 1], score: 1 }]),
    );
    const unknown = await runCli(['eval', '--results', horse, '--dataset', dataset]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr.trim()).toBe(
      'error EVAL_CATEGORY_UNKNOWN: Result 0 has category "horse", which the ground truth lacks (it has "cat", "dog").',
    );
  });

  it('reads only JSON and writes the report whole', async () => {
    const notJson = join(dir, 'not.json');
    await writeFile(notJson, 'image_id,score\n1,0.5\n');
    const error = await caught(() => evalResults({ results: notJson, dataset }));
    expect(error.code).toBe('EVAL_INPUT_INVALID');
    expect(error.message).toContain(`The ${notJson} cannot be evaluated: not JSON`);
    const report = await evalResults({ results, dataset, progress: () => ({ tick() {}, stop() {} }) });
    const out = join(dir, 'report.json');
    await writeReport(out, report);
    expect(JSON.parse(await readFile(out, 'utf8'))).toEqual(report);
    const blocked = await caught(() => writeReport(join(dir, 'missing', 'report.json'), report));
    expect(blocked.code).toBe('OUTPUT_NOT_WRITABLE');
  });
});

describeWithShared(
  'segserve eval on the reference YOLOv8n-seg results of coco-val2017-mini',
  ['reference', 'coco-eval', 'yolov8n-seg-results.json'],
  () => {
    it("reports pycocotools' numbers, with progress over the images and the JSON report", async () => {
      const out = join(dir, 'yolo-report.json');
      const started = performance.now();
      const run = await runCli([
        'eval',
        '--results',
        sharedPath('reference', 'coco-eval', 'yolov8n-seg-results.json'),
        '--dataset',
        sharedPath('datasets', 'coco-val2017-mini', 'annotations', 'instances.json'),
        '--out',
        out,
      ]);
      console.log(
        `segserve eval (a new process) took ${((performance.now() - started) / 1000).toFixed(1)} s`,
      );
      expect(run.code).toBe(0);
      expect(run.stderr).toContain('eval: 79/79 (100%)');
      expect(run.stdout).toMatch(/^AP {2}\.50:\.95 {2}all {10}100 {2}0\.280 {2}0\.239$/m);
      expect(run.stdout).toContain(`report written to ${out}`);
      const report = JSON.parse(await readFile(out, 'utf8')) as InstanceReport;
      expect(report.summary.box?.AP).toBeCloseTo(0.280271, 5);
      expect(report.summary.mask?.AP).toBeCloseTo(0.238911, 5);
      expect(report.per_image).toHaveLength(79);
      expect(report.per_image[0].f1).toBeLessThanOrEqual(report.per_image[78].f1);
    });
  },
);
