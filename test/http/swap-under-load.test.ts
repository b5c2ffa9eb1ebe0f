/**
 * Registry operations under load, over HTTP and with real worker pools: while clients post images without a
 * pause, the model is reloaded, a version unloaded and loaded again, a version added and removed on disk, and
 * a model file replaced. No request may fail, and each answer's `version` must be one that requests naming no
 * version were sent to at some moment between the request's start and its answer (the timeline is recorded at
 * every swap, which happens in the same turn of the event loop as its event). Clients pinned to version 1 get
 * version 1 throughout its reloads.
 *
 * And the case a drain of queued jobs alone would miss: a request admitted to a version whose body is still
 * arriving when that version is unloaded finishes on it, and the runtime closes only afterwards.
 */
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RepositoryEvent } from '../../src/models/index.js';
import { closedLoop, type Outcome } from '../helpers/http-load.js';
import { semanticScene } from '../helpers/tiny-models.js';
import {
  listen,
  openTemporaryRepository,
  png,
  type RunningApp,
  type TinyRepository,
  writeRepository,
} from './helpers.js';
import { slowBinaryModel } from './slow-model.js';

const MODEL = slowBinaryModel({ steps: 3, maxQueue: 64 });
const DEFAULT_ROUTE = '/v1/models/seg/segment?mask_format=none';
const PINNED_ROUTE = '/v1/models/seg/versions/1/segment?mask_format=none';

let repo: TinyRepository;
let server: RunningApp;
let image: Buffer;
const events: Array<{ at: number; event: RepositoryEvent }> = [];
/** When the default version changed, and to what (recorded at each swap). */
const timeline: Array<{ at: number; version: number | undefined }> = [];

function defaultVersion(): number | undefined {
  try {
    return repo.repository.resolve('seg').version;
  } catch {
    return undefined;
  }
}

beforeAll(async () => {
  const dir = await writeRepository({ seg: { ...MODEL, versions: [1, 2] } });
  repo = await openTemporaryRepository(dir);
  repo.repository.subscribe((event) => {
    const at = performance.now();
    events.push({ at, event });
    const version = defaultVersion();
    if (timeline[timeline.length - 1]?.version !== version) timeline.push({ at, version });
  });
  timeline.push({ at: performance.now(), version: defaultVersion() });
  server = await listen({ repository: repo.repository });
  image = await png(semanticScene());
});

afterAll(async () => {
  await server?.app.close();
  await repo?.close();
});

/** Versions requests naming none were sent to between `from` and `to`. */
function defaultsBetween(from: number, to: number): Set<number | undefined> {
  const versions = new Set<number | undefined>();
  let current = timeline[0].version;
  for (const point of timeline) {
    if (point.at <= from) current = point.version;
    else if (point.at <= to) versions.add(point.version);
  }
  versions.add(current);
  return versions;
}

async function writeVersion(version: number): Promise<void> {
  const folder = join(repo.dir, 'seg', String(version));
  await mkdir(folder, { recursive: true });
  const temp = join(folder, '.model.onnx.tmp');
  await writeFile(temp, MODEL.bytes);
  await rename(temp, join(folder, 'model.onnx'));
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function versionOf(outcome: Outcome): number {
  return (JSON.parse(outcome.body?.toString() ?? '{}') as { version: number }).version;
}

describe('registry operations under load', () => {
  it('fails no request while the model is reloaded, versions come and go, and a file is replaced', async () => {
    const repository = repo.repository;
    let operating = true;
    const operations = (async () => {
      await sleep(300);
      await repository.reload('seg');
      await sleep(200);
      await repository.unloadVersion('seg', 2);
      await sleep(200);
      await repository.loadVersion('seg', 2);
      await sleep(200);
      await writeVersion(3);
      await repository.rescan();
      await sleep(200);
      await rm(join(repo.dir, 'seg', '3'), { recursive: true });
      await repository.rescan();
      await sleep(200);
      await writeVersion(2);
      await repository.rescan();
      await sleep(300);
      operating = false;
    })();
    const url = (path: string) => new URL(path, server.base);
    const [byDefault, pinned] = await Promise.all([
      closedLoop({
        url: url(DEFAULT_ROUTE),
        bodies: [image],
        concurrency: 4,
        durationMs: 30_000,
        stop: () => !operating,
        keepBody: true,
        timeoutMs: 20_000,
      }),
      closedLoop({
        url: url(PINNED_ROUTE),
        bodies: [image],
        concurrency: 2,
        durationMs: 30_000,
        stop: () => !operating,
        keepBody: true,
        timeoutMs: 20_000,
      }),
      operations,
    ]);

    const failed = [...byDefault.outcomes, ...pinned.outcomes].filter((o) => o.status !== 200);
    expect(failed).toEqual([]);
    expect(byDefault.outcomes.length).toBeGreaterThan(20);
    const misrouted = byDefault.outcomes.filter(
      (o) => !defaultsBetween(o.sentAt, o.doneAt).has(versionOf(o)),
    );
    expect(misrouted.map((o) => ({ version: versionOf(o), sentAt: o.sentAt, doneAt: o.doneAt }))).toEqual([]);
    expect(new Set(pinned.outcomes.map(versionOf))).toEqual(new Set([1]));
    // Every default the timeline went through was answered by some request: the swaps happened under load.
    expect(timeline.map((t) => t.version)).toEqual([2, 1, 2, 3, 2]);
    expect(new Set(byDefault.outcomes.map(versionOf))).toEqual(new Set([1, 2, 3]));

    await repository.settled();
    const unloaded = events.flatMap(({ event }) => (event.type === 'version-unloaded' ? [event] : []));
    // Reload (2 replaced), unload of 2, version 3 removed, version 2 replaced by its new file.
    expect(unloaded.length).toBeGreaterThanOrEqual(5);
    expect(unloaded.every((e) => e.abandoned === 0)).toBe(true);
    expect(events.some(({ event }) => event.type.endsWith('failed'))).toBe(false);
  });

  it('lets a request whose body is still arriving finish on the version it was admitted to', async () => {
    const repository = repo.repository;
    const before = repository.resolve('seg');
    expect(before.version).toBe(2);
    const since = events.length;
    let closedBeforeBody: boolean | undefined;
    const answer = new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = httpRequest(
        new URL(DEFAULT_ROUTE, server.base),
        { method: 'POST', headers: { 'content-type': 'image/png', 'content-length': image.length } },
        (response) => {
          let body = '';
          response.on('data', (chunk) => {
            body += chunk;
          });
          response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
        },
      );
      req.on('error', reject);
      req.write(image.subarray(0, 10));
      // Admitted before its body is read: its ticket holds version 2 from then on.
      const admitted = setInterval(() => {
        if (repository.leases(before) === 0) return;
        clearInterval(admitted);
        void (async () => {
          await repository.unloadVersion('seg', 2);
          // Longer than a drain of the runtime's queue (empty) would take.
          await sleep(200);
          closedBeforeBody = events.slice(since).some(({ event }) => event.type === 'version-unloaded');
          req.end(image.subarray(10));
        })().catch(reject);
      }, 5);
    });
    const { status, body } = await answer;
    expect(status).toBe(200);
    expect((JSON.parse(body) as { version: number }).version).toBe(2);
    await repository.settled();
    expect(closedBeforeBody).toBe(false);
    const retiring = events.slice(since).find(({ event }) => event.type === 'version-retiring');
    expect(retiring?.event).toMatchObject({ version: 2, reason: 'requested', inFlight: 1 });
    const unloaded = events.slice(since).find(({ event }) => event.type === 'version-unloaded');
    expect(unloaded?.event).toMatchObject({ type: 'version-unloaded', version: 2, abandoned: 0 });
    expect(repository.resolve('seg').version).toBe(1);
  });
});
