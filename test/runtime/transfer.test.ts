import { describe, expect, it } from 'vitest';
import type { CroppedMask } from '../../src/masks/types.js';
import { transferResult, transferTensors } from '../../src/runtime/transfer.js';
import type { InstanceResult, SemanticResult } from '../../src/tasks/types.js';

function mask(data: Uint8Array): CroppedMask {
  return { width: 4, height: 4, left: 0, top: 0, cropWidth: 2, cropHeight: 2, data };
}

describe('transferTensors', () => {
  it('transfers a typed array that spans its buffer, once even when two tensors share it', () => {
    const data = new Float32Array(6);
    const { value, transfer } = transferTensors({
      a: { type: 'float32', dims: [6], data },
      b: { type: 'float32', dims: [6], data },
    });
    expect(value.a.data).toBe(data);
    expect(transfer).toEqual([data.buffer]);
  });

  it('copies a view into a larger buffer and transfers the copy', () => {
    const backing = Int32Array.from({ length: 10 }, (_, i) => i);
    const view = backing.subarray(2, 5);
    const { value, transfer } = transferTensors({ a: { type: 'int32', dims: [3], data: view } });
    expect(value.a.data).not.toBe(view);
    expect(Array.from(value.a.data as Int32Array)).toEqual([2, 3, 4]);
    expect(value.a.data.buffer.byteLength).toBe(12);
    expect(transfer).toEqual([value.a.data.buffer]);
  });

  it('leaves SharedArrayBuffer tensors to be shared, not transferred', () => {
    const data = new Float32Array(new SharedArrayBuffer(16));
    const { value, transfer } = transferTensors({ a: { type: 'float32', dims: [4], data } });
    expect(value.a.data).toBe(data);
    expect(transfer).toEqual([]);
  });
});

describe('transferResult', () => {
  it('transfers every instance mask crop', () => {
    const a = new Uint8Array(4);
    const b = new Uint8Array(4);
    const result: InstanceResult = {
      task: 'instance',
      width: 4,
      height: 4,
      instances: [a, b].map((data, classId) => ({
        classId,
        label: String(classId),
        score: 0.9,
        box: [0, 0, 2, 2],
        area: 0,
        mask: mask(data),
        margin: 1,
      })),
      uncertainty: {
        kind: 'instance-scores',
        count: 2,
        meanScore: 0.9,
        minScore: 0.9,
        maxScore: 0.9,
        minMargin: 1,
        meanMargin: 1,
        nearThresholdShare: 0,
      },
    };
    const { value, transfer } = transferResult(result);
    expect(transfer).toEqual([a.buffer, b.buffer]);
    expect(value).toEqual(result);
  });

  it('transfers the semantic class map', () => {
    const classMap = new Uint8Array(16);
    const result: SemanticResult = {
      task: 'semantic',
      width: 4,
      height: 4,
      classMap,
      labels: ['background'],
      areas: [{ classId: 0, label: 'background', area: 16 }],
      uncertainty: { kind: 'pixel-entropy', meanEntropy: 0, maxEntropy: 0, uncertainShare: 0 },
    };
    const { value, transfer } = transferResult(result);
    expect(transfer).toEqual([classMap.buffer]);
    expect(value).toEqual(result);
  });
});
