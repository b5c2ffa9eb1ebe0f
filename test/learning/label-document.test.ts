/** The label document: built from predictions, canonical bytes, and every malformed label refused with LABEL_INVALID. */
import { describe, expect, it } from 'vitest';
import {
  classMapOf,
  decodeLabelDocument,
  encodeLabelDocument,
  type LabelDocument,
  labelFromResult,
  parseLabelDocument,
} from '../../src/learning/label-document.js';
import { toCompressedRle } from '../../src/masks/index.js';
import type { InstanceResult, SemanticResult } from '../../src/tasks/types.js';

const uncertainty = { kind: 'pixel-entropy', meanEntropy: 0.1, maxEntropy: 0.5, uncertainShare: 0 } as const;

function semantic(): SemanticResult {
  // 4x3: class 1 on the left column, class 2 on the right two columns, background between.
  const classMap = Uint8Array.from([1, 0, 2, 2, 1, 0, 2, 2, 1, 0, 2, 2]);
  return {
    task: 'semantic',
    width: 4,
    height: 3,
    classMap,
    labels: ['background', 'sky', 'road'],
    areas: [
      { classId: 0, label: 'background', area: 3 },
      { classId: 1, label: 'sky', area: 3 },
      { classId: 2, label: 'road', area: 6 },
    ],
    uncertainty,
  };
}

describe('label documents', () => {
  it('turn a semantic prediction into disjoint class segments that decode back to its class map', () => {
    const result = semantic();
    const document = labelFromResult(result, result.labels);
    expect(document.segments.map((s) => s.class_id)).toEqual([1, 2]);
    expect(classMapOf(document)).toEqual(result.classMap);
    const bytes = encodeLabelDocument(document);
    expect(decodeLabelDocument(bytes)).toEqual(document);
    // Canonical: the same label from fields in another order has the same bytes.
    const shuffled = JSON.parse(new TextDecoder().decode(bytes));
    const reordered = { segments: shuffled.segments, labels: shuffled.labels, ...shuffled };
    expect(encodeLabelDocument(parseLabelDocument(reordered))).toEqual(bytes);
  });

  it('keep every instance with its score', () => {
    const mask = {
      width: 4,
      height: 3,
      left: 1,
      top: 0,
      cropWidth: 2,
      cropHeight: 2,
      data: new Uint8Array(4).fill(1),
    };
    const result: InstanceResult = {
      task: 'instance',
      width: 4,
      height: 3,
      instances: [{ classId: 0, label: 'cat', score: 0.9, box: [1, 0, 3, 2], area: 4, mask, margin: 0.5 }],
      uncertainty: {
        kind: 'instance-scores',
        count: 1,
        meanScore: 0.9,
        minScore: 0.9,
        maxScore: 0.9,
        minMargin: 0.5,
        meanMargin: 0.5,
        nearThresholdShare: 0,
      },
    };
    const document = labelFromResult(result, ['cat', 'dog']);
    expect(document.segments).toEqual([{ class_id: 0, rle: toCompressedRle(mask), score: 0.9 }]);
    expect(decodeLabelDocument(encodeLabelDocument(document))).toEqual(document);
  });

  it('refuse wrong sizes, unknown classes, malformed RLE and overlapping semantic segments', () => {
    const good = labelFromResult(semantic(), semantic().labels);
    const variants: Array<[string, (d: LabelDocument) => unknown]> = [
      [
        'is not the label',
        (d) => ({ ...d, segments: [{ ...d.segments[0], rle: { size: [2, 2], counts: '04' } }] }),
      ],
      ['is not a class', (d) => ({ ...d, segments: [{ ...d.segments[0], class_id: 7 }] })],
      ['RLE counts', (d) => ({ ...d, segments: [{ ...d.segments[0], rle: { size: [3, 4], counts: '1' } }] })],
      ['overlaps', (d) => ({ ...d, segments: [d.segments[0], { ...d.segments[0], class_id: 2 }] })],
      ['background', (d) => ({ ...d, segments: [{ ...d.segments[0], class_id: 0 }] })],
      ['task', (d) => ({ ...d, task: 'panoptic' })],
    ];
    for (const [message, mutate] of variants) {
      expect(() => parseLabelDocument(mutate(good)), message).toThrow(
        expect.objectContaining({ code: 'LABEL_INVALID', message: expect.stringContaining(message) }),
      );
    }
    expect(() => decodeLabelDocument(new TextEncoder().encode('{'))).toThrow(
      expect.objectContaining({ code: 'LABEL_INVALID' }),
    );
  });
});
