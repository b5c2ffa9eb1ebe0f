/**
 * Registry operations of the ModelRepository without a restart: rescan of what changed on disk, load, unload and
 * reload of a model or a version, the version policy with versions kept for aliases, and the two-step retirement
 * that lets requests holding a version finish on it. Runtimes run in-process (InProcessRuntime): what is tested
 * here is the registry, not the worker threads.
 */
import { rm, writeFile } from 'node:fs/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ModelRepository, type RepositoryEvent, type RepositoryOptions } from '../../src/models/index.js';
import type { ServingEvent } from '../../src/serving/events.js';
import { InferenceService } from '../../src/serving/service.js';
import { caught } from '../helpers/caught.js';
import { InProcessRuntime } from '../helpers/in-process-runtime.js';
import { BROKEN_ONNX, RepositoryFolder } from './registry-folders.js';

let folder: RepositoryFolder;
let repository: ModelRepository | undefined;
let events: RepositoryEvent[];

beforeEach(async () => {
  folder = await RepositoryFolder.create();
  events = [];
});

afterEach(async () => {
  await repository?.close();
  repository = undefined;
  await folder.remove();
});

async function open(options: RepositoryOptions = {}): Promise<ModelRepository> {
  repository = await ModelRepository.open(folder.root, {
    createRuntime: InProcessRuntime.factory(),
    log: (event) => events.push(event),
    ...options,
  });
  return repository;
}

/** Versions that resolve now, newest first. */
function served(repo: ModelRepository, model: string): number[] {
  return (repo.get(model)?.versions ?? []).filter((v) => v.state === 'ready').map((v) => v.version);
}

const ALL = { version_policy: { all: true } };

describe('rescan applies what changed on disk', () => {
  it('loads a version folder added and unloads one removed, the newest serving by default', async () => {
    await folder.model('m', [1], ALL);
    const repo = await open();
    expect(repo.resolve('m').version).toBe(1);

    await folder.version('m', 2);
    expect(await repo.rescan()).toEqual([{ model: 'm', version: 2, change: 'loaded' }]);
    expect(repo.resolve('m').version).toBe(2);
    expect(served(repo, 'm')).toEqual([2, 1]);

    const two = repo.resolve('m', 2);
    await folder.removeVersion('m', 2);
    expect(await repo.rescan()).toEqual([{ model: 'm', version: 2, change: 'unloaded', reason: 'removed' }]);
    expect(repo.resolve('m').version).toBe(1);
    expect((await caught(async () => repo.resolve('m', 2))).code).toBe('MODEL_VERSION_NOT_FOUND');
    await repo.settled();
    expect((await caught(() => two.runtime.run({}))).code).toBe('RUNTIME_CLOSED');
    expect(events).toContainEqual(
      expect.objectContaining({
        type: 'version-unloaded',
        model: 'm',
        version: 2,
        reason: 'removed',
        abandoned: 0,
      }),
    );
    // Nothing changed since: a rescan changes nothing.
    expect(await repo.rescan()).toEqual([]);
  });

  it('loads a new model folder and forgets a removed one', async () => {
    await folder.model('a', [1]);
    const repo = await open();
    await folder.model('b', [1]);
    expect(await repo.rescan()).toEqual([{ model: 'b', version: 1, change: 'loaded' }]);
    expect(repo.list().map((m) => m.name)).toEqual(['a', 'b']);

    await folder.removeModel('a');
    const changes = await repo.rescan();
    expect(changes).toContainEqual({ model: 'a', change: 'model-unloaded', reason: 'removed' });
    expect(repo.list().map((m) => m.name)).toEqual(['b']);
    expect((await caught(async () => repo.resolve('a'))).code).toBe('MODEL_NOT_FOUND');
  });

  it('reloads a version whose model file changed, swapping the new in once it is ready', async () => {
    await folder.model('m', [1]);
    const repo = await open();
    const before = repo.resolve('m', 1);
    await folder.version('m', 1);
    // resolve() is asked on every turn of the event loop while the reload runs: it never fails.
    let resolving = true;
    const seen = new Set<unknown>();
    const poll = (async () => {
      while (resolving) {
        seen.add(repo.resolve('m', 1));
        await new Promise((resolve) => setImmediate(resolve));
      }
    })();
    const changes = await repo.rescan();
    resolving = false;
    await poll;
    expect(changes).toEqual([{ model: 'm', version: 1, change: 'reloaded' }]);
    const after = repo.resolve('m', 1);
    expect(after).not.toBe(before);
    expect([...seen].every((loaded) => loaded === before || loaded === after)).toBe(true);
    expect(events.map((e) => e.type)).toContain('version-reloaded');
    await repo.settled();
    expect((await caught(() => before.runtime.run({}))).code).toBe('RUNTIME_CLOSED');
  });

  it('keeps the old version serving when its new file fails to load, and says why', async () => {
    await folder.model('m', [1]);
    const repo = await open();
    const before = repo.resolve('m', 1);
    await folder.version('m', 1, BROKEN_ONNX);
    const [change] = await repo.rescan();
    expect(change).toMatchObject({ model: 'm', version: 1, change: 'reload-failed' });
    expect(repo.resolve('m', 1)).toBe(before);
    expect(repo.get('m')).toMatchObject({
      state: 'ready',
      versions: [{ version: 1, state: 'ready', error: { code: 'MODEL_LOAD_FAILED' } }],
    });
    // The same broken file is not tried again at every rescan.
    expect(await repo.rescan()).toEqual([]);

    await folder.version('m', 1);
    expect(await repo.rescan()).toEqual([{ model: 'm', version: 1, change: 'reloaded' }]);
    expect(repo.get('m')?.versions[0].error).toBeUndefined();
  });

  it('keeps the older version serving while the newer one the policy picks fails (latest: 1)', async () => {
    await folder.model('m', [1]);
    const repo = await open();
    await folder.version('m', 2, BROKEN_ONNX);
    const changes = await repo.rescan();
    expect(changes).toEqual([expect.objectContaining({ model: 'm', version: 2, change: 'failed' })]);
    expect(repo.resolve('m').version).toBe(1);

    await folder.version('m', 2);
    expect(await repo.rescan()).toEqual([
      { model: 'm', version: 2, change: 'loaded' },
      { model: 'm', version: 1, change: 'unloaded', reason: 'policy' },
    ]);
    expect(served(repo, 'm')).toEqual([2]);
  });

  it('keeps the versions keepVersions names (an alias) when a newer one arrives', async () => {
    await folder.model('m', [1]);
    const kept = new Map<string, number[]>([['m', [1]]]);
    const repo = await open({ keepVersions: (model) => kept.get(model) ?? [] });
    await folder.version('m', 2);
    expect(await repo.rescan()).toEqual([{ model: 'm', version: 2, change: 'loaded' }]);
    expect(served(repo, 'm')).toEqual([2, 1]);
    expect(repo.resolve('m', 1).version).toBe(1);

    // The alias moves on: at the model's next rescan the policy applies again.
    kept.set('m', [2]);
    await repo.rescan({ models: ['m'] });
    expect(served(repo, 'm')).toEqual([2]);
  });

  it('reloads every version when config.yaml changes, and keeps serving through a broken edit', async () => {
    await folder.model('m', [1, 2], ALL);
    const repo = await open();
    await folder.config('m', { ...ALL, labels: ['nothing', 'rouge', 'vert', 'bleu'] });
    const changes = await repo.rescan();
    expect(changes.map((c) => [c.version, c.change])).toEqual([
      [2, 'reloaded'],
      [1, 'reloaded'],
    ]);
    expect(repo.resolve('m').labels).toEqual(['nothing', 'rouge', 'vert', 'bleu']);
    // Changing only the version policy reloads nothing.
    await folder.config('m', { version_policy: { latest: 2 }, labels: ['nothing', 'rouge', 'vert', 'bleu'] });
    expect(await repo.rescan()).toEqual([]);

    await writeFile(folder.path('m', 'config.yaml'), 'task: [unclosed');
    const [broken] = await repo.rescan();
    expect(broken).toMatchObject({ model: 'm', change: 'model-reload-failed' });
    expect(repo.get('m')).toMatchObject({ state: 'ready', error: { code: 'CONFIG_INVALID' } });
    expect(repo.resolve('m').version).toBe(2);
  });

  it('reports a model folder that fails without taking the others down', async () => {
    await folder.model('a', [1]);
    const repo = await open();
    await folder.model('b', [1]);
    await folder.version('b', 1, BROKEN_ONNX);
    await repo.rescan();
    expect(repo.get('b')).toMatchObject({ state: 'failed', error: { code: 'MODEL_LOAD_FAILED' } });
    expect(repo.resolve('a').version).toBe(1);
  });
});

describe('operations by name', () => {
  it('unloads a model until it is loaded again, leaving it out of rescans', async () => {
    await folder.model('m', [1]);
    const repo = await open();
    expect(await repo.unload('m')).toEqual([
      { model: 'm', version: 1, change: 'unloaded', reason: 'requested' },
      { model: 'm', change: 'model-unloaded', reason: 'requested' },
    ]);
    expect(await repo.unload('m')).toEqual([]);
    expect((await caught(async () => repo.resolve('m'))).code).toBe('MODEL_UNLOADED');
    expect(repo.list()).toEqual([]);
    await folder.version('m', 2);
    expect(await repo.rescan()).toEqual([]);
    expect(await repo.index()).toEqual([{ name: 'm', state: 'unloaded', reason: 'unloaded' }]);

    expect(await repo.load('m')).toEqual([{ model: 'm', version: 2, change: 'loaded' }]);
    expect(repo.resolve('m').version).toBe(2);
    expect(await repo.load('m')).toEqual([]);
  });

  it('loads a model folder that appeared, by folder name, and refuses an unknown one', async () => {
    await folder.model('a', [1]);
    const repo = await open();
    await folder.model('b', [1]);
    expect(await repo.load('b')).toEqual([{ model: 'b', version: 1, change: 'loaded' }]);
    expect((await caught(() => repo.load('nope'))).code).toBe('MODEL_NOT_FOUND');
    expect((await caught(() => repo.unload('nope'))).code).toBe('MODEL_NOT_FOUND');
  });

  it('reloads every version afresh on request, and tries a failed one again', async () => {
    await folder.model('m', [1, 2], ALL);
    const repo = await open();
    const before = [repo.resolve('m', 1), repo.resolve('m', 2)];
    const changes = await repo.reload('m');
    expect(changes.map((c) => c.change)).toEqual(['reloaded', 'reloaded']);
    expect(repo.resolve('m', 1)).not.toBe(before[0]);
    expect(repo.resolve('m', 2)).not.toBe(before[1]);
  });

  it('loads and unloads single versions: pinned outside the policy, kept out of it once unloaded', async () => {
    await folder.model('m', [1, 2]);
    const repo = await open();
    expect(served(repo, 'm')).toEqual([2]);

    const outcome = await repo.loadVersion('m', 1);
    expect(outcome).toMatchObject({ state: 'ready', model: 'm', version: 1 });
    expect(served(repo, 'm')).toEqual([2, 1]);
    // Pinned: a rescan leaves it although the policy (latest: 1) does not pick it.
    await folder.version('m', 3);
    await repo.rescan();
    expect(served(repo, 'm')).toEqual([3, 1]);

    expect(await repo.unloadVersion('m', 3)).toEqual([
      { model: 'm', version: 3, change: 'unloaded', reason: 'requested' },
    ]);
    expect(await repo.unloadVersion('m', 3)).toEqual([]);
    expect(served(repo, 'm')).toEqual([1]);
    // Unloaded on request: the policy does not bring it back, not even when the rescan sees it.
    await repo.rescan();
    expect(served(repo, 'm')).toEqual([1]);
    expect((await caught(() => repo.unloadVersion('m', 9))).code).toBe('MODEL_VERSION_NOT_FOUND');
    expect((await caught(() => repo.loadVersion('m', 9))).code).toBe('MODEL_VERSION_NOT_FOUND');

    // Every version unloaded: the model is offline until loaded again.
    await repo.unloadVersion('m', 1);
    expect((await caught(async () => repo.resolve('m'))).code).toBe('MODEL_UNLOADED');
    expect((await repo.loadVersion('m', 3)).state).toBe('ready');
    expect(served(repo, 'm')).toEqual([3]);
  });

  it('answers a failed load with the reason, and loads the version once it is fixed', async () => {
    await folder.model('m', [1], ALL);
    const repo = await open();
    await folder.version('m', 2, BROKEN_ONNX);
    const failed = await repo.installVersion('m', 2);
    expect(failed).toMatchObject({ state: 'failed', version: 2, error: { code: 'MODEL_LOAD_FAILED' } });
    expect(repo.resolve('m').version).toBe(1);

    await folder.version('m', 2);
    expect(await repo.installVersion('m', 2)).toMatchObject({ state: 'ready', version: 2 });
    expect(repo.resolve('m').version).toBe(2);
    // Failed and removed again (the upload flow cleaning up): nothing of it stays.
    await folder.version('m', 3, BROKEN_ONNX);
    expect((await repo.installVersion('m', 3)).state).toBe('failed');
    await folder.removeVersion('m', 3);
    await repo.rescan({ models: ['m'] });
    expect(repo.get('m')?.versions.map((v) => v.version)).toEqual([2, 1]);
  });

  it('installs a version that the policy does not pick by pinning it (specific policy)', async () => {
    await folder.model('m', [1], { version_policy: { specific: [1] } });
    const repo = await open();
    await folder.version('m', 2);
    expect(await repo.installVersion('m', 2)).toMatchObject({ state: 'ready', version: 2 });
    await repo.rescan();
    expect(served(repo, 'm')).toEqual([2, 1]);
  });

  it('runs concurrent operations on one model one at a time, and repeats change nothing', async () => {
    await folder.model('m', [1, 2], ALL);
    const repo = await open();
    const results = await Promise.all([
      repo.loadVersion('m', 1),
      repo.loadVersion('m', 1),
      repo.reload('m'),
      repo.unloadVersion('m', 2),
      repo.unloadVersion('m', 2),
      repo.rescan(),
      repo.rescan(),
    ]);
    expect(results).toHaveLength(7);
    expect(served(repo, 'm')).toEqual([1]);
    // Two loads at open; loading version 1, loaded already, loads nothing more, however often it is asked.
    expect(events.filter((e) => e.type === 'version-ready')).toHaveLength(2);
    // The reload reloads what is loaded when its turn comes (version 2 too, if its unload comes after).
    expect(events.filter((e) => e.type === 'version-reloaded').length).toBeLessThanOrEqual(2);
    expect(events.some((e) => e.type.endsWith('failed'))).toBe(false);
  });
});

describe('retiring a version waits for the requests that hold it', () => {
  it('closes the runtime only once the last lease is released', async () => {
    await folder.model('m', [1, 2], ALL);
    const repo = await open();
    const held = repo.resolve('m', 2);
    const release = repo.lease(held);
    await repo.unloadVersion('m', 2);
    expect((await caught(async () => repo.resolve('m', 2))).code).toBe('MODEL_VERSION_NOT_FOUND');
    expect(events).toContainEqual(
      expect.objectContaining({ type: 'version-retiring', version: 2, inFlight: 1 }),
    );
    // The request holding it still runs on it.
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect(events.some((e) => e.type === 'version-unloaded')).toBe(false);
    expect((await held.runtime.run(feedsOf(held))).outputs).toBeDefined();
    release();
    release();
    await repo.settled();
    expect(events).toContainEqual(
      expect.objectContaining({ type: 'version-unloaded', version: 2, abandoned: 0 }),
    );
    expect((await caught(() => held.runtime.run(feedsOf(held)))).code).toBe('RUNTIME_CLOSED');
    expect((await caught(async () => repo.lease(held))).code).toBe('RUNTIME_CLOSED');
  });

  it('stops waiting after the retire timeout and says how many were abandoned', async () => {
    await folder.model('m', [1, 2], ALL);
    const repo = await open({ retireTimeoutMs: 50 });
    const held = repo.resolve('m', 2);
    repo.lease(held);
    await repo.unloadVersion('m', 2);
    await repo.settled();
    expect(events).toContainEqual(
      expect.objectContaining({ type: 'version-unloaded', version: 2, abandoned: 1 }),
    );
  });

  it('holds the version of every admitted request: the service leases it until the ticket is released', async () => {
    await folder.model('m', [1, 2], ALL);
    const repo = await open();
    const service = new InferenceService(repo);
    const published: ServingEvent[] = [];
    for (const type of ['model.loaded', 'model.unloaded', 'model.load_failed'] as const) {
      service.events.on(type, 'test', (event) => {
        published.push(event);
      });
    }
    const ticket = service.admit({ model: 'm' }, { source: 'cli' });
    expect(ticket.loaded.version).toBe(2);
    expect(repo.leases(ticket.loaded)).toBe(1);
    await repo.unloadVersion('m', 2);
    // A request admitted after the unload goes to version 1; the one admitted before keeps version 2.
    const next = service.admit({ model: 'm' }, { source: 'cli' });
    expect(next.loaded.version).toBe(1);
    next.release();
    expect((await ticket.loaded.runtime.run(feedsOf(ticket.loaded))).outputs).toBeDefined();
    ticket.release();
    await repo.settled();
    await folder.version('m', 3);
    await repo.rescan();
    await new Promise((resolve) => setImmediate(resolve));
    expect(published).toEqual([
      expect.objectContaining({ type: 'model.unloaded', model: 'm', version: 2, reason: 'requested' }),
      expect.objectContaining({ type: 'model.loaded', model: 'm', version: 3, replaced: false }),
    ]);
    await service.close();
    repository = undefined;
  });
});

/** A zero input of the model's size, enough to run it. */
function feedsOf(loaded: { inputName: string; config: { input: { width: number; height: number } } }) {
  const { width, height } = loaded.config.input;
  return {
    [loaded.inputName]: {
      type: 'float32' as const,
      dims: [1, 3, height, width],
      data: new Float32Array(3 * width * height),
    },
  };
}

describe('the index', () => {
  it('lists every model and version with its state, and folders not read yet', async () => {
    await folder.model('a', [1, 2], ALL);
    await folder.model('b', [1]);
    await folder.version('b', 1, BROKEN_ONNX);
    const repo = await open();
    await folder.model('c', [1]);
    await rm(folder.path('c', 'config.yaml'));
    expect(await repo.index()).toEqual([
      { name: 'a', version: 2, state: 'ready' },
      { name: 'a', version: 1, state: 'ready' },
      { name: 'b', version: 1, state: 'failed', reason: expect.stringContaining('b/1/model.onnx') },
      { name: 'c', state: 'unloaded', reason: 'not loaded' },
    ]);
  });
});
