import { describe, expect, it } from 'vitest';
import { isSegserveError } from '../../src/errors.js';
import type { InputTransform } from '../../src/image/types.js';
import type { NamedTensors } from '../../src/runtime/types.js';
import { getDecoder, pasteMask } from '../../src/tasks/index.js';
import type { DecodeContext, InstanceResult } from '../../src/tasks/types.js';
import {
  GREEN,
  type Layout,
  paintRgb,
  RED,
  rcnnScene,
  tinyRcnnModel,
  toInputTensor,
  YELLOW,
} from '../helpers/tiny-models.js';
import {
  configOf,
  contextOf,
  expand,
  expectMaskEquals,
  expectRectMask,
  identity,
  letterbox,
  picture,
  rectMap,
  runTiny,
  stretch,
} from './support.js';

const decode = getDecoder('rcnn');

/**
 * torchvision's paste_masks_in_image for one mask, written the way torchvision writes it: resize the padded mask
 * to the whole integer box, then copy the part inside the image. Probabilities per pixel, full image.
 */
function torchvisionPaste(
  mask: number[][],
  box: [number, number, number, number],
  width: number,
  height: number,
): Float64Array {
  const m = mask.length;
  const n = m + 2;
  const padded = Array.from({ length: n }, (_, r) =>
    Array.from({ length: n }, (_, c) => mask[r - 1]?.[c - 1] ?? 0),
  );
  const scale = n / m;
  const [cx, cy] = [(box[0] + box[2]) / 2, (box[1] + box[3]) / 2];
  const [hw, hh] = [((box[2] - box[0]) / 2) * scale, ((box[3] - box[1]) / 2) * scale];
  const [x0, y0, x1, y1] = [cx - hw, cy - hh, cx + hw, cy + hh].map(Math.trunc);
  const w = Math.max(x1 - x0 + 1, 1);
  const h = Math.max(y1 - y0 + 1, 1);
  const source = (dst: number, out: number) => Math.max(((dst + 0.5) * n) / out - 0.5, 0);
  const resized = (i: number, j: number) => {
    const sy = source(i, h);
    const sx = source(j, w);
    const [r0, c0] = [Math.floor(sy), Math.floor(sx)];
    const [r1, c1] = [Math.min(r0 + 1, n - 1), Math.min(c0 + 1, n - 1)];
    const [ly, lx] = [sy - r0, sx - c0];
    return (
      (1 - ly) * ((1 - lx) * padded[r0][c0] + lx * padded[r0][c1]) +
      ly * ((1 - lx) * padded[r1][c0] + lx * padded[r1][c1])
    );
  };
  const image = new Float64Array(width * height);
  for (let y = Math.max(y0, 0); y < Math.min(y1 + 1, height); y++) {
    for (let x = Math.max(x0, 0); x < Math.min(x1 + 1, width); x++)
      image[y * width + x] = resized(y - y0, x - x0);
  }
  return image;
}

function thresholded(probabilities: Float64Array, threshold = 0.5): Uint8Array {
  return Uint8Array.from(probabilities, (p) => (p > threshold ? 1 : 0));
}

describe('pasting small masks (torchvision paste_masks_in_image)', () => {
  it('matches a hand-computed 2x2 case', () => {
    // Box [2, 2, 6, 6], M = 2: grown by 4/2 about (4, 4) to [0, 8] (w = h = 9). The padded profile [0, 1, 1, 0]
    // resized to 9 samples at src = (j + 0.5) * 4/9 - 0.5 gives [0, 1/6, 0.61, 1, 1, 1, 0.61, 1/6, 0]; the product
    // of two profiles is above 0.5 on x, y in [2, 7) except the four corners (0.61^2 = 0.37).
    const { mask, area } = pasteMask(
      Float32Array.of(1, 1, 1, 1),
      0,
      2,
      { x1: 2, y1: 2, x2: 6, y2: 6 },
      10,
      10,
      0.5,
    );
    expect([mask.left, mask.top, mask.cropWidth, mask.cropHeight]).toEqual([0, 0, 9, 9]);
    expect(area).toBe(21);
    const expected = rectMap(10, 10, [{ x0: 2, y0: 2, x1: 7, y1: 7, value: 1 }]);
    for (const [x, y] of [
      [2, 2],
      [6, 2],
      [2, 6],
      [6, 6],
    ]) {
      expected[y * 10 + x] = 0;
    }
    expectMaskEquals(mask, expected);
  });

  it('matches torchvision on random masks, including boxes that leave the image', () => {
    let state = 11;
    const random = () => {
      state = (state * 1103515245 + 12345) % 2147483648;
      return state / 2147483648;
    };
    const boxes: [number, number, number, number][] = [
      [3.2, 4.7, 17.9, 12.1],
      [-4.5, -2.2, 9.3, 6.6],
      [20.5, 15.1, 31.8, 29.9],
      [10, 10, 10.4, 10.2],
    ];
    for (const box of boxes) {
      const m = 7;
      const mask = Array.from({ length: m }, () => Array.from({ length: m }, random));
      const { mask: pasted, area } = pasteMask(
        Float32Array.from(mask.flat()),
        0,
        m,
        { x1: box[0], y1: box[1], x2: box[2], y2: box[3] },
        28,
        24,
        0.5,
      );
      const expected = thresholded(torchvisionPaste(mask, box, 28, 24));
      expect(picture(expand(pasted), 28)).toBe(picture(expected, 28));
      expect(area).toBe(expected.reduce((a, b) => a + b, 0));
    }
  });
});

interface Expected {
  label: string;
  score: number;
  box: [number, number, number, number];
}

function expectDetections(result: InstanceResult, expected: Expected[]): void {
  expect(result.instances.map((i) => i.label)).toEqual(expected.map((e) => e.label));
  result.instances.forEach((instance, k) => {
    expect(instance.score).toBeCloseTo(expected[k].score, 6);
    expect(instance.box).toEqual(expected[k].box);
    expect(instance.margin).toBe(1);
  });
}

const identityDetections: Expected[] = [
  { label: 'cat', score: 0.95, box: [8, 8, 16, 16] },
  { label: 'dog', score: 0.6, box: [8, 16, 24, 16] },
];

async function decodeScene(
  layout: Layout,
  masks: 'pasted' | 'small',
  transform: InputTransform = identity(32, 32),
  overrides = {},
): Promise<InstanceResult> {
  const model = tinyRcnnModel({ layout, masks });
  const outputs = await runTiny(model, toInputTensor(rcnnScene(), layout));
  return decode(outputs, contextOf(model, transform, overrides)) as InstanceResult;
}

describe('rcnn decoder with pasted masks [N, 1, H, W]', () => {
  for (const layout of ['NCHW', 'NHWC'] as const) {
    it(`gives exact boxes and masks at identity scale (${layout})`, async () => {
      const result = await decodeScene(layout, 'pasted');
      expectDetections(result, identityDetections);
      expectRectMask(result.instances[0].mask, { x0: 8, y0: 8, x1: 24, y1: 24 });
      expectRectMask(result.instances[1].mask, { x0: 8, y0: 16, x1: 32, y1: 32 });
      expect(result.instances.map((i) => i.area)).toEqual([256, 384]);
      expect(result.uncertainty.count).toBe(2);
    });
  }

  it('maps masks back through a 2x stretch', async () => {
    const result = await decodeScene('NCHW', 'pasted', stretch(64, 64, 32, 32));
    expectDetections(result, [
      { label: 'cat', score: 0.95, box: [16, 16, 32, 32] },
      { label: 'dog', score: 0.6, box: [16, 32, 48, 32] },
    ]);
    expectRectMask(result.instances[0].mask, { x0: 16, y0: 16, x1: 48, y1: 48 });
    expectRectMask(result.instances[1].mask, { x0: 16, y0: 32, x1: 64, y1: 64 });
  });

  it('undoes a letterbox', async () => {
    // Original 64x32 at r = 0.5: 32x16 of content in input rows 8..23, grey padding.
    const input = paintRgb(
      32,
      32,
      [
        { x0: 0, y0: 8, x1: 32, y1: 24, rgb: [0, 0, 0] },
        { x0: 8, y0: 8, x1: 24, y1: 24, rgb: RED },
        { x0: 8, y0: 16, x1: 32, y1: 24, rgb: GREEN },
        { x0: 8, y0: 16, x1: 24, y1: 24, rgb: YELLOW },
      ],
      [114, 114, 114],
    );
    const model = tinyRcnnModel();
    const outputs = await runTiny(model, toInputTensor(input, 'NCHW'));
    const result = decode(outputs, contextOf(model, letterbox(64, 32, 32, 32, 0.5, 0, 8))) as InstanceResult;
    expectDetections(result, [
      { label: 'cat', score: 0.95, box: [16, 0, 32, 32] },
      { label: 'dog', score: 0.6, box: [16, 16, 48, 16] },
    ]);
    expectRectMask(result.instances[0].mask, { x0: 16, y0: 0, x1: 48, y1: 32 });
    expectRectMask(result.instances[1].mask, { x0: 16, y0: 16, x1: 64, y1: 32 });
  });

  it('thresholds logits in the logit domain', () => {
    // One detection whose pasted mask is +10 on x[2,6) y[1,3) and -10 elsewhere, in an 8x8 input.
    const masks = new Float32Array(64).fill(-10);
    for (let y = 1; y < 3; y++) for (let x = 2; x < 6; x++) masks[y * 8 + x] = 10;
    const outputs = rcnnOutputs([[0, 0, 8, 8]], [1], [0.9], masks, [1, 1, 8, 8]);
    const result = decode(
      outputs,
      rcnnContext(identity(8, 8), { output: { activation: 'logits' } }),
    ) as InstanceResult;
    expectRectMask(result.instances[0].mask, { x0: 2, y0: 1, x1: 6, y1: 3 });
    // sigmoid(10) = 0.99995 is below a 0.99999 threshold: the threshold is a probability, whatever the domain.
    const strict = decode(
      outputs,
      rcnnContext(identity(8, 8), { output: { activation: 'logits' }, thresholds: { mask: 0.99999 } }),
    ) as InstanceResult;
    expect(strict.instances[0].area).toBe(0);
  });
});

describe('rcnn decoder with small per-instance masks [N, 1, M, M]', () => {
  const pooledRed = [
    [0, 0, 0, 0],
    [0, 1, 1, 0],
    [0, 1, 1, 0],
    [0, 0, 0, 0],
  ];
  const pooledGreen = [
    [0, 0, 0, 0],
    [0, 0, 0, 0],
    [0, 1, 1, 1],
    [0, 1, 1, 1],
  ];

  for (const layout of ['NCHW', 'NHWC'] as const) {
    it(`pastes them as torchvision does (${layout})`, async () => {
      const result = await decodeScene(layout, 'small');
      expectDetections(result, identityDetections);
      const [cat, dog] = result.instances;
      expectMaskEquals(cat.mask, thresholded(torchvisionPaste(pooledRed, [8, 8, 24, 24], 32, 32)));
      expectMaskEquals(dog.mask, thresholded(torchvisionPaste(pooledGreen, [8, 16, 32, 32], 32, 32)));
      expect([cat.mask.left, cat.mask.top, cat.mask.cropWidth, cat.mask.cropHeight]).toEqual([4, 4, 25, 25]);
      expect(cat.area).toBe(69);
      expect([dog.mask.left, dog.mask.top, dog.mask.cropWidth, dog.mask.cropHeight]).toEqual([2, 12, 30, 20]);
      expect(dog.area).toBe(DOG_SMALL_AREA);
    });
  }

  it('pastes in original-image pixels under a 2x stretch', async () => {
    const result = await decodeScene('NCHW', 'small', stretch(64, 64, 32, 32));
    const [cat, dog] = result.instances;
    expect(cat.box).toEqual([16, 16, 32, 32]);
    expectMaskEquals(cat.mask, thresholded(torchvisionPaste(pooledRed, [16, 16, 48, 48], 64, 64)));
    expectMaskEquals(dog.mask, thresholded(torchvisionPaste(pooledGreen, [16, 32, 64, 64], 64, 64)));
  });

  it('turns logits into probabilities before pasting against the zero padding', () => {
    const logits = Float32Array.from([10, 10, 10, 10]);
    const outputs = rcnnOutputs([[2, 2, 6, 6]], [1], [0.9], logits, [1, 1, 2, 2]);
    const result = decode(
      outputs,
      rcnnContext(identity(10, 10), { output: { activation: 'logits' } }),
    ) as InstanceResult;
    // Same as the hand-computed all-ones case: sigmoid(10) is 0.99995.
    expect(result.instances[0].area).toBe(21);
  });
});

/** Area of the dog's pasted small mask on rcnnScene() at identity scale (checked against torchvisionPaste). */
const DOG_SMALL_AREA = 124;

function rcnnOutputs(
  boxes: number[][],
  labels: number[],
  scores: number[],
  masks: Float32Array,
  maskDims: number[],
): NamedTensors {
  const n = boxes.length;
  return {
    boxes: { type: 'float32', dims: [n, 4], data: Float32Array.from(boxes.flat()) },
    labels: { type: 'int64', dims: [n], data: BigInt64Array.from(labels.map(BigInt)) },
    scores: { type: 'float32', dims: [n], data: Float32Array.from(scores) },
    masks: { type: 'float32', dims: maskDims, data: masks },
  };
}

function rcnnContext(transform: InputTransform, overrides: Record<string, unknown> = {}): DecodeContext {
  return {
    config: configOf({
      name: 'unit-rcnn',
      task: 'instance',
      decoder: 'rcnn',
      input: { width: transform.inputWidth, height: transform.inputHeight },
      thresholds: { score: 0.5 },
      ...overrides,
    }),
    labels: ['background', 'cat', 'dog'],
    transform,
  };
}

describe('rcnn decoder selection and validation', () => {
  it('keeps detections by score, best first, up to max_detections', async () => {
    const all = await decodeScene('NCHW', 'pasted', identity(32, 32), { thresholds: { score: 0.05 } });
    expect(all.instances.map((i) => i.score.toFixed(2))).toEqual(['0.95', '0.60', '0.10']);
    expect(all.uncertainty.nearThresholdShare).toBeCloseTo(1 / 3, 6);
    const one = await decodeScene('NCHW', 'pasted', identity(32, 32), { max_detections: 1 });
    expect(one.instances.map((i) => i.label)).toEqual(['cat']);
  });

  it('takes the roles in output order when output.names is empty', async () => {
    const result = await decodeScene('NCHW', 'pasted', identity(32, 32), { output: { names: {} } });
    expectDetections(result, identityDetections);
  });

  it('decodes zero detections', () => {
    const outputs = rcnnOutputs([], [], [], new Float32Array(0), [0, 1, 28, 28]);
    const result = decode(outputs, rcnnContext(identity(32, 32))) as InstanceResult;
    expect(result.instances).toEqual([]);
    expect(result.uncertainty.count).toBe(0);
  });

  it('reports outputs that do not fit', () => {
    const masks = new Float32Array(2 * 28 * 28);
    const ok = rcnnOutputs([[0, 0, 4, 4]], [1], [0.9], masks.subarray(0, 784), [1, 1, 28, 28]);
    const cases: [NamedTensors, RegExp][] = [
      [
        { ...ok, boxes: { type: 'float32', dims: [1, 5], data: new Float32Array(5) } },
        /boxes has dims \[1, 5\]/,
      ],
      [
        { ...ok, scores: { type: 'float32', dims: [2], data: new Float32Array(2) } },
        /scores has dims \[2\]; expected \[1\]/,
      ],
      [
        { ...ok, masks: { type: 'float32', dims: [2, 1, 28, 28], data: masks } },
        /masks has dims \[2, 1, 28, 28\]/,
      ],
      [
        { ...ok, masks: { type: 'float32', dims: [1, 1, 28, 14], data: new Float32Array(392) } },
        /neither pasted/,
      ],
      [rcnnOutputs([[0, 0, 4, 4]], [7], [0.9], masks.subarray(0, 784), [1, 1, 28, 28]), /label index 7/],
    ];
    for (const [outputs, reason] of cases) {
      try {
        decode(outputs, rcnnContext(identity(32, 32)));
        throw new Error(`expected a mismatch for ${reason}`);
      } catch (error) {
        expect(isSegserveError(error) && error.code).toBe('MODEL_OUTPUT_MISMATCH');
        if (isSegserveError(error)) {
          expect(error.details).toMatchObject({ model: 'unit-rcnn', decoder: 'rcnn' });
          expect(String(error.details.reason)).toMatch(reason);
        }
      }
    }
  });
});
