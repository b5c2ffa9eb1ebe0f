/**
 * The tables the serving core reads on every request (aliases, traffic policies) are refreshed from the
 * database every few seconds while this process changes them too. A refresh whose read began before a change
 * of this process was committed must not put the old value back when its rows arrive after that change. And
 * policies that could not be read at start keep the server unready until a refresh reads them.
 */
import { describe, expect, it } from 'vitest';
import { AliasTable } from '../../src/lifecycle/aliases.js';
import { PolicyTable } from '../../src/lifecycle/traffic-table.js';
import { InferenceService } from '../../src/serving/service.js';
import type { Database } from '../../src/storage/index.js';
import { tinySoftmaxModel } from '../helpers/tiny-models.js';
import { tinyRepository } from '../http/helpers.js';

/** A database whose one query answers `rows` when `answer()` is called. */
function heldDatabase(rows: object[]): { db: Database; answer: () => void } {
  let answer = () => {};
  const db = {
    query: () =>
      new Promise((resolve) => {
        answer = () => resolve({ rows, rowCount: rows.length });
      }),
  } as unknown as Database;
  return { db, answer: () => answer() };
}

const at = new Date('2026-01-01T00:00:00Z');

describe('a refresh racing a change of this process', () => {
  it('leaves an alias moved meanwhile where it was moved (the next refresh reads the row)', async () => {
    const table = new AliasTable();
    table.set('m', 'stable', { version: 1, previousVersion: null });
    const stale = [
      { model: 'm', alias: 'stable', version: 1, previous_version: null, updated_at: at, updated_by: 'a' },
    ];
    const held = heldDatabase(stale);
    const refreshing = table.refresh(held.db);
    table.set('m', 'stable', { version: 2, previousVersion: 1 });
    held.answer();
    await refreshing;
    expect(table.lookup('m', 'stable')).toBe(2);
    const fresh = heldDatabase([{ ...stale[0], version: 3 }]);
    const next = table.refresh(fresh.db);
    fresh.answer();
    await next;
    expect(table.lookup('m', 'stable')).toBe(3);
  });

  it('leaves a traffic policy changed meanwhile as it was changed', async () => {
    const table = new PolicyTable();
    const policy = (percent: number) => ({
      canary: { model: 'm', version: 2, percent },
      baseline: { model: 'm', version: 1 },
    });
    const record = (percent: number) => ({
      endpoint: 'people',
      policy: policy(percent),
      updatedAt: at.toISOString(),
      updatedBy: 'a',
    });
    table.set('people', record(10));
    const held = heldDatabase([{ endpoint: 'people', policy: policy(10), updated_at: at, updated_by: 'a' }]);
    const refreshing = table.refresh(held.db);
    table.set('people', record(50));
    held.answer();
    await refreshing;
    expect(table.lookup('people')?.variants.map((v) => v.weight)).toEqual([50, 50]);
    expect(table.notLoaded()).toBeUndefined();
    const fresh = heldDatabase([{ endpoint: 'people', policy: policy(70), updated_at: at, updated_by: 'b' }]);
    const next = table.refresh(fresh.db);
    fresh.answer();
    await next;
    expect(table.lookup('people')?.variants.map((v) => v.weight)).toEqual([30, 70]);
  });
});

describe('traffic policies unread at start', () => {
  it('keep the server unready until a refresh reads them', async () => {
    const repo = await tinyRepository({ softmax: tinySoftmaxModel() });
    const service = new InferenceService(repo.repository);
    try {
      const table = new PolicyTable().markUnread('connection refused');
      service.useTraffic(table);
      expect(service.notReady()).toBe('traffic policies: connection refused');
      const held = heldDatabase([]);
      const refreshing = table.refresh(held.db);
      held.answer();
      await refreshing;
      expect(service.notReady()).toBeUndefined();
    } finally {
      await service.close();
      await repo.close();
    }
  });
});
