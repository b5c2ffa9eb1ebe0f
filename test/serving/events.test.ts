/** The serving events: delivered after the caller moves on, to every subscriber, with failures isolated. */
import { describe, expect, it, vi } from 'vitest';
import { type EventFailure, type PredictionCompleted, ServingEvents } from '../../src/serving/events.js';

const event: PredictionCompleted = {
  type: 'prediction.completed',
  predictionId: 'p-1',
  source: 'cli',
  model: 'm',
  version: 1,
  variant: 'default',
  at: 0,
  timings: { decode: 1, preprocess: 1, queue: 0, infer: 5, postprocess: 1, encode: 1, total: 9 },
  summary: { task: 'tensors' },
};

describe('ServingEvents', () => {
  it('delivers on a later turn, so emit returns before any subscriber runs', async () => {
    const events = new ServingEvents();
    const seen: string[] = [];
    events.on('prediction.completed', 'a', (e) => {
      seen.push(e.predictionId);
    });
    events.emit(event);
    expect(seen).toEqual([]);
    await vi.waitFor(() => expect(seen).toEqual(['p-1']));
  });

  it('counts and reports a subscriber that throws or rejects, and still delivers to the others', async () => {
    const failures: EventFailure[] = [];
    const events = new ServingEvents((failure) => failures.push(failure));
    const seen: string[] = [];
    events.on('prediction.completed', 'throws', () => {
      throw new Error('boom');
    });
    events.on('prediction.completed', 'rejects', async () => {
      throw new Error('later boom');
    });
    events.on('prediction.completed', 'fine', (e) => {
      seen.push(e.model);
    });
    events.emit(event);
    await vi.waitFor(() => expect(events.failures()).toBe(2));
    expect(seen).toEqual(['m']);
    expect(failures.map((f) => f.subscriber).sort()).toEqual(['rejects', 'throws']);
  });

  it('stops delivering to a subscriber once it unsubscribes', async () => {
    const events = new ServingEvents();
    const seen: number[] = [];
    const off = events.on('prediction.completed', 'a', () => {
      seen.push(1);
    });
    events.emit(event);
    await vi.waitFor(() => expect(seen).toEqual([1]));
    off();
    events.emit(event);
    await new Promise((resolve) => setImmediate(resolve));
    expect(seen).toEqual([1]);
  });
});
