/**
 * `segserve jobs submit|status|wait|cancel|list` against a real `segserve serve` process (in-process queue,
 * API keys on): local files uploaded with the job, keys and a prefix of the server's store, following a job to
 * its end with the exit code by how it ended, idempotent submits, cancelling, listing, and errors printed as
 * every command prints them. Polling that backs off while the server answers 503 is checked against a stub.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { followJob } from '../../src/cli/jobs.js';
import { ServerClient } from '../../src/cli/server-client.js';
import type { JobList, JobManifest, JobView } from '../../src/jobs/wire-types.js';
import { type BlobStore, openBlobStore } from '../../src/storage/index.js';
import { runCli } from '../helpers/cli.js';
import { type SegserveProcess, startSegserve } from '../helpers/segserve-process.js';
import { tinySoftmaxModel } from '../helpers/tiny-models.js';
import { freePort, writeRepository } from '../http/helpers.js';
import { slowBinaryModel } from '../http/slow-model.js';
import { distinctScene } from '../learning/capture-helpers.js';
import { STACK_LINE } from './run.js';

const API_KEY = 'cli-jobs-key-0123456789abcdef';

let modelsDir: string;
let dataDir: string;
let files: string;
let server: SegserveProcess;

/** The CLI with the server and its key in the environment, as a user would set them. */
const jobs = (args: string[], env: NodeJS.ProcessEnv = {}) =>
  runCli(['jobs', ...args], { SEGSERVE_SERVER: server.base, SEGSERVE_API_KEY: API_KEY, ...env });

/** The server's blob store, opened beside it (a filesystem store in the data folder). */
let blobs: BlobStore;
const readBlob = async (key: string) => new TextDecoder().decode(await blobs.get(key));

beforeAll(async () => {
  modelsDir = await writeRepository({
    softmax: tinySoftmaxModel(),
    // About 0.2 s an image on one session: a job of 60 is still running when the test cancels it.
    slow: slowBinaryModel({ steps: 40, maxQueue: 8 }),
  });
  dataDir = await mkdtemp(join(tmpdir(), 'segserve-cli-jobs-data-'));
  files = await mkdtemp(join(tmpdir(), 'segserve-cli-jobs-files-'));
  await mkdir(join(files, 'photos', 'more'), { recursive: true });
  for (let i = 0; i < 3; i++)
    await writeFile(join(files, 'photos', `scene-${i}.png`), await distinctScene(i));
  await writeFile(join(files, 'photos', 'more', 'scene-9.png'), await distinctScene(9));
  await writeFile(join(files, 'photos', 'notes.png'), 'meeting notes, saved as .png by mistake');

  // Objects the jobs name by key and prefix, written where the server's filesystem blob store reads them.
  blobs = await openBlobStore({ kind: 'filesystem', root: join(dataDir, 'blobs') });
  for (let i = 0; i < 4; i++) await blobs.put(`incoming/scene-${i}.png`, await distinctScene(10 + i));
  await blobs.put('loose/scene-x.png', await distinctScene(20));
  await blobs.put('broken/a.png', new TextEncoder().encode('not an image'));
  await blobs.put('broken/b.png', new TextEncoder().encode('not one either'));
  for (let i = 0; i < 10; i++) await blobs.put(`ten/scene-${i}.png`, await distinctScene(200 + i));
  for (let i = 0; i < 60; i++)
    await blobs.put(`many/scene-${String(i).padStart(2, '0')}.png`, await distinctScene(100 + i));
  server = await startSegserve({
    models: modelsDir,
    args: ['--data-dir', dataDir],
    env: { SEGSERVE_API_KEYS: `cli ${API_KEY}` },
  });
}, 120_000);

afterAll(async () => {
  await server?.kill();
  await blobs?.close();
  for (const dir of [modelsDir, dataDir, files]) if (dir) await rm(dir, { recursive: true, force: true });
});

describe('segserve jobs', () => {
  it('submits local files and folders as an upload and follows the job to its end', async () => {
    const run = await jobs([
      'submit',
      join(files, 'photos'),
      '--recursive',
      '--model',
      'softmax',
      '--output',
      'results/cli-upload',
      '--format',
      'json,png',
      '--wait',
    ]);
    // One input failed (not an image), the others were segmented: completed, exit 0.
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toContain('upload: 5/5 (100%)');
    expect(run.stderr).toMatch(
      /^job [0-9a-f-]{36} submitted: 5 input\(s\), model softmax -> results\/cli-upload\/?$/m,
    );
    expect(run.stdout).toContain('state:     completed');
    expect(run.stdout).toContain('progress:  4 done, 1 failed of 5 (100%)');
    expect(run.stdout).toMatch(/^manifest: {2}results\/cli-upload\/manifest\.json$/m);
    expect(run.stdout).toMatch(/^ {2}#\d+ jobs\/uploads\/[^ ]+\/notes\.png: IMAGE_UNSUPPORTED_FORMAT: /m);

    const manifest = JSON.parse(await readBlob('results/cli-upload/manifest.json')) as JobManifest;
    // Uploaded files keep their names as output names.
    expect(manifest.inputs.map((input) => input.name).sort()).toEqual([
      'notes',
      'scene-0',
      'scene-1',
      'scene-2',
      'scene-9',
    ]);
    const scene = manifest.inputs.find((input) => input.name === 'scene-0');
    expect(scene?.outputs).toEqual(['results/cli-upload/scene-0.json', 'results/cli-upload/scene-0.png']);
    for (const key of scene?.outputs ?? []) expect((await blobs.get(key)).length).toBeGreaterThan(0);
  }, 120_000);

  it('shows the progress of the inputs settled, and the failures, while it follows a job', async () => {
    // Ten images at about 0.2 s each: the job is still running at the first poll.
    const run = await jobs([
      'submit',
      '--model',
      'slow',
      '--prefix',
      'ten/',
      '-o',
      'results/cli-bar',
      '--wait',
    ]);
    expect(run.code, run.stderr).toBe(0);
    const lines = run.stderr.split('\n').filter((line) => /^job [0-9a-f]{8}: /.test(line));
    // On a pipe, a line every tenth of the way (polls a second apart may skip some), the last at the end.
    expect(lines.length).toBeGreaterThan(0);
    expect(lines.at(-1)).toMatch(/^job [0-9a-f]{8}: 10\/10 \(100%\) 0 failed$/);
    expect(run.stdout).toContain('progress:  10 done, 0 failed of 10 (100%)');
  }, 60_000);

  it('submits keys and a prefix, then shows, waits for and lists the job', async () => {
    const submitted = await jobs([
      'submit',
      '--model',
      'softmax',
      '--version',
      '1',
      '--prefix',
      'incoming/',
      '--key',
      'loose/scene-x.png',
      '--output',
      'results/cli-keys',
      '--json',
    ]);
    expect(submitted.code, submitted.stderr).toBe(0);
    const job = JSON.parse(submitted.stdout) as JobView;
    expect(job.target).toEqual({ model: 'softmax', version: '1' });
    expect(job.progress.total).toBe(5);

    const waited = await jobs(['wait', job.id]);
    expect(waited.code, waited.stderr).toBe(0);
    expect(waited.stdout).toContain(`job:       ${job.id}`);
    expect(waited.stdout).toContain('target:    model softmax:1');
    expect(waited.stdout).toContain('progress:  5 done, 0 failed of 5 (100%)');
    expect(waited.stdout).toContain('manifest:  results/cli-keys/manifest.json');
    expect(waited.stdout).not.toContain('failed inputs');

    const status = await jobs(['status', job.id, '--json']);
    expect(status.code).toBe(0);
    expect(JSON.parse(status.stdout)).toMatchObject({ id: job.id, state: 'completed', errors: [] });

    const listed = await jobs(['list', '--state', 'completed']);
    expect(listed.code).toBe(0);
    const [header, ...rows] = listed.stdout.trimEnd().split('\n');
    expect(header).toMatch(/^ID +STATE +TARGET +DONE +FAILED +ELAPSED +CREATED +OUTPUT$/);
    const row = rows.find((line) => line.startsWith(job.id));
    expect(row).toMatch(/ completed +model softmax:1 +5\/5 +0 +[\d.]+ s +\S+ +results\/cli-keys\/?$/);
    const running = JSON.parse((await jobs(['list', '--state', 'running', '--json'])).stdout) as JobList;
    expect(running.jobs.map((j) => j.id)).not.toContain(job.id);
  }, 120_000);

  it('answers a repeated submit with the same idempotency key with the first job', async () => {
    const args = [
      'submit',
      '--model',
      'softmax',
      '--key',
      'loose/scene-x.png',
      '--output',
      'results/cli-idem',
    ];
    const first = await jobs([...args, '--idempotency-key', 'cli-test-1']);
    const second = await jobs([...args, '--idempotency-key', 'cli-test-1']);
    expect(first.code, first.stderr).toBe(0);
    expect(second.code, second.stderr).toBe(0);
    const id = /^job (\S+) submitted/.exec(first.stdout)?.[1];
    expect(id).toBeDefined();
    expect(second.stdout).toMatch(new RegExp(`^job ${id} was already submitted with this idempotency key`));
  }, 60_000);

  it('exits 1 when the job failed, with every failed input printed', async () => {
    const run = await jobs([
      'submit',
      '--model',
      'softmax',
      '--prefix',
      'broken/',
      '--output',
      'results/cli-bad',
      '--wait',
    ]);
    expect(run.code, run.stderr).toBe(1);
    expect(run.stdout).toContain('state:     failed');
    expect(run.stdout).toContain('progress:  0 done, 2 failed of 2 (100%)');
    expect(run.stdout).toMatch(/^ {2}#0 broken\/a\.png: IMAGE_UNSUPPORTED_FORMAT: /m);
    expect(run.stdout).toMatch(/^ {2}#1 broken\/b\.png: IMAGE_UNSUPPORTED_FORMAT: /m);
    expect(run.stderr).not.toMatch(STACK_LINE);
  }, 60_000);

  it('cancels a running job; waiting for it then exits 1, and cancelling again is refused', async () => {
    const submitted = await jobs([
      'submit',
      '--model',
      'slow',
      '--prefix',
      'many/',
      '--output',
      'results/cli-cancel',
    ]);
    expect(submitted.code, submitted.stderr).toBe(0);
    const id = /^job (\S+) submitted: 60 input/.exec(submitted.stdout)?.[1] ?? '';
    const cancelled = await jobs(['cancel', id]);
    expect(cancelled.code, cancelled.stderr).toBe(0);
    expect(cancelled.stdout.trimEnd()).toMatch(
      new RegExp(`^job ${id}: cancelling, \\d+ pending input\\(s\\) will not run$`),
    );

    const waited = await jobs(['wait', id]);
    expect(waited.code).toBe(1);
    expect(waited.stdout).toContain('state:     cancelled');
    expect(waited.stdout).toMatch(/^progress: {2}\d+ done, 0 failed, \d+ cancelled of 60/m);

    const again = await jobs(['cancel', id]);
    expect(again.code).toBe(2);
    expect(again.stderr.trim()).toBe(`error JOB_FINISHED: Job "${id}" has already finished (cancelled).`);
  }, 120_000);

  it('prints errors as every command does: a catalogue code on one line, exit code 2', async () => {
    const unknown = await jobs(['status', 'no-such-job']);
    expect([unknown.code, unknown.stderr.trim()]).toEqual([2, 'error JOB_NOT_FOUND: No job "no-such-job".']);

    const keyless = await jobs(['list'], { SEGSERVE_API_KEY: '' });
    expect(keyless.code).toBe(2);
    expect(keyless.stderr.trim()).toBe(
      `error INVALID_ARGUMENT: the server at ${server.base} needs an API key (API_KEY_MISSING): put one in SEGSERVE_API_KEY`,
    );
    const wrongKey = await jobs(['list'], { SEGSERVE_API_KEY: 'not-the-key-0123456789abcdef' });
    expect([wrongKey.code, wrongKey.stderr.trim()]).toEqual([
      2,
      'error API_KEY_INVALID: The API key is not one this server accepts.',
    ]);

    const nowhere = `http://127.0.0.1:${await freePort()}`;
    const gone = await jobs(['status', 'x', '--server', nowhere]);
    expect(gone.code).toBe(2);
    expect(gone.stderr).toMatch(
      new RegExp(
        `^error INVALID_ARGUMENT: no answer from the server at ${nowhere} \\(.*ECONNREFUSED.*\\); is it running\\?`,
      ),
    );

    const noInputs = await jobs(['submit', '--model', 'softmax', '--output', 'results/x']);
    expect([noInputs.code, noInputs.stderr.trim()]).toEqual([
      2,
      'error INVALID_ARGUMENT: no inputs: give image files or folders, --key, --url or --prefix',
    ]);
    const noTarget = await jobs(['submit', '--key', 'a.png', '--output', 'results/x']);
    expect([noTarget.code, noTarget.stderr.trim()]).toEqual([
      2,
      'error INVALID_ARGUMENT: name a --model or an --endpoint',
    ]);
    const both = await jobs(['submit', '--model', 'softmax', '--endpoint', 'e', '--key', 'a.png', '-o', 'x']);
    expect(both.code).toBe(2);
    expect(both.stderr).toContain(
      "error: option '-m, --model <name>' cannot be used with option '--endpoint <name>'",
    );
    const refused = await jobs(['submit', '--model', 'nope', '--key', 'a.png', '--output', 'results/x']);
    expect([refused.code, refused.stderr.trim()]).toEqual([
      2,
      'error MODEL_NOT_FOUND: No model named "nope".',
    ]);
    for (const run of [unknown, keyless, gone, noInputs, refused]) expect(run.stderr).not.toMatch(STACK_LINE);
  }, 120_000);
});

describe('following a job', () => {
  it('backs off while the server answers 503, honouring Retry-After, and goes on once it answers', async () => {
    const polls: number[] = [];
    const job = (state: string, done: number): JobView & { errors: [] } => ({
      id: '00000000-0000-4000-8000-000000000000',
      state: state as JobView['state'],
      source: 'api',
      target: { model: 'm' },
      output: 'out/',
      formats: ['json'],
      progress: { total: 4, done, failed: 0, cancelled: 0 },
      created_at: new Date().toISOString(),
      elapsed_s: 1,
      errors: [],
    });
    const answers = [
      [503, { error: { code: 'SERVER_CLOSING', message: 'closing', details: {} } }],
      [503, { error: { code: 'SERVER_CLOSING', message: 'closing', details: {} } }],
      [200, job('running', 2)],
      [200, job('completed', 4)],
    ] as const;
    const stub = createServer((_request, response) => {
      polls.push(Date.now());
      const [status, body] = answers[Math.min(polls.length - 1, answers.length - 1)];
      response.writeHead(status, { 'content-type': 'application/json', 'retry-after': '1' });
      response.end(JSON.stringify(body));
    });
    await new Promise<void>((resolve) => stub.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = stub.address() as AddressInfo;
      const ended = await followJob(new ServerClient(`http://127.0.0.1:${port}`, 'k'), 'x');
      expect(ended.state).toBe('completed');
      expect(polls).toHaveLength(4);
      const gaps = polls.slice(1).map((at, i) => at - polls[i]);
      // After the first 503: at least Retry-After (1 s); after the second: twice that; then the 1 s poll.
      expect(gaps[0]).toBeGreaterThanOrEqual(950);
      expect(gaps[1]).toBeGreaterThanOrEqual(1950);
      expect(gaps[2]).toBeGreaterThanOrEqual(950);
      expect(gaps[2]).toBeLessThan(1950);
    } finally {
      await new Promise((resolve) => stub.close(resolve));
    }
  }, 30_000);
});
