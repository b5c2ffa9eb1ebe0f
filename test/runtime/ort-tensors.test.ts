import { describe, expect, it } from 'vitest';
import { warmupDims, zeroTensor } from '../../src/runtime/ort-tensors.js';

describe('warmupDims', () => {
  it('keeps fixed dimensions', () => {
    expect(warmupDims([1, 3, 320, 320], { width: 64, height: 32 })).toEqual([1, 3, 320, 320]);
  });

  it('fills symbolic height and width of an NCHW input from the configured size, batch with 1', () => {
    expect(warmupDims(['batch', 3, 'h', 'w'], { width: 64, height: 32 })).toEqual([1, 3, 32, 64]);
  });

  it('recognises NHWC when only the last axis looks like channels', () => {
    expect(warmupDims(['n', 'h', 'w', 3], { width: 64, height: 32 })).toEqual([1, 32, 64, 3]);
  });

  it('uses 1 for every symbolic dimension without a configured size', () => {
    expect(warmupDims(['n', 'd'])).toEqual([1, 1]);
    expect(warmupDims(['n', 3, 'h', 'w'])).toEqual([1, 3, 1, 1]);
  });
});

describe('zeroTensor', () => {
  it('builds zeros of the input type and warm-up shape', () => {
    const tensor = zeroTensor({ name: 'ids', type: 'int64', dims: ['n', 4] });
    expect(tensor.dims).toEqual([1, 4]);
    expect(tensor.data).toEqual(new BigInt64Array(4));
  });

  it('refuses element types segserve cannot feed', () => {
    expect(() => zeroTensor({ name: 'text', type: 'string', dims: [1] })).toThrow(
      /string, which segserve cannot feed/,
    );
  });
});
