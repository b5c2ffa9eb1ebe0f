/**
 * Admission: requests in flight per version capped at sessions + queue, decoded pixels capped server-wide, and
 * Retry-After estimated from the measured service time and the requests ahead.
 */
import { describe, expect, it } from 'vitest';
import { parseModelConfig } from '../../src/models/config.js';
import type { LoadedVersion } from '../../src/models/index.js';
import { Admission } from '../../src/serving/admission.js';

/** A loaded version as admission sees it: its config and its runtime's session count. */
function version(instances: number, maxQueue: number): LoadedVersion {
  const parsed = parseModelConfig({
    task: 'semantic',
    decoder: 'softmax',
    input: { width: 8, height: 8 },
    instances,
    max_queue: maxQueue,
  });
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.issues));
  const stats = { instances, busy: 0, queued: 0, completed: 0, failed: 0 };
  return {
    name: 'm',
    version: 1,
    config: parsed.config,
    labels: [],
    modelPath: 'm.onnx',
    inputName: 'x',
    runtime: {
      inputs: [],
      outputs: [],
      run: () => Promise.reject(new Error('not run here')),
      stats: () => stats,
      close: async () => {},
    },
  };
}

describe('Admission', () => {
  it('admits sessions + queue requests per version, refuses the next at once, and frees a place on release', () => {
    const admission = new Admission({ decodedPixelBudget: 1_000 });
    const loaded = version(2, 1);
    const tickets = [admission.admit(loaded), admission.admit(loaded), admission.admit(loaded)];
    expect(() => admission.admit(loaded)).toThrow(
      expect.objectContaining({ code: 'QUEUE_FULL', details: expect.objectContaining({ in_flight: 3 }) }),
    );
    tickets[0].release();
    tickets[0].release();
    const again = admission.admit(loaded);
    expect(admission.counters()).toMatchObject({ admitted: 4, refused: 1, in_flight: 3 });
    for (const ticket of [again, ...tickets]) ticket.release();
    expect(admission.counters().in_flight).toBe(0);
  });

  it('estimates Retry-After from the measured service time and the requests ahead', () => {
    const admission = new Admission({ decodedPixelBudget: 1_000 });
    const loaded = version(1, 9);
    const tickets = Array.from({ length: 10 }, () => admission.admit(loaded));
    const refusal = () => {
      try {
        admission.admit(loaded);
      } catch (error) {
        return (error as { details: { retry_after: number } }).details.retry_after;
      }
      throw new Error('admitted past the capacity');
    };
    // Nothing measured yet: the least wait.
    expect(refusal()).toBe(1);
    // 10 requests ahead at 900 ms each on one session: 9 s.
    tickets[0].observeService(900);
    expect(refusal()).toBe(9);
    // The moving average follows slower service: 900 + 0.2 * (2900 - 900) = 1300 ms, 13 s.
    tickets[1].observeService(2_900);
    expect(refusal()).toBe(13);
  });

  it('budgets decoded pixels across requests, but serves one image larger than the whole budget alone', () => {
    const admission = new Admission({ decodedPixelBudget: 1_000 });
    const loaded = version(4, 4);
    const [a, b, c] = [admission.admit(loaded), admission.admit(loaded), admission.admit(loaded)];
    a.reservePixels(600);
    expect(() => b.reservePixels(600)).toThrow(expect.objectContaining({ code: 'DECODE_BUDGET_FULL' }));
    b.reservePixels(400);
    expect(admission.counters()).toMatchObject({ decoded: 2, refused: 1, pixels_in_flight: 1_000 });
    a.release();
    b.release();
    c.reservePixels(5_000);
    expect(admission.counters().pixels_in_flight).toBe(5_000);
    c.release();
    expect(admission.counters()).toMatchObject({ in_flight: 0, pixels_in_flight: 0 });
  });
});
