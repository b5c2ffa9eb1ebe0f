/**
 * The whole loop on the ISBI 2012 membranes of ../shared, as issue 14 asks, through the server's API at each step:
 * 1. a gate classifier is trained (ISBI slices against COCO and human-segmentation photos, a quarter of each held
 *    out) and a first membrane U-Net on dataset version 1 (slices 0-3, imported with `segserve datasets import`),
 *    both with `segserve train ... --push`, validated on slices 8-9 (the held-out set, also the promotion gate's);
 * 2. the membrane model's config names the gate, uncertainty sampling, a retraining trigger whose command hook is
 *    `segserve train unet --push`, and the gate's evaluation set; `stable` goes to version 1 through the gate;
 * 3. the unlabelled slices, slices 4-7 and held-out photos are sent: photos are refused with 422 (>= 97 %),
 *    slices segmented (>= 97 % of held-out ones), and uncertain slices land in the annotation queue;
 * 4. labels for slices 4-7 go in through the annotation API; the trigger snapshots dataset version 2 and runs the
 *    trainer, which trains on it (slices 0-7, at most 5 CPU minutes, pixel accuracy >= 0.88 and membrane Dice
 *    >= 0.72 on slices 8-9) and uploads version 2, recorded in the run history with the dataset version;
 * 5. version 2 takes a 20 % canary on an endpoint, then is promoted: the gate evaluates it against version 1 on
 *    slices 8-9 and it scores better.
 * Needs Debian's python3-torch (`.ci/run` installs it); says SKIPPED without it or without ../shared.
 */

import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import type { RunningServer } from '../../src/host/server.js';
import type { AnnotationListJson } from '../../src/learning/annotations/types.js';
import { pythonOf } from '../../src/learning/training/trainer.js';
import type { TrainingRunListJson } from '../../src/learning/training/wire-types.js';
import type { RetrainingTriggerListJson } from '../../src/learning/wire-types.js';
import type { AliasChangeJson, ModelHistoryJson } from '../../src/lifecycle/wire-types.js';
import { encodeGreyPng } from '../../src/masks/index.js';
import { runCli } from '../helpers/cli.js';
import { ISBI, isbiMaskFolder, isbiSlicePath, membraneMask } from '../helpers/isbi.js';
import { ADMIN_KEY, adminHeaders } from '../helpers/lifecycle.js';
import { PROJECT_ROOT } from '../helpers/paths.js';
import { hasShared, sharedPath } from '../helpers/shared.js';
import { startTrainingServer } from '../helpers/training-server.js';

const MODEL = 'membrane';
const GATE = 'em-or-not';
const ENDPOINT = 'membrane-live';
const torch = spawnSync(pythonOf(), ['-c', 'import torch'], { stdio: 'ignore' }).status === 0;
const shared =
  hasShared(ISBI, 'labeled') &&
  hasShared('datasets/coco-val2017-mini') &&
  hasShared('datasets/human-segmentation');
const skip = !torch
  ? `no PyTorch in ${pythonOf()} (apt-get install python3-torch)`
  : !shared
    ? 'the datasets of ../shared are missing'
    : undefined;
if (skip) console.warn(`SKIPPED the training loop on ISBI membranes: ${skip}`);

/**
 * The U-Nets: base 8 (0.12 M parameters; base 16 needs about 10 CPU minutes for the same iterations). An epoch
 * of 4 slices is 4 iterations, of 8 slices 8.
 */
const UNET = ['--base', '8', '--seed', '0'];
const FIRST_BUDGET = ['--iterations', '40', '--epochs', '5'];
const RETRAIN_BUDGET = ['--iterations', '200', '--epochs', '10'];

/** Every fourth file of a folder, sorted: held out of the classifier's training, used for the gate check. */
const heldOut = (files: string[]) => files.filter((_, index) => index % 4 === 0);
const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');
const slicePath = isbiSlicePath;

async function images(dir: string): Promise<string[]> {
  return (await readdir(dir))
    .filter((name) => /\.(png|jpe?g)$/i.test(name))
    .sort()
    .map((name) => join(dir, name));
}

/** A folder of copies of the files of `sources` not held out. */
async function trainingFolder(target: string, sources: string[][]): Promise<string> {
  await mkdir(target, { recursive: true });
  for (const files of sources) {
    const held = new Set(heldOut(files));
    for (const file of files.filter((f) => !held.has(f)))
      await copyFile(file, join(target, `${files.indexOf(file)}-${file.split('/').at(-1)}`));
  }
  return target;
}

describe.skipIf(skip !== undefined)('the training loop on ISBI membranes, end to end through the API', () => {
  let dir: string;
  let server: RunningServer;
  let evalSet: string;
  const storageFlags = () => ['--data-dir', join(dir, '.data')];
  const keyBefore = process.env.SEGSERVE_ADMIN_KEY;

  const api = async <T>(path: string, init: { method?: string; json?: unknown } = {}) => {
    const answer = await fetch(`${server.url}${path}`, {
      method: init.method ?? (init.json === undefined ? 'GET' : 'POST'),
      headers: {
        authorization: adminHeaders().authorization,
        'x-annotator': 'loop-test',
        ...(init.json === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: init.json === undefined ? undefined : JSON.stringify(init.json),
    });
    const text = await answer.text();
    return { status: answer.status, body: (text ? JSON.parse(text) : undefined) as T };
  };
  const ok = async <T>(path: string, init: { method?: string; json?: unknown } = {}) => {
    const answer = await api<T>(path, init);
    expect(answer.status, `${init.method ?? 'GET'} ${path}: ${JSON.stringify(answer.body)}`).toBeLessThan(
      300,
    );
    return answer.body;
  };
  const segment = async (file: string, path = `/v1/models/${MODEL}/segment`, headers = {}) => {
    const answer = await fetch(`${server.url}${path}`, {
      method: 'POST',
      headers: { 'content-type': file.endsWith('.png') ? 'image/png' : 'image/jpeg', ...headers },
      body: await readFile(file),
    });
    await answer.arrayBuffer();
    return answer;
  };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'segserve-loop-'));
    await mkdir(join(dir, 'models'));
    evalSet = await isbiMaskFolder(join(dir, 'slices-8-9'), [8, 9], () => 'val');
    // Dataset version 1: slices 0-3, imported and snapshotted as a user would before serving.
    const first = await isbiMaskFolder(join(dir, 'slices-0-3'), [0, 1, 2, 3], () => 'train');
    const imported = await runCli(['datasets', 'import', MODEL, '--masks', first, ...storageFlags()]);
    expect(imported.code, imported.stderr).toBe(0);
    const snapshot = await runCli(['datasets', 'snapshot', MODEL, '--note', 'slices 0-3', ...storageFlags()]);
    expect(snapshot.code, snapshot.stderr).toBe(0);
    // The retraining hook's command inherits the server's environment: its admin key for the upload.
    process.env.SEGSERVE_ADMIN_KEY = ADMIN_KEY;
    server = await startTrainingServer(dir, { retrainingPollMs: 500 });
  }, 180_000);

  afterAll(async () => {
    await server?.close();
    if (keyBefore === undefined) delete process.env.SEGSERVE_ADMIN_KEY;
    else process.env.SEGSERVE_ADMIN_KEY = keyBefore;
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  /**
   * Steps passed so far: each step needs the one before, and a step left waiting for what an earlier failure
   * never made (a trigger, a training run) would only wait out its long timeout.
   */
  let stepsPassed = 0;
  const afterStep = (step: number) => expect(stepsPassed, `step ${step} of the loop failed`).toBe(step);

  const slices = async () => [
    ...(await images(sharedPath(ISBI, 'labeled/images'))),
    ...(await images(sharedPath(ISBI, 'unlabeled/images'))),
  ];
  const photoSets = async () => [
    await images(sharedPath('datasets/coco-val2017-mini/images')),
    await images(sharedPath('datasets/human-segmentation/images')),
  ];

  it('trains the gate classifier and a first membrane model on dataset version 1, and makes it stable', {
    timeout: 900_000,
  }, async () => {
    const gate = await runCli([
      'train',
      'classifier',
      '--model',
      GATE,
      '--positives',
      await trainingFolder(join(dir, 'positives'), [await slices()]),
      '--negatives',
      await trainingFolder(join(dir, 'negatives'), await photoSets()),
      '--out',
      join(dir, 'gate'),
      '--seed',
      '0',
      '--server',
      server.url,
      '--push',
    ]);
    expect(gate.code, gate.stderr.slice(-3000)).toBe(0);

    const first = await runCli([
      'train',
      'unet',
      '--model',
      MODEL,
      '--dataset',
      `${MODEL}@latest`,
      '--val-data',
      evalSet,
      ...UNET,
      ...FIRST_BUDGET,
      '--server',
      server.url,
      '--push',
      ...storageFlags(),
    ]);
    expect(first.code, first.stderr.slice(-3000)).toBe(0);
    expect(first.stdout).toContain('onnxruntime matches PyTorch');
    expect(first.stdout).toContain(`uploaded as ${MODEL} version 1`);

    // What the model's owner writes next: the gate, sampling, the retraining trigger and the promotion gate.
    const configFile = join(dir, 'models', MODEL, 'config.yaml');
    const config = parse(await readFile(configFile, 'utf8')) as Record<string, unknown>;
    const gateLabels = (await readFile(join(dir, 'gate', 'labels.txt'), 'utf8')).trim().split('\n');
    const retrain = [
      process.execPath,
      '--import',
      pathToFileURL(join(PROJECT_ROOT, 'node_modules', 'tsx', 'dist', 'loader.mjs')).href,
      join(PROJECT_ROOT, 'src', 'cli', 'main.ts'),
      'train',
      'unet',
      '--val-data',
      evalSet,
      ...UNET,
      ...RETRAIN_BUDGET,
      '--server',
      server.url,
      '--push',
      ...storageFlags(),
    ];
    await writeFile(
      configFile,
      stringify({
        ...config,
        pipeline: { gate: { model: GATE, accept: gateLabels.filter((l) => l !== 'other'), min_score: 0.5 } },
        // A first model this weak finds every slice uncertain (0.9 and more); a good one would keep few.
        sampling: { entropy: { min: 0.5 } },
        retraining: { min_new_labels: 4, hooks: [{ command: retrain, timeout: '30m' }] },
        evaluation: { dataset: evalSet, metric: 'miou', tolerance: 0 },
      }),
    );
    await ok(`/v1/admin/models/${MODEL}/reload`, { json: {} });
    const stable = await ok<AliasChangeJson>(`/v1/admin/models/${MODEL}/aliases/stable`, {
      method: 'PUT',
      json: { version: 1 },
    });
    // No stable version yet: the gate records version 1's score and has nothing to compare it with.
    expect(stable).toMatchObject({ version: 1, gate: { metric: 'miou', current: null } });
    stepsPassed++;
  });

  let labelled: Map<string, number>;

  it('refuses photos at the gate, segments slices, and samples the uncertain slices', {
    timeout: 300_000,
  }, async () => {
    afterStep(1);
    const photos = (await photoSets()).flatMap(heldOut);
    // One at a time, as the slices: all at once, the server's admission answers some with 503 instead.
    const photoStatuses: number[] = [];
    for (const photo of photos) photoStatuses.push((await segment(photo)).status);
    const refused = photoStatuses.filter((status) => status === 422);
    expect(photoStatuses.filter((status) => status !== 422 && status !== 200)).toEqual([]);
    const all = await slices();
    const held = new Set(heldOut(all));
    // Slices 4-7 are among those sent: the ones that will be labelled.
    const sent = [...all.filter((file) => file.includes('unlabeled')), ...[4, 5, 6, 7].map(slicePath)];
    const statuses = new Map<string, number>();
    for (const file of sent) statuses.set(file, (await segment(file)).status);
    const heldSent = sent.filter((file) => held.has(file));
    const segmented = heldSent.filter((file) => statuses.get(file) === 200).length / heldSent.length;
    console.log(
      `gate: ${refused.length} of ${photos.length} held-out photos refused, ${(segmented * 100).toFixed(1)} % of ` +
        `${heldSent.length} held-out slices segmented (${[...statuses.values()].filter((s) => s === 200).length} of ${sent.length} sent)`,
    );
    expect(refused.length / photos.length).toBeGreaterThanOrEqual(0.97);
    expect(segmented).toBeGreaterThanOrEqual(0.97);

    labelled = new Map();
    for (const slice of [4, 5, 6, 7]) labelled.set(sha256(await readFile(slicePath(slice))), slice);
    let queue: AnnotationListJson = { items: [], next_cursor: null };
    await expect
      .poll(
        async () => {
          queue = await ok<AnnotationListJson>(`/v1/annotations?model=${MODEL}&limit=100`);
          return queue.items.filter((item) => labelled.has(item.image.sha256)).length;
        },
        { timeout: 60_000, interval: 250 },
      )
      .toBe(4);
    const uncertainties = queue.items.map((item) => item.uncertainty);
    console.log(
      `sampled ${queue.items.length} of ${sent.length} slices, uncertainty ${Math.min(...uncertainties).toFixed(3)} to ${Math.max(...uncertainties).toFixed(3)}`,
    );
    expect(uncertainties).toEqual([...uncertainties].sort((a, b) => b - a));
    expect(queue.items.every((item) => item.strategy === 'entropy')).toBe(true);
    const photoHashes = new Set(await Promise.all(photos.map(async (p) => sha256(await readFile(p)))));
    expect(queue.items.filter((item) => photoHashes.has(item.image.sha256))).toEqual([]);

    for (const item of queue.items.filter((i) => labelled.has(i.image.sha256))) {
      const { classes, width, height } = await membraneMask(labelled.get(item.image.sha256) ?? -1);
      await ok(`/v1/annotations/${item.id}/claim`, { json: {} });
      await ok(`/v1/annotations/${item.id}/label`, {
        json: { format: 'png', mask_png: encodeGreyPng(classes, width, height).toString('base64') },
      });
    }
    stepsPassed++;
  });

  it('fires the trigger on the new labels: a dataset version, a training run on it, version 2 uploaded', {
    timeout: 1_200_000,
  }, async () => {
    afterStep(2);
    let triggers: RetrainingTriggerListJson = { triggers: [] };
    await expect
      .poll(
        async () => {
          triggers = await ok<RetrainingTriggerListJson>(`/v1/retraining/triggers?model=${MODEL}`);
          return triggers.triggers[0]?.state ?? 'none';
        },
        { timeout: 1_100_000, interval: 1000 },
      )
      .not.toMatch(/^(none|pending)$/);
    const [trigger] = triggers.triggers;
    expect(trigger, JSON.stringify(trigger.hooks)).toMatchObject({
      state: 'succeeded',
      dataset: MODEL,
      reason: 'new_labels: 4 since the last version',
    });

    const versions = await ok<{ versions: Array<{ id: string; items: number }> }>(
      `/v1/datasets/${MODEL}/versions`,
    );
    expect(versions.versions.map((v) => v.items).sort()).toEqual([4, 8]);
    expect(versions.versions.find((v) => v.items === 8)?.id).toBe(trigger.dataset_version);

    const { runs } = await ok<TrainingRunListJson>(`/v1/models/${MODEL}/training-runs`);
    expect(runs.map((run) => [run.state, run.produced?.version])).toEqual([
      ['succeeded', 2],
      ['succeeded', 1],
    ]);
    const [retrained, first] = runs;
    expect([retrained.dataset, retrained.dataset_version]).toEqual([MODEL, trigger.dataset_version]);
    expect(first.dataset).toBe(MODEL);
    expect(first.dataset_version).toBe(versions.versions.find((v) => v.items === 4)?.id);
    type Final = {
      pixel_accuracy: number;
      dice: Record<string, number>;
      timing: { cpu_s: number; wall_s: number; images_per_s: number };
    };
    const metrics = retrained.metrics as Final;
    const before = first.metrics as Final;
    console.log(
      `ISBI U-Net on slices 8-9: first (slices 0-3) pixel accuracy ${before.pixel_accuracy.toFixed(4)}, membrane Dice ` +
        `${before.dice.membrane.toFixed(4)}; retrained (0-7) ${metrics.pixel_accuracy.toFixed(4)}, ${metrics.dice.membrane.toFixed(4)} ` +
        `in ${metrics.timing.cpu_s.toFixed(0)} s CPU, ${metrics.timing.wall_s.toFixed(0)} s wall, ${metrics.timing.images_per_s.toFixed(1)} crops/s`,
    );
    expect(metrics.pixel_accuracy).toBeGreaterThanOrEqual(0.88);
    expect(metrics.dice.membrane).toBeGreaterThanOrEqual(0.72);
    expect(metrics.timing.cpu_s).toBeLessThanOrEqual(300);
    expect(retrained.epochs.length).toBe(10);

    // Uploaded, and taking no traffic: stable stays on version 1 until promoted.
    const model = await ok<{ versions: Array<{ version: number; state: string }> }>(`/v1/models/${MODEL}`);
    expect(model.versions.map((v) => [v.version, v.state])).toEqual([
      [1, 'ready'],
      [2, 'ready'],
    ]);
    expect((await segment(slicePath(8))).headers.get('x-segserve-version')).toBe('1');
    stepsPassed++;
  });

  it('gives version 2 a 20 % canary, then promotes it through the gate: better on slices 8-9', {
    timeout: 300_000,
  }, async () => {
    afterStep(3);
    await ok(`/v1/admin/endpoints/${ENDPOINT}/traffic`, {
      method: 'PUT',
      json: {
        canary: { model: MODEL, version: 2, percent: 20 },
        baseline: { model: MODEL, alias: 'stable' },
        sticky: { by: 'header', header: 'x-user-id' },
      },
    });
    const served: Array<{ variant: string | null; version: string | null }> = [];
    for (let user = 0; user < 200; user++) {
      const answer = await segment(slicePath(8), `/v1/models/${ENDPOINT}/segment?mask_format=none`, {
        'x-user-id': `user-${user}`,
      });
      expect(answer.status).toBe(200);
      served.push({
        variant: answer.headers.get('x-segserve-variant'),
        version: answer.headers.get('x-segserve-version'),
      });
    }
    const share = served.filter((s) => s.variant === 'canary').length / served.length;
    console.log(`canary: ${(share * 100).toFixed(1)} % of 200 users on version 2`);
    expect(share).toBeGreaterThan(0.12);
    expect(share).toBeLessThan(0.28);
    for (const { variant, version } of served) expect(version).toBe(variant === 'canary' ? '2' : '1');

    const promoted = await ok<AliasChangeJson>(`/v1/admin/models/${MODEL}/aliases/stable`, {
      method: 'PUT',
      json: { version: 2 },
    });
    expect(promoted).toMatchObject({ version: 2, previous_version: 1, gate: { metric: 'miou' } });
    expect(promoted.gate?.candidate).toBeGreaterThan(promoted.gate?.current ?? Number.POSITIVE_INFINITY);
    // Newest first: the evaluation the promotion made of each version.
    const history = await ok<ModelHistoryJson>(`/v1/models/${MODEL}/history`);
    const score = (version: number) =>
      history.evaluations.find((e) => e.version === version && e.metric === 'miou')?.value ?? Number.NaN;
    console.log(
      `promotion gate on slices 8-9: mIoU ${score(1).toFixed(4)} (version 1) -> ${score(2).toFixed(4)} (version 2)`,
    );
    expect(score(2)).toBeGreaterThan(score(1));
    await ok(`/v1/admin/endpoints/${ENDPOINT}/traffic`, { method: 'DELETE' });
    expect((await segment(slicePath(8))).headers.get('x-segserve-version')).toBe('2');
    stepsPassed++;
  });
});
