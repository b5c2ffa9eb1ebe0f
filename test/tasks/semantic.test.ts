import { describe, expect, it } from 'vitest';
import { isSegserveError } from '../../src/errors.js';
import { getDecoder } from '../../src/tasks/index.js';
import type { SemanticResult } from '../../src/tasks/types.js';
import {
  BLUE,
  GREEN,
  type Layout,
  paintRgb,
  RED,
  semanticScene,
  type TinyModel,
  tinyMultilabelModel,
  tinySigmoidModel,
  tinySoftmaxModel,
  toInputTensor,
} from '../helpers/tiny-models.js';
import { contextOf, identity, letterbox, picture, rectMap, runTiny, stretch } from './support.js';

const GREY: [number, number, number] = [114, 114, 114];

/** The scene's regions with their class values, scaled by `factor` (semanticScene edges are all even). */
function sceneMap(
  size: number,
  factor: number,
  classes: { red: number; green: number; blue: number },
): Uint8Array {
  const s = (v: number) => v * factor;
  return rectMap(size, size, [
    { x0: s(2), y0: s(2), x1: s(8), y1: s(8), value: classes.red },
    { x0: s(10), y0: s(2), x1: s(14), y1: s(6), value: classes.green },
    { x0: s(4), y0: s(10), x1: s(12), y1: s(14), value: classes.blue },
  ]);
}

async function decodeScene(model: TinyModel, transform = identity(16, 16)): Promise<SemanticResult> {
  const outputs = await runTiny(model, toInputTensor(semanticScene(), model.layout));
  const config = model.config as { decoder: 'softmax' | 'sigmoid' | 'sigmoid-multilabel' };
  return getDecoder(config.decoder)(outputs, contextOf(model, transform)) as SemanticResult;
}

function expectMap(result: SemanticResult, expected: Uint8Array): void {
  expect(picture(result.classMap, result.width)).toBe(picture(expected, result.width));
}

const variants: { layout: Layout; activation: 'applied' | 'logits' }[] = [
  { layout: 'NCHW', activation: 'applied' },
  { layout: 'NHWC', activation: 'applied' },
  { layout: 'NCHW', activation: 'logits' },
  { layout: 'NHWC', activation: 'logits' },
];

describe('softmax decoder', () => {
  const rgb = { red: 1, green: 2, blue: 3 };

  for (const variant of variants) {
    it(`gives the exact class map at identity scale (${variant.layout}, ${variant.activation})`, async () => {
      const result = await decodeScene(tinySoftmaxModel(variant));
      expect(result.task).toBe('semantic');
      expect([result.width, result.height]).toEqual([16, 16]);
      expect(result.labels).toEqual(['background', 'red', 'green', 'blue']);
      expectMap(result, sceneMap(16, 1, rgb));
      expect(result.areas).toEqual([
        { classId: 0, label: 'background', area: 172 },
        { classId: 1, label: 'red', area: 36 },
        { classId: 2, label: 'green', area: 16 },
        { classId: 3, label: 'blue', area: 32 },
      ]);
    });

    it(`maps back to an original twice the input size (stretch, ${variant.layout}, ${variant.activation})`, async () => {
      const result = await decodeScene(tinySoftmaxModel(variant), stretch(32, 32, 16, 16));
      expect([result.width, result.height]).toEqual([32, 32]);
      expectMap(result, sceneMap(32, 2, rgb));
      expect(result.areas.map((a) => a.area)).toEqual([172 * 4, 36 * 4, 16 * 4, 32 * 4]);
    });
  }

  it('maps back to an original half the input size', async () => {
    const result = await decodeScene(tinySoftmaxModel(), stretch(8, 8, 16, 16));
    expectMap(result, sceneMap(8, 0.5, rgb));
  });

  it('undoes a letterbox: only the content rows reach the original image', async () => {
    const model = tinySoftmaxModel();
    // Original 32x16 at r = 0.5 is 16x8 of content in rows 4..11 of the 16x16 input, grey padding above and below.
    const input = paintRgb(
      16,
      16,
      [
        { x0: 0, y0: 4, x1: 16, y1: 12, rgb: [0, 0, 0] },
        { x0: 2, y0: 5, x1: 8, y1: 9, rgb: RED },
        { x0: 10, y0: 6, x1: 14, y1: 10, rgb: GREEN },
      ],
      GREY,
    );
    const outputs = await runTiny(model, toInputTensor(input, 'NCHW'));
    const result = getDecoder('softmax')(
      outputs,
      contextOf(model, letterbox(32, 16, 16, 16, 0.5, 0, 4)),
    ) as SemanticResult;
    expect([result.width, result.height]).toEqual([32, 16]);
    expectMap(
      result,
      rectMap(32, 16, [
        { x0: 4, y0: 2, x1: 16, y1: 10, value: 1 },
        { x0: 20, y0: 4, x1: 28, y1: 12, value: 2 },
      ]),
    );
  });

  it('measures entropy over the content area only, not the letterbox padding', async () => {
    const model = tinySoftmaxModel();
    // Black content (confident background), grey padding (about 0.36 for background: very unsure).
    const input = paintRgb(16, 16, [{ x0: 0, y0: 4, x1: 16, y1: 12, rgb: [0, 0, 0] }], GREY);
    const outputs = await runTiny(model, toInputTensor(input, 'NCHW'));
    const boxed = getDecoder('softmax')(
      outputs,
      contextOf(model, letterbox(32, 16, 16, 16, 0.5, 0, 4)),
    ) as SemanticResult;
    const whole = getDecoder('softmax')(outputs, contextOf(model, identity(16, 16))) as SemanticResult;
    // Black: logits [5, 0, 0, 0].
    const z = Math.exp(5) + 3;
    const p = [Math.exp(5) / z, 1 / z, 1 / z, 1 / z];
    const blackEntropy = -p.reduce((sum, q) => sum + q * Math.log(q), 0) / Math.log(4);
    expect(boxed.uncertainty.kind).toBe('pixel-entropy');
    expect(boxed.uncertainty.meanEntropy).toBeCloseTo(blackEntropy, 5);
    expect(boxed.uncertainty.maxEntropy).toBeCloseTo(blackEntropy, 5);
    expect(boxed.uncertainty.uncertainShare).toBe(0);
    expect(whole.uncertainty.meanEntropy).toBeGreaterThan(boxed.uncertainty.meanEntropy);
    expect(whole.uncertainty.uncertainShare).toBeCloseTo(0.5, 6);
  });

  it('gives the same uncertainty from logits as from applied softmax', async () => {
    const applied = await decodeScene(tinySoftmaxModel());
    const logits = await decodeScene(tinySoftmaxModel({ activation: 'logits' }));
    // Applied probabilities go through the tabulated -p ln p (error below 2.2e-5 nats per term).
    expect(logits.uncertainty.meanEntropy).toBeCloseTo(applied.uncertainty.meanEntropy, 4);
    expect(logits.uncertainty.maxEntropy).toBeCloseTo(applied.uncertainty.maxEntropy, 4);
    expect(logits.uncertainty.uncertainShare).toBe(applied.uncertainty.uncertainShare);
  });
});

describe('sigmoid decoder (binary)', () => {
  for (const channels of [1, 2] as const) {
    for (const variant of variants) {
      it(`finds the red rect with ${channels} channel(s) (${variant.layout}, ${variant.activation})`, async () => {
        const result = await decodeScene(tinySigmoidModel({ ...variant, channels }));
        expect(result.task).toBe('binary');
        expect(result.labels).toEqual(['background', 'red']);
        expectMap(result, sceneMap(16, 1, { red: 1, green: 0, blue: 0 }));
        expect(result.areas).toEqual([
          { classId: 0, label: 'background', area: 220 },
          { classId: 1, label: 'red', area: 36 },
        ]);
      });
    }
  }

  it('maps back through a 2x stretch', async () => {
    const result = await decodeScene(tinySigmoidModel({ channels: 2 }), stretch(32, 32, 16, 16));
    expectMap(result, sceneMap(32, 2, { red: 1, green: 0, blue: 0 }));
  });

  it('uses the mask threshold', async () => {
    const model = tinySigmoidModel();
    const outputs = await runTiny(model, toInputTensor(semanticScene(), 'NCHW'));
    // Every pixel is above probability sigmoid(-10) > 0: with threshold 0 the whole image is foreground.
    const all = getDecoder('sigmoid')(
      outputs,
      contextOf(model, identity(16, 16), { thresholds: { mask: 0 } }),
    );
    expect((all as SemanticResult).areas).toEqual([{ classId: 1, label: 'red', area: 256 }]);
  });

  it('names the classes background/foreground when no labels are given, and background/<label> for one', async () => {
    const model = tinySigmoidModel();
    const outputs = await runTiny(model, toInputTensor(semanticScene(), 'NCHW'));
    const context = contextOf(model, identity(16, 16));
    expect((getDecoder('sigmoid')(outputs, { ...context, labels: [] }) as SemanticResult).labels).toEqual([
      'background',
      'foreground',
    ]);
    expect(
      (getDecoder('sigmoid')(outputs, { ...context, labels: ['person'] }) as SemanticResult).labels,
    ).toEqual(['background', 'person']);
  });

  it('computes the binary entropy of each pixel', async () => {
    const model = tinySigmoidModel();
    const outputs = await runTiny(model, toInputTensor(paintRgb(16, 16, []), 'NCHW'));
    const result = getDecoder('sigmoid')(outputs, contextOf(model, identity(16, 16))) as SemanticResult;
    const p = 1 / (1 + Math.exp(5));
    const entropy = -(p * Math.log(p) + (1 - p) * Math.log(1 - p)) / Math.LN2;
    expect(result.uncertainty.meanEntropy).toBeCloseTo(entropy, 5);
    expect(result.uncertainty.uncertainShare).toBe(0);
  });
});

describe('sigmoid-multilabel decoder', () => {
  for (const variant of variants) {
    it(`gives the exact class map (${variant.layout}, ${variant.activation})`, async () => {
      const result = await decodeScene(tinyMultilabelModel(variant));
      expect(result.labels).toEqual(['background', 'red', 'green', 'blue']);
      expectMap(result, sceneMap(16, 1, { red: 1, green: 2, blue: 3 }));
      expect(result.areas.map((a) => [a.label, a.area])).toEqual([
        ['background', 172],
        ['red', 36],
        ['green', 16],
        ['blue', 32],
      ]);
    });
  }

  it('picks the highest class above the threshold, else background', async () => {
    const model = tinyMultilabelModel();
    const image = paintRgb(16, 16, [
      { x0: 0, y0: 0, x1: 4, y1: 16, rgb: [255, 204, 0] }, // (1, 0.8, 0): red and green above 0.5, red higher
      { x0: 4, y0: 0, x1: 8, y1: 16, rgb: [51, 230, 153] }, // (0.2, 0.9, 0.6): green
      { x0: 8, y0: 0, x1: 12, y1: 16, rgb: [102, 77, 0] }, // (0.4, 0.3, 0): red highest but below 0.5
      { x0: 12, y0: 0, x1: 16, y1: 16, rgb: BLUE },
    ]);
    const outputs = await runTiny(model, toInputTensor(image, 'NCHW'));
    const result = getDecoder('sigmoid-multilabel')(
      outputs,
      contextOf(model, identity(16, 16)),
    ) as SemanticResult;
    expectMap(
      result,
      rectMap(16, 16, [
        { x0: 0, y0: 0, x1: 4, y1: 16, value: 1 },
        { x0: 4, y0: 0, x1: 8, y1: 16, value: 2 },
        { x0: 12, y0: 0, x1: 16, y1: 16, value: 3 },
      ]),
    );
  });

  it('averages the Bernoulli entropies of the classes', async () => {
    const model = tinyMultilabelModel();
    // Red: logits [5, -5, -5], three equally sure answers.
    const outputs = await runTiny(model, toInputTensor(paintRgb(16, 16, [], RED), 'NCHW'));
    const result = getDecoder('sigmoid-multilabel')(
      outputs,
      contextOf(model, identity(16, 16)),
    ) as SemanticResult;
    const p = 1 / (1 + Math.exp(5));
    const entropy = -(p * Math.log(p) + (1 - p) * Math.log(1 - p)) / Math.LN2;
    expect(result.uncertainty.meanEntropy).toBeCloseTo(entropy, 5);
    expect(result.uncertainty.maxEntropy).toBeCloseTo(entropy, 5);
    expect(result.uncertainty.uncertainShare).toBe(0);
  });
});

describe('dense output validation', () => {
  async function expectMismatch(run: () => unknown, reason: RegExp): Promise<void> {
    try {
      run();
    } catch (error) {
      expect(isSegserveError(error) && error.code).toBe('MODEL_OUTPUT_MISMATCH');
      if (isSegserveError(error)) expect(String(error.details.reason)).toMatch(reason);
      return;
    }
    throw new Error('expected MODEL_OUTPUT_MISMATCH');
  }

  it('rejects a channel count that does not match the labels', async () => {
    const model = tinySoftmaxModel();
    const outputs = await runTiny(model, toInputTensor(semanticScene(), 'NCHW'));
    const context = contextOf(model, identity(16, 16));
    await expectMismatch(
      () => getDecoder('softmax')(outputs, { ...context, labels: ['a', 'b', 'c'] }),
      /4 channels, but there are 3 labels/,
    );
    await expectMismatch(
      () => getDecoder('sigmoid-multilabel')(outputs, { ...context, labels: ['a', 'b', 'c'] }),
      /4 channels, but there are 3 labels/,
    );
  });

  it('rejects a layout that does not match the model (NHWC output read as NCHW)', async () => {
    const model = tinySoftmaxModel({ layout: 'NHWC' });
    const outputs = await runTiny(model, toInputTensor(semanticScene(), 'NHWC'));
    await expectMismatch(
      () =>
        getDecoder('softmax')(outputs, contextOf(model, identity(16, 16), { output: { layout: 'NCHW' } })),
      /16 channels/,
    );
  });

  it('rejects a binary map with more than 2 channels and maps of the wrong rank', async () => {
    const model = tinySoftmaxModel();
    const outputs = await runTiny(model, toInputTensor(semanticScene(), 'NCHW'));
    const context = contextOf(tinySigmoidModel(), identity(16, 16));
    await expectMismatch(() => getDecoder('sigmoid')(outputs, context), /1 channel .* not 4/);
    const flat = { scores: { type: 'float32' as const, dims: [16, 16], data: new Float32Array(256) } };
    await expectMismatch(() => getDecoder('sigmoid')(flat, context), /dims \[16, 16\]/);
    const batched = {
      scores: { type: 'float32' as const, dims: [2, 1, 16, 16], data: new Float32Array(512) },
    };
    await expectMismatch(() => getDecoder('sigmoid')(batched, context), /dims \[2, 1, 16, 16\]/);
  });
});
