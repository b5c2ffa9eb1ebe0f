/**
 * Sample capture (src/learning/capture) from predictions to stored samples: the filesystem blob store and the
 * embedded database (PGlite) as the server opens them, a switch in front of them to take them down, and real
 * predictions of a tiny model through the serving core, whose events the capture hears as in a server.
 */
import { cp, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { type CaptureOptions, SampleCapture, sampleId } from '../../src/learning/capture/index.js';
import {
  classMapOf,
  decodeLabelDocument,
  encodeLabelDocument,
  labelFromResult,
} from '../../src/learning/label-document.js';
import type { Segmentation } from '../../src/serving/pipeline.js';
import { type BlobStore, type Database, openBlobStore, openDatabase } from '../../src/storage/index.js';
import { segment, serviceFor } from '../helpers/serving.js';
import { tinySoftmaxModel } from '../helpers/tiny-models.js';
import { type TinyRepository, tinyRepository } from '../http/helpers.js';
import { distinctScene, SwitchableStores, sampledSoftmax } from './capture-helpers.js';

let scratch: string;
let db: Database;
let repo: TinyRepository;

beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'segserve-capture-'));
  db = await openDatabase({ kind: 'embedded', dir: join(scratch, 'db') });
  repo = await tinyRepository({
    sampled: sampledSoftmax(),
    plain: tinySoftmaxModel(),
    // The tiny model is sure of its scene (mean entropy far below 0.99): every prediction is not_selected.
    strict: sampledSoftmax({ entropy: { min: 0.99 } }),
    drifty: sampledSoftmax({ drift_capture: { for: '1m' } }),
  });
});

afterAll(async () => {
  await db?.close();
  await repo?.close();
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

beforeEach(async () => {
  await db.query('DELETE FROM samples');
});

interface Run {
  capture: SampleCapture;
  stores: SwitchableStores;
  blobs: BlobStore;
  registry: Registry;
  spoolDir: string;
  logged: Array<{ level: string; msg: string } & Record<string, unknown>>;
}

const runs: Run[] = [];

async function startCapture(options: Partial<CaptureOptions> = {}, dir?: string): Promise<Run> {
  const root = dir ?? (await mkdtemp(join(scratch, 'run-')));
  const blobs = await openBlobStore({ kind: 'filesystem', root: join(root, 'blobs') });
  const stores = new SwitchableStores(blobs, db);
  const registry = new Registry();
  const logged: Run['logged'] = [];
  const spoolDir = join(root, 'spool');
  const capture = await SampleCapture.start(serviceFor(repo.repository), {
    stores,
    spoolDir,
    spoolMaxBytes: 1024 * 1024 * 1024,
    registry,
    log: (level, fields, msg) => logged.push({ level, msg, ...fields }),
    retry: { minMs: 10, maxMs: 40 },
    ...options,
  });
  const run = { capture, stores, blobs, registry, spoolDir, logged };
  runs.push(run);
  return run;
}

// Every capture hears every prediction of the service: one per test, closed after it.
afterEach(async () => {
  for (const run of runs.splice(0)) await run.capture.close();
});

async function predict(model: string, i: number): Promise<Segmentation> {
  return segment(repo.repository, model, await distinctScene(i));
}

/** Waits until every prediction made so far has been stored, spooled or dropped. */
async function settled(capture: SampleCapture): Promise<void> {
  // The prediction event reaches subscribers on the next turn of the event loop.
  await new Promise((resolve) => setImmediate(resolve));
  await capture.idle();
}

async function rows(): Promise<Array<Record<string, unknown>>> {
  return (await db.query('SELECT * FROM samples ORDER BY created_at, predicted_at')).rows;
}

async function keys(blobs: BlobStore): Promise<string[]> {
  const found: string[] = [];
  for await (const info of blobs.list('')) found.push(info.key);
  return found.sort();
}

async function spooled(run: Run): Promise<string[]> {
  return (await readdir(join(run.spoolDir, 'items')).catch(() => [])).sort();
}

describe('capture to the store', () => {
  it('stores a kept prediction: the image and its label document as blobs, and one row', async () => {
    const run = await startCapture();
    const image = await distinctScene(0);
    const seg = await segment(repo.repository, 'sampled', image);
    await predict('plain', 0);
    await settled(run.capture);

    const [row, ...more] = await rows();
    expect(more).toEqual([]);
    expect(row).toMatchObject({
      model: 'sampled',
      version: 1,
      variant: 'default',
      source: 'cli',
      task: 'semantic',
      strategy: 'random',
      image_format: 'png',
      width: 16,
      height: 16,
      classes: ['red', 'green', 'blue'],
      state: 'queued',
    });
    expect(row.id).toBe(sampleId('sampled', 1, row.image_sha256 as string));
    expect(row.image_key).toMatch(/^sha256\/[0-9a-f]{2}\/[0-9a-f]{62}\.png$/);
    expect(new Uint8Array(await run.blobs.get(row.image_key as string))).toEqual(image);
    // The prediction as the annotator gets it: the very class map the answer was made of.
    const label = decodeLabelDocument(await run.blobs.get(row.prediction_key as string));
    if (seg.result.task === 'instance' || seg.result.task === 'classification')
      throw new Error('expected a semantic result');
    expect(classMapOf(label)).toEqual(seg.result.classMap);
    expect(await keys(run.blobs)).toEqual([row.image_key, row.prediction_key].sort());

    const stats = await run.capture.stats();
    expect(stats.stored).toBe(1);
    const text = await run.registry.metrics();
    expect(text).toContain('segserve_samples_total{model="sampled",version="1",strategy="random"} 1');
    // A model without sampling gets no sampler: nothing refused, nothing counted.
    expect(text).not.toContain('model="plain"');
  });

  it('stores the same image once: one row, one image blob', async () => {
    const run = await startCapture();
    await predict('sampled', 1);
    await predict('sampled', 1);
    await settled(run.capture);
    expect(await rows()).toHaveLength(1);
    expect(await keys(run.blobs)).toHaveLength(2);
    expect((await run.capture.stats()).stored).toBe(1);
  });

  it('counts the sampler’s refusals by reason, read at scrape time', async () => {
    const run = await startCapture();
    await predict('strict', 2);
    await predict('strict', 3);
    await settled(run.capture);
    expect(await run.registry.metrics()).toContain(
      'segserve_sampler_refused_total{model="strict",version="1",reason="not_selected"} 2',
    );
    expect(await rows()).toEqual([]);
  });

  it('hands drift.detected to the version’s sampler: drift_capture keeps what follows', async () => {
    const run = await startCapture();
    await predict('drifty', 5);
    await settled(run.capture);
    expect(await rows()).toEqual([]);
    serviceFor(repo.repository).events.emit({
      type: 'drift.detected',
      model: 'drifty',
      version: 1,
      detected: true,
      score: 0.4,
      signal: 'brightness',
      at: Date.now(),
    });
    await new Promise((resolve) => setImmediate(resolve));
    await predict('drifty', 6);
    await settled(run.capture);
    expect(await rows()).toMatchObject([{ model: 'drifty', strategy: 'drift_capture' }]);
  });

  it('builds a large result’s label document in a worker thread, the same bytes as inline', async () => {
    // 16 x 16 = 256 pixels, above this limit: the worker builds it.
    const run = await startCapture({ labelInlineMaxPixels: 100 });
    const seg = await predict('sampled', 4);
    await settled(run.capture);
    const [row] = await rows();
    const inline = encodeLabelDocument(labelFromResult(seg.result, ['background', 'red', 'green', 'blue']));
    expect(new Uint8Array(await run.blobs.get(row.prediction_key as string))).toEqual(inline);
  });
});

describe('when the store is down', () => {
  it.each([
    ['cannot be opened', 'open-unavailable'],
    ['fails its writes', 'write-unavailable'],
  ] as const)('spools while it %s, and replays oldest first once it is back', async (_name, fault) => {
    const run = await startCapture();
    run.stores.fault = fault;
    for (let i = 10; i < 13; i++) await predict('sampled', i);
    await settled(run.capture);

    const items = await spooled(run);
    expect(items).toHaveLength(3);
    for (const item of items) {
      expect((await readdir(join(run.spoolDir, 'items', item))).sort()).toEqual([
        'image',
        'label.json',
        'meta.json',
      ]);
    }
    expect(await rows()).toEqual([]);
    let stats = await run.capture.stats();
    expect(stats.spool.items).toBe(3);
    expect(stats.failures.unavailable).toBe(3);
    expect(await run.registry.metrics()).toContain('segserve_sample_spool_items 3');
    expect(run.logged.filter((line) => line.msg.startsWith('sample store unavailable'))).toHaveLength(1);

    run.stores.fault = 'none';
    await vi.waitFor(async () => expect(await spooled(run)).toEqual([]), { timeout: 10_000 });
    const stored = await rows();
    expect(stored).toHaveLength(3);
    // Replayed one at a time, oldest first: inserted in the order the predictions were made.
    const times = stored.map((row) => (row.predicted_at as Date).getTime());
    expect(times).toEqual([...times].sort((a, b) => a - b));
    stats = await run.capture.stats();
    expect(stats.stored).toBe(3);
    expect(stats.spool).toEqual({ items: 0, bytes: 0 });
    expect(run.logged.some((line) => line.msg === 'sample store available again')).toBe(true);
  });

  it('keeps the spool across a restart, replays it at start, and stores a replayed item only once', async () => {
    const dir = await mkdtemp(join(scratch, 'restart-'));
    const first = await startCapture({}, dir);
    first.stores.fault = 'open-unavailable';
    for (let i = 20; i < 23; i++) await predict('sampled', i);
    // No wait for the writers: close itself writes what is queued (here, to the spool).
    await first.capture.close();
    const items = await spooled(first);
    expect(items).toHaveLength(3);
    expect(first.logged.some((line) => line.msg.startsWith('samples left in the spool'))).toBe(true);
    // As if a replay had stored the oldest item and crashed before removing it: the item is there twice.
    await cp(join(first.spoolDir, 'items', items[0]), join(first.spoolDir, 'items', `${items[0]}-again`), {
      recursive: true,
    });

    const second = await startCapture({}, dir);
    expect(second.logged.some((line) => line.msg === 'replaying the sample spool')).toBe(true);
    await vi.waitFor(async () => expect((await second.capture.stats()).spool.items).toBe(0), {
      timeout: 10_000,
    });
    expect(await rows()).toHaveLength(3);
    expect((await second.capture.stats()).stored).toBe(3);
    // Three images and one label document (the three predictions are the same).
    expect(await keys(second.blobs)).toHaveLength(4);
  });

  it('drops a damaged spool item at replay (it can never be stored), and goes on with the rest', async () => {
    const dir = await mkdtemp(join(scratch, 'damaged-'));
    const first = await startCapture({}, dir);
    first.stores.fault = 'open-unavailable';
    for (let i = 25; i < 27; i++) await predict('sampled', i);
    await first.capture.close();
    const [oldest] = await spooled(first);
    await writeFile(join(first.spoolDir, 'items', oldest, 'meta.json'), '{"format": 1, "model": 7}');

    const second = await startCapture({}, dir);
    await vi.waitFor(async () => expect(await spooled(second)).toEqual([]), { timeout: 10_000 });
    expect(await rows()).toHaveLength(1);
    expect((await second.capture.stats()).failures.spool_error).toBe(1);
    expect(second.logged.filter((line) => line.reason === 'spool_error')).toHaveLength(1);
  });

  it('holds at most --max-sample-spool-bytes, and counts and logs what it drops beyond', async () => {
    const probe = await startCapture();
    probe.stores.fault = 'open-unavailable';
    await predict('sampled', 30);
    await settled(probe.capture);
    const itemBytes = (await probe.capture.stats()).spool.bytes;
    expect(itemBytes).toBeGreaterThan(0);
    await probe.capture.close();

    const run = await startCapture({ spoolMaxBytes: Math.floor(itemBytes * 2.5) });
    run.stores.fault = 'open-unavailable';
    for (let i = 31; i < 36; i++) await predict('sampled', i);
    await settled(run.capture);
    const stats = await run.capture.stats();
    expect(stats.spool.items).toBe(2);
    expect(stats.spool.bytes).toBeLessThanOrEqual(itemBytes * 2.5);
    expect(stats.failures.spool_full).toBe(3);
    // One line for the three drops: at most one per reason per 10 s.
    expect(run.logged.filter((line) => line.reason === 'spool_full')).toHaveLength(1);
    expect(await run.registry.metrics()).toContain(
      'segserve_sample_store_failures_total{reason="spool_full"} 3',
    );

    run.stores.fault = 'none';
    await vi.waitFor(async () => expect((await run.capture.stats()).spool.items).toBe(0), {
      timeout: 10_000,
    });
    expect(await rows()).toHaveLength(2);
  });

  it('drops a sample the store refuses (no spool: it would be refused again), counted and logged', async () => {
    const run = await startCapture();
    run.stores.fault = 'refused';
    await predict('sampled', 40);
    await predict('sampled', 41);
    await settled(run.capture);
    let stats = await run.capture.stats();
    expect(stats.failures.refused).toBe(2);
    expect(stats.spool.items).toBe(0);
    const lines = run.logged.filter((line) => line.reason === 'refused');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ level: 'error', model: 'sampled', version: 1 });
    expect(String(lines[0].error)).toContain('NoSuchBucket');

    run.stores.fault = 'none';
    await predict('sampled', 42);
    await settled(run.capture);
    stats = await run.capture.stats();
    expect(stats.stored).toBe(1);
    expect(await rows()).toHaveLength(1);
  });
});

describe('the in-memory queue', () => {
  it('holds at most 64 kept predictions while the writers wait; beyond, they are dropped and counted', async () => {
    const run = await startCapture();
    let release = () => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    // Both writers stuck in a store that does not answer.
    const stuck = run.stores.database.bind(run.stores);
    run.stores.database = async () => {
      await gate;
      return stuck();
    };
    for (let i = 100; i < 167; i++) await predict('sampled', i);
    await new Promise((resolve) => setImmediate(resolve));
    let stats = await run.capture.stats();
    expect(stats.writing).toBe(2);
    expect(stats.queued).toBe(64);
    expect(stats.failures.queue_full).toBe(1);

    release();
    await settled(run.capture);
    stats = await run.capture.stats();
    expect(stats.stored).toBe(66);
    expect(await rows()).toHaveLength(66);
  });
});
