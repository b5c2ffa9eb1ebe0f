/**
 * The repository watch: version folders added and removed, a new model folder, a model folder removed, all
 * applied without a restart and without a call; and a model.onnx still being written is not loaded until its
 * file has stopped changing. Looks every 100 ms, a settle of 50 ms: each wait here is bounded by `until`.
 */
import { appendFile, mkdir, writeFile } from 'node:fs/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { RepositoryWatch, type WatchEvent } from '../../src/lifecycle/repository-watch.js';
import { ModelRepository, type RepositoryEvent } from '../../src/models/index.js';
import { InProcessRuntime } from '../helpers/in-process-runtime.js';
import { RepositoryFolder, TINY } from '../models/registry-folders.js';

let folder: RepositoryFolder;
let repository: ModelRepository;
let watch: RepositoryWatch;
let events: RepositoryEvent[];
let watchEvents: WatchEvent[];

async function until(condition: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function servedVersions(model: string): number[] {
  return (repository.get(model)?.versions ?? []).filter((v) => v.state === 'ready').map((v) => v.version);
}

beforeEach(async () => {
  folder = await RepositoryFolder.create();
  await folder.model('m', [1], { version_policy: { all: true } });
  events = [];
  watchEvents = [];
  repository = await ModelRepository.open(folder.root, {
    createRuntime: InProcessRuntime.factory(),
    log: (event) => events.push(event),
  });
  watch = RepositoryWatch.start(repository, {
    intervalMs: 100,
    settleMs: 50,
    log: (event) => watchEvents.push(event),
  });
});

afterEach(async () => {
  await watch.close();
  await repository.close();
  await folder.remove();
});

describe('the repository watch', () => {
  it('loads a version folder added on disk and unloads it once removed, without a restart', async () => {
    await folder.version('m', 2);
    await until(() => servedVersions('m').includes(2), 'version 2 to load');
    expect(repository.resolve('m').version).toBe(2);

    await folder.removeVersion('m', 2);
    await until(() => !servedVersions('m').includes(2), 'version 2 to unload');
    expect(repository.resolve('m').version).toBe(1);
    await repository.settled();
    expect(events).toContainEqual(
      expect.objectContaining({ type: 'version-unloaded', model: 'm', version: 2, reason: 'removed' }),
    );
    expect(watchEvents).toContainEqual(expect.objectContaining({ type: 'watch-applied', folders: ['m'] }));
  });

  it('loads a new model folder, and forgets one removed', async () => {
    await folder.model('other', [1]);
    await until(() => repository.get('other')?.state === 'ready', 'the new model to load');
    await folder.removeModel('other');
    await until(() => repository.get('other') === undefined, 'the removed model to go');
    expect(repository.resolve('m').version).toBe(1);
  });

  it('does not load a model.onnx still being written, only once it has stopped changing', async () => {
    const path = folder.path('m', '3', 'model.onnx');
    await mkdir(folder.path('m', '3'), { recursive: true });
    const bytes = Buffer.from(TINY.bytes);
    const half = Math.floor(bytes.length / 2);
    // Written in place (not renamed in), a piece every 30 ms for 800 ms.
    await writeFile(path, bytes.subarray(0, 8));
    let written = 8;
    const started = performance.now();
    while (performance.now() - started < 800) {
      await sleep(30);
      // Small pieces: the file still grows at the end of the 800 ms.
      const next = Math.min(half, written + Math.max(1, Math.floor(half / 60)));
      await appendFile(path, bytes.subarray(written, next));
      written = next;
    }
    expect(written).toBeLessThan(half);
    expect(events.some((e) => 'version' in e && e.version === 3)).toBe(false);
    expect(events.some((e) => e.type === 'model-loading' && e.versions.includes(3))).toBe(false);
    await appendFile(path, bytes.subarray(written));
    await until(() => servedVersions('m').includes(3), 'version 3 to load once complete');
    // It was loaded once, whole: never tried half-written.
    expect(events.filter((e) => e.type === 'version-failed')).toEqual([]);
    expect(events.filter((e) => e.type === 'model-loading' && e.versions.includes(3))).toHaveLength(1);
  });

  it('applies a changed model file as a reload, the old version serving until the new is ready', async () => {
    const before = repository.resolve('m', 1);
    await folder.version('m', 1);
    await until(() => repository.resolve('m', 1) !== before, 'version 1 to be reloaded');
    expect(events.map((e) => e.type)).toContain('version-reloaded');
  });

  it('leaves a model unloaded on request alone, and takes nothing from an unreadable folder', async () => {
    await repository.unload('m');
    const before = events.length;
    await folder.version('m', 2);
    await watch.nextLook();
    await watch.nextLook();
    await watch.nextLook();
    expect(repository.list()).toEqual([]);
    expect(events.slice(before).some((e) => e.type === 'model-loading')).toBe(false);
  });
});
