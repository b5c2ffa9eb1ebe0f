/**
 * Sanity checks of the decoders on real pretrained models from ../shared (skipped with a message when missing):
 * YOLOv8n-seg on a COCO image, MediaPipe selfie segmentation on a person photo. Pre-processing is done here with
 * sharp (stretch to the model size, RGB / 255), so only the decoders are under test.
 */
import { readFile } from 'node:fs/promises';
import * as ort from 'onnxruntime-node';
import sharp from 'sharp';
import { expect, it } from 'vitest';
import { getDecoder } from '../../src/tasks/index.js';
import type { InstanceResult, SemanticResult } from '../../src/tasks/types.js';
import { describeWithShared, sharedPath } from '../helpers/shared.js';
import { toInputTensor } from '../helpers/tiny-models.js';
import { configOf, stretch } from './support.js';

async function stretched(file: string, size: number) {
  const { width, height } = await sharp(file).metadata();
  const { data } = await sharp(file)
    .removeAlpha()
    .toColourspace('srgb')
    .resize(size, size, { fit: 'fill' })
    .raw()
    .toBuffer({
      resolveWithObject: true,
    });
  return {
    width: width ?? 0,
    height: height ?? 0,
    image: { width: size, height: size, channels: 3 as const, data },
  };
}

async function run(model: string, feeds: Record<string, ort.Tensor>) {
  const session = await ort.InferenceSession.create(model, { logSeverityLevel: 3 });
  try {
    const results = await session.run(feeds);
    return Object.fromEntries(
      session.outputNames.map((name) => [
        name,
        { type: 'float32' as const, dims: [...results[name].dims], data: results[name].data as Float32Array },
      ]),
    );
  } finally {
    await session.release();
  }
}

describeWithShared('yolo-seg decoder on yolov8n-seg (real model)', ['models', 'yolov8n-seg-coco'], () => {
  describeWithShared('on a COCO val2017 image', ['datasets', 'coco-val2017-mini'], () => {
    it('finds the person and the bowls of 000000397133.jpg', async () => {
      const file = sharedPath('datasets/coco-val2017-mini/images/000000397133.jpg');
      const { width, height, image } = await stretched(file, 320);
      const outputs = await run(sharedPath('models/yolov8n-seg-coco/yolov8n-seg_fp32_dequantized.onnx'), {
        images: new ort.Tensor('float32', toInputTensor(image, 'NCHW'), [1, 3, 320, 320]),
      });
      const labels = (await readFile(sharedPath('models/yolov8n-seg-coco/labels.txt'), 'utf8'))
        .trim()
        .split('\n');
      const config = configOf({ task: 'instance', decoder: 'yolo-seg', input: { width: 320, height: 320 } });
      const result = getDecoder('yolo-seg')(outputs, {
        config,
        labels,
        transform: stretch(width, height, 320, 320),
      });
      const { instances } = result as InstanceResult;
      const confident = instances.filter((i) => i.score >= 0.5).map((i) => i.label);
      expect(confident).toContain('person');
      expect(confident).toContain('bowl');
      for (const instance of instances) {
        expect(instance.mask.width).toBe(width);
        expect(instance.area).toBeGreaterThan(0);
        expect(instance.area).toBeLessThanOrEqual(instance.mask.cropWidth * instance.mask.cropHeight);
      }
    });
  });
});

describeWithShared(
  'sigmoid decoder on MediaPipe selfie segmentation (real model)',
  ['models', 'mediapipe-selfie-segmentation'],
  () => {
    describeWithShared('on a human-segmentation image', ['datasets', 'human-segmentation'], () => {
      it('segments the person of human-segmentation image 1 close to its mask', async () => {
        const { width, height, image } = await stretched(
          sharedPath('datasets/human-segmentation/images/1.jpg'),
          256,
        );
        const outputs = await run(
          sharedPath('models/mediapipe-selfie-segmentation/selfie_segmentation.onnx'),
          {
            'input_1:0': new ort.Tensor('float32', toInputTensor(image, 'NHWC'), [1, 256, 256, 3]),
          },
        );
        const config = configOf({
          task: 'binary',
          decoder: 'sigmoid',
          input: { width: 256, height: 256, layout: 'NHWC' },
          output: { layout: 'NHWC' },
        });
        const context = {
          config,
          labels: ['background', 'person'],
          transform: stretch(width, height, 256, 256),
        };
        const result = getDecoder('sigmoid')(outputs, context) as SemanticResult;
        const person = result.areas.find((a) => a.label === 'person')?.area ?? 0;
        const share = person / (width * height);
        expect(share).toBeGreaterThan(0.05);
        expect(share).toBeLessThan(0.95);
        const truth = await sharp(sharedPath('datasets/human-segmentation/masks/1.png'))
          .greyscale()
          .resize(width, height, { fit: 'fill', kernel: 'nearest' })
          .raw()
          .toBuffer();
        let both = 0;
        let either = 0;
        for (let i = 0; i < truth.length; i++) {
          const predicted = result.classMap[i] === 1;
          const actual = truth[i] > 127;
          if (predicted && actual) both++;
          if (predicted || actual) either++;
        }
        expect(both / either).toBeGreaterThan(0.7);
        expect(result.uncertainty.meanEntropy).toBeGreaterThan(0);
        expect(result.uncertainty.meanEntropy).toBeLessThan(0.5);
      });
    });
  },
);
