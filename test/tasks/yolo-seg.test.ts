import { describe, expect, it } from 'vitest';
import { isSegserveError } from '../../src/errors.js';
import type { InputTransform } from '../../src/image/types.js';
import { getDecoder } from '../../src/tasks/index.js';
import type { DecodeContext, InstanceResult } from '../../src/tasks/types.js';
import {
  GREEN,
  type Layout,
  paintRgb,
  RED,
  tinyYoloSegModel,
  toInputTensor,
  YELLOW,
  yoloScene,
} from '../helpers/tiny-models.js';
import {
  configOf,
  contextOf,
  expand,
  expectRectMask,
  identity,
  letterbox,
  picture,
  type Rect,
  runTiny,
  stretch,
} from './support.js';

const decode = getDecoder('yolo-seg');

interface Expected {
  label: string;
  classId: number;
  score: number;
  margin: number;
  box: [number, number, number, number];
  mask: Rect;
}

function expectInstances(result: InstanceResult, expected: Expected[]): void {
  expect(result.instances.map((i) => i.label)).toEqual(expected.map((e) => e.label));
  result.instances.forEach((instance, k) => {
    const e = expected[k];
    expect(instance.classId).toBe(e.classId);
    expect(instance.score).toBeCloseTo(e.score, 6);
    expect(instance.margin).toBeCloseTo(e.margin, 6);
    expect(instance.box).toEqual(e.box);
    expectRectMask(instance.mask, e.mask);
    expect(instance.area).toBe((e.mask.x1 - e.mask.x0) * (e.mask.y1 - e.mask.y0));
  });
}

async function decodeScene(
  layout: Layout,
  transform: InputTransform,
  overrides = {},
): Promise<InstanceResult> {
  const model = tinyYoloSegModel({ layout });
  const outputs = await runTiny(model, toInputTensor(yoloScene(), layout));
  return decode(outputs, contextOf(model, transform, overrides)) as InstanceResult;
}

const identityExpected: Expected[] = [
  {
    label: 'cat',
    classId: 0,
    score: 0.9,
    margin: 0.85,
    box: [8, 8, 24, 32],
    mask: { x0: 16, y0: 8, x1: 32, y1: 40 },
  },
  {
    label: 'dog',
    classId: 1,
    score: 0.7,
    margin: 0.4,
    box: [10, 8, 24, 32],
    mask: { x0: 10, y0: 16, x1: 34, y1: 32 },
  },
  {
    label: 'dog',
    classId: 1,
    score: 0.6,
    margin: 0.05,
    box: [36, 44, 24, 16],
    mask: { x0: 36, y0: 44, x1: 48, y1: 60 },
  },
];

describe('yolo-seg decoder on the tiny model', () => {
  for (const layout of ['NCHW', 'NHWC'] as const) {
    it(`keeps the right detections with exact boxes and masks at identity scale (${layout})`, async () => {
      const result = await decodeScene(layout, identity(64, 64));
      expect(result.task).toBe('instance');
      expect([result.width, result.height]).toEqual([64, 64]);
      expectInstances(result, identityExpected);
      for (const instance of result.instances) {
        // The crop is the box clipped to the image, on the pixel grid.
        const [x, y, w, h] = instance.box;
        expect([
          instance.mask.left,
          instance.mask.top,
          instance.mask.cropWidth,
          instance.mask.cropHeight,
        ]).toEqual([x, y, w, h]);
      }
    });
  }

  it('maps boxes and masks back through a 2x stretch', async () => {
    const result = await decodeScene('NCHW', stretch(128, 128, 64, 64));
    expectInstances(result, [
      { ...identityExpected[0], box: [16, 16, 48, 64], mask: { x0: 32, y0: 16, x1: 64, y1: 80 } },
      { ...identityExpected[1], box: [20, 16, 48, 64], mask: { x0: 20, y0: 32, x1: 68, y1: 64 } },
      { ...identityExpected[2], box: [72, 88, 48, 32], mask: { x0: 72, y0: 88, x1: 96, y1: 120 } },
    ]);
  });

  it('undoes a letterbox and clips boxes that reach into the padding', async () => {
    // Original 128x64 at r = 0.5: 64x32 of content in input rows 16..47, grey above and below.
    const input = paintRgb(
      64,
      64,
      [
        { x0: 0, y0: 16, x1: 64, y1: 48, rgb: [0, 0, 0] },
        { x0: 16, y0: 16, x1: 48, y1: 48, rgb: RED },
        { x0: 0, y0: 16, x1: 64, y1: 32, rgb: GREEN },
        { x0: 16, y0: 16, x1: 48, y1: 32, rgb: YELLOW },
      ],
      [114, 114, 114],
    );
    const model = tinyYoloSegModel();
    const outputs = await runTiny(model, toInputTensor(input, 'NCHW'));
    const result = decode(
      outputs,
      contextOf(model, letterbox(128, 64, 64, 64, 0.5, 0, 16)),
    ) as InstanceResult;
    expect([result.width, result.height]).toEqual([128, 64]);
    expectInstances(result, [
      { ...identityExpected[0], box: [16, 0, 48, 48], mask: { x0: 32, y0: 0, x1: 64, y1: 48 } },
      { ...identityExpected[1], box: [20, 0, 48, 48], mask: { x0: 20, y0: 0, x1: 68, y1: 32 } },
      { ...identityExpected[2], box: [72, 56, 48, 8], mask: { x0: 72, y0: 56, x1: 96, y1: 64 } },
    ]);
  });

  it('applies the score threshold, the NMS IoU and max_detections from the config', async () => {
    const capped = await decodeScene('NCHW', identity(64, 64), { max_detections: 2 });
    expect(capped.instances.map((i) => i.score.toFixed(2))).toEqual(['0.90', '0.70']);
    const strict = await decodeScene('NCHW', identity(64, 64), { thresholds: { score: 0.65 } });
    expect(strict.instances.map((i) => i.score.toFixed(2))).toEqual(['0.90', '0.70']);
    // a0 and a1 overlap with IoU 704 / 832 = 0.846: both stay when NMS allows 0.9.
    const loose = await decodeScene('NCHW', identity(64, 64), { thresholds: { nms_iou: 0.9 } });
    expect(loose.instances.map((i) => `${i.label} ${i.score.toFixed(2)}`)).toEqual([
      'cat 0.90',
      'cat 0.80',
      'dog 0.70',
      'dog 0.60',
    ]);
    const none = await decodeScene('NCHW', identity(64, 64), { thresholds: { score: 0.95 } });
    expect(none.instances).toEqual([]);
    expect(none.uncertainty).toEqual({
      kind: 'instance-scores',
      count: 0,
      meanScore: 0,
      minScore: 0,
      maxScore: 0,
      minMargin: 1,
      meanMargin: 1,
      nearThresholdShare: 0,
    });
  });

  it('summarises scores and margins as instance uncertainty', async () => {
    const result = await decodeScene('NCHW', identity(64, 64));
    const u = result.uncertainty;
    expect(u.kind).toBe('instance-scores');
    expect(u.count).toBe(3);
    expect(u.meanScore).toBeCloseTo((0.9 + 0.7 + 0.6) / 3, 6);
    expect(u.minScore).toBeCloseTo(0.6, 6);
    expect(u.maxScore).toBeCloseTo(0.9, 6);
    expect(u.minMargin).toBeCloseTo(0.05, 6);
    expect(u.meanMargin).toBeCloseTo((0.85 + 0.4 + 0.05) / 3, 6);
    expect(u.nearThresholdShare).toBe(0);
    const raised = await decodeScene('NCHW', identity(64, 64), { thresholds: { score: 0.5 } });
    // 0.6 lies within 0.15 of 0.5.
    expect(raised.uncertainty.nearThresholdShare).toBeCloseTo(1 / 3, 6);
  });

  it('reads roles from output.names, else from the output order', async () => {
    const model = tinyYoloSegModel();
    const outputs = await runTiny(model, toInputTensor(yoloScene(), 'NCHW'));
    const reversed = { output1: outputs.output1, output0: outputs.output0 };
    const named = decode(
      reversed,
      contextOf(model, identity(64, 64), { output: { names: { detections: 'output0', protos: 'output1' } } }),
    ) as InstanceResult;
    expectInstances(named, identityExpected);
    // Naming one role is enough: the other takes the remaining output.
    const half = decode(
      reversed,
      contextOf(model, identity(64, 64), { output: { names: { protos: 'output1' } } }),
    );
    expectInstances(half as InstanceResult, identityExpected);
    expectMismatch(() => decode(reversed, contextOf(model, identity(64, 64))), /protos has dims \[1, 8, 5\]/);
    expectMismatch(
      () =>
        decode(outputs, contextOf(model, identity(64, 64), { output: { names: { detections: 'boxes' } } })),
      /output "boxes" \(role detections\) is not among the model outputs \(output0, output1\)/,
    );
    expectMismatch(
      () => decode(outputs, contextOf(model, identity(64, 64), { output: { names: { masks: 'output1' } } })),
      /role "masks"/,
    );
    expectMismatch(
      () => decode({ output0: outputs.output0 }, contextOf(model, identity(64, 64))),
      /returned 1/,
    );
  });

  it('rejects detections whose channels do not fit the labels and prototypes', async () => {
    const model = tinyYoloSegModel();
    const outputs = await runTiny(model, toInputTensor(yoloScene(), 'NCHW'));
    const context = contextOf(model, identity(64, 64));
    expectMismatch(
      () => decode(outputs, { ...context, labels: ['cat'] }),
      /dims \[1, 8, 5\]; expected \[1, 7, A\]: 4 box values \+ 1 class scores \(one per label\) \+ 2 mask coefficients/,
    );
    const anchorMajor = {
      ...outputs,
      output0: { type: 'float32' as const, dims: [1, 5, 8], data: new Float32Array(40) },
    };
    expectMismatch(() => decode(anchorMajor, context), /anchor-major/);
  });
});

function expectMismatch(run: () => unknown, reason: RegExp): void {
  try {
    run();
  } catch (error) {
    expect(isSegserveError(error) && error.code).toBe('MODEL_OUTPUT_MISMATCH');
    if (isSegserveError(error)) {
      expect(error.details.decoder).toBe('yolo-seg');
      expect(String(error.details.reason)).toMatch(reason);
    }
    return;
  }
  throw new Error('expected MODEL_OUTPUT_MISMATCH');
}

describe('yolo-seg masks against a direct computation', () => {
  /** Deterministic pseudo-random numbers in [-1, 1). */
  function noise(seed: number): () => number {
    let state = seed;
    return () => {
      state = (state * 1103515245 + 12345) % 2147483648;
      return state / 1073741824 - 1;
    };
  }

  it('equals sigmoid(coefficients . protos) sampled at every pixel, at an uneven letterbox', () => {
    const random = noise(7);
    const [nm, ph, pw, anchors] = [3, 10, 10, 2];
    const protos = Float32Array.from({ length: nm * ph * pw }, () => 4 * random());
    // Two anchors: boxes in input pixels of a 40x40 input, classes 'a'/'b', coefficients random.
    const rows = [
      [14, 25],
      [18, 20],
      [20, 12],
      [16, 30],
      [0.9, 0.1],
      [0.05, 0.8],
      [random(), random()],
      [random(), random()],
      [random(), random()],
    ];
    const detections = Float32Array.from(rows.flat());
    const outputs = {
      detections: { type: 'float32' as const, dims: [1, 4 + 2 + nm, anchors], data: detections },
      protos: { type: 'float32' as const, dims: [1, nm, ph, pw], data: protos },
    };
    // Original 57x35 into 40x40: r = 40/57, content 40x25, padding 7 on top.
    const r = 40 / 57;
    const transform = letterbox(57, 35, 40, 40, r, 0, 7);
    const context: DecodeContext = {
      config: configOf({ task: 'instance', decoder: 'yolo-seg', input: { width: 40, height: 40 } }),
      labels: ['a', 'b'],
      transform,
    };
    const result = decode(outputs, context) as InstanceResult;
    expect(result.instances).toHaveLength(2);
    const clamp = (v: number, hi: number) => Math.min(Math.max(v, 0), hi);
    result.instances.forEach((instance, k) => {
      const anchor = k; // scores 0.9 and 0.8: order kept
      const coefficient = (m: number) => rows[6 + m][anchor];
      const combination = (row: number, col: number) => {
        let sum = 0;
        for (let m = 0; m < nm; m++) sum += coefficient(m) * protos[m * ph * pw + row * pw + col];
        return sum;
      };
      const [x1, y1, x2, y2] = [
        clamp((rows[0][anchor] - rows[2][anchor] / 2) / r, 57),
        clamp((rows[1][anchor] - rows[3][anchor] / 2 - 7) / r, 35),
        clamp((rows[0][anchor] + rows[2][anchor] / 2) / r, 57),
        clamp((rows[1][anchor] + rows[3][anchor] / 2 - 7) / r, 35),
      ];
      expect(instance.box[0]).toBeCloseTo(x1, 4);
      expect(instance.box[1]).toBeCloseTo(y1, 4);
      expect(instance.box[2]).toBeCloseTo(x2 - x1, 4);
      expect(instance.box[3]).toBeCloseTo(y2 - y1, 4);
      const expected = new Uint8Array(57 * 35);
      for (let y = 0; y < 35; y++) {
        for (let x = 0; x < 57; x++) {
          if (!(x + 0.5 >= x1 && x + 0.5 < x2 && y + 0.5 >= y1 && y + 0.5 < y2)) continue;
          const gx = clamp((x + 0.5) * r * (pw / 40) - 0.5, pw - 1);
          const gy = clamp(((y + 0.5) * r + 7) * (ph / 40) - 0.5, ph - 1);
          const [cx, cy] = [Math.floor(gx), Math.floor(gy)];
          const [fx, fy] = [gx - cx, gy - cy];
          const [cx1, cy1] = [Math.min(cx + 1, pw - 1), Math.min(cy + 1, ph - 1)];
          const value =
            combination(cy, cx) * (1 - fx) * (1 - fy) +
            combination(cy, cx1) * fx * (1 - fy) +
            combination(cy1, cx) * (1 - fx) * fy +
            combination(cy1, cx1) * fx * fy;
          expected[y * 57 + x] = 1 / (1 + Math.exp(-value)) > 0.5 ? 1 : 0;
        }
      }
      expect(picture(expand(instance.mask), 57)).toBe(picture(expected, 57));
      expect(instance.area).toBe(expected.reduce((a, b) => a + b, 0));
      expect(instance.area).toBeGreaterThan(0);
    });
  });
});
