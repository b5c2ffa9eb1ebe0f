/**
 * The whole product path on tiny models with exactly known answers: a repository on disk, compressed image
 * bytes in, sharp pre-processing, the worker pool, every decoder in both layouts, then the encoders (JSON with
 * COCO RLE, COCO results, mask PNG, overlay).
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import type { RawImage } from '../../src/image/types.js';
import { expandCroppedMask } from '../../src/masks/crop.js';
import { decodeRle } from '../../src/masks/rle.js';
import { ModelRepository } from '../../src/models/index.js';
import { toCocoResults, toMaskPng, toOverlay, toSegmentationJson } from '../../src/serving/encode.js';
import type { InstanceResult, SemanticResult } from '../../src/tasks/types.js';
import { segment } from '../helpers/serving.js';
import {
  rcnnScene,
  semanticScene,
  type TinyModel,
  tinyMultilabelModel,
  tinyRcnnModel,
  tinySigmoidModel,
  tinySoftmaxModel,
  tinyYoloSegModel,
  yoloScene,
} from '../helpers/tiny-models.js';

const models: Record<string, TinyModel> = {
  'softmax-nchw': tinySoftmaxModel({ layout: 'NCHW' }),
  'softmax-nhwc': tinySoftmaxModel({ layout: 'NHWC' }),
  'softmax-logits': tinySoftmaxModel({ activation: 'logits' }),
  'sigmoid-1ch': tinySigmoidModel({ channels: 1 }),
  'sigmoid-2ch-nhwc': tinySigmoidModel({ channels: 2, layout: 'NHWC' }),
  'multilabel-nchw': tinyMultilabelModel({ layout: 'NCHW' }),
  'multilabel-nhwc': tinyMultilabelModel({ layout: 'NHWC' }),
  'yolo-nchw': tinyYoloSegModel({ layout: 'NCHW' }),
  'yolo-nhwc': tinyYoloSegModel({ layout: 'NHWC' }),
  'rcnn-pasted': tinyRcnnModel({ masks: 'pasted' }),
  'rcnn-small': tinyRcnnModel({ masks: 'small' }),
};

let dir: string;
let repository: ModelRepository;

async function png(image: RawImage, scale = 1): Promise<Buffer> {
  const pipeline = sharp(Buffer.from(image.data), {
    raw: { width: image.width, height: image.height, channels: image.channels },
  });
  if (scale !== 1) pipeline.resize(image.width * scale, image.height * scale, { kernel: 'nearest' });
  return pipeline.png().toBuffer();
}

/** The class map of semanticScene() scaled by an integer factor: red 1, green 2, blue 3. */
function semanticTruth(scale: number): Uint8Array {
  const size = 16 * scale;
  const map = new Uint8Array(size * size);
  const rects = [
    [2, 2, 8, 8, 1],
    [10, 2, 14, 6, 2],
    [4, 10, 12, 14, 3],
  ];
  for (const [x0, y0, x1, y1, value] of rects) {
    for (let y = y0 * scale; y < y1 * scale; y++)
      for (let x = x0 * scale; x < x1 * scale; x++) map[y * size + x] = value;
  }
  return map;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'segserve-pipeline-'));
  for (const [name, model] of Object.entries(models)) {
    await mkdir(join(dir, name, '1'), { recursive: true });
    await writeFile(join(dir, name, '1', 'model.onnx'), model.bytes);
    const config = { ...(model.config as Record<string, unknown>) };
    if (!config.labels) config.labels = model.labels;
    // Each folder serves under its own name, so one tiny model can appear in several layouts.
    delete config.name;
    await writeFile(join(dir, name, 'config.yaml'), stringify(config));
  }
  repository = await ModelRepository.open(dir);
  for (const status of repository.list())
    expect(status.state, `${status.name}: ${status.error?.message}`).toBe('ready');
});

afterAll(async () => {
  await repository?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('semantic and binary models, both layouts', () => {
  for (const name of [
    'softmax-nchw',
    'softmax-nhwc',
    'softmax-logits',
    'multilabel-nchw',
    'multilabel-nhwc',
  ]) {
    it(`${name}: exact class map at the model size and at twice the size`, async () => {
      for (const scale of [1, 2]) {
        const seg = await segment(repository, name, await png(semanticScene(), scale));
        const result = seg.result as SemanticResult;
        expect(result.task).toBe('semantic');
        expect([result.width, result.height]).toEqual([16 * scale, 16 * scale]);
        expect(Array.from(result.classMap)).toEqual(Array.from(semanticTruth(scale)));
        expect(result.labels).toEqual(['background', 'red', 'green', 'blue']);
        const s2 = scale * scale;
        expect(result.areas).toEqual([
          { classId: 0, label: 'background', area: 172 * s2 },
          { classId: 1, label: 'red', area: 36 * s2 },
          { classId: 2, label: 'green', area: 16 * s2 },
          { classId: 3, label: 'blue', area: 32 * s2 },
        ]);
      }
    });
  }

  for (const name of ['sigmoid-1ch', 'sigmoid-2ch-nhwc']) {
    it(`${name}: exact binary mask`, async () => {
      const seg = await segment(repository, name, await png(semanticScene()));
      const result = seg.result as SemanticResult;
      expect(result.task).toBe('binary');
      const truth = semanticTruth(1).map((v) => (v === 1 ? 1 : 0));
      expect(Array.from(result.classMap)).toEqual(Array.from(truth));
      expect(result.areas.find((a) => a.classId === 1)?.area).toBe(36);
    });
  }

  it('JSON answer: per-class COCO RLE that decodes to the class map, background left out', async () => {
    const seg = await segment(repository, 'softmax-nchw', await png(semanticScene()));
    const json = toSegmentationJson(seg);
    expect(json.task).toBe('semantic');
    expect(json.classes?.map((c) => c.label)).toEqual(['red', 'green', 'blue']);
    const truth = semanticTruth(1);
    for (const c of json.classes ?? []) {
      const mask = decodeRle(c.mask!);
      expect(Array.from(mask.data)).toEqual(Array.from(truth, (v) => (v === c.class_id ? 1 : 0)));
      expect(c.area).toBe(mask.data.reduce((a, b) => a + b, 0));
    }
    for (const stage of [
      'decode',
      'preprocess',
      'queue',
      'infer',
      'postprocess',
      'encode',
      'total',
    ] as const) {
      expect(json.timings[stage]).toBeGreaterThanOrEqual(0);
    }
    expect(json.uncertainty.kind).toBe('pixel-entropy');
  });

  it('mask PNG: palette class ids for semantic models, 0/255 for binary ones', async () => {
    const semantic = await segment(repository, 'softmax-nhwc', await png(semanticScene()));
    const classIds = await sharp(toMaskPng(semantic)).raw().toBuffer({ resolveWithObject: true });
    expect(classIds.info.width).toBe(16);
    // sharp expands palette PNGs to colours; the palette maps each class to its own colour, background black.
    const pixel = (x: number, y: number) =>
      Array.from(
        classIds.data.subarray(
          (y * 16 + x) * classIds.info.channels,
          (y * 16 + x) * classIds.info.channels + 3,
        ),
      );
    expect(pixel(0, 0)).toEqual([0, 0, 0]);
    expect(pixel(3, 3)).not.toEqual(pixel(11, 3));
    const binary = await segment(repository, 'sigmoid-1ch', await png(semanticScene()));
    const grey = await sharp(toMaskPng(binary)).greyscale().raw().toBuffer();
    expect(Array.from(grey)).toEqual(Array.from(semanticTruth(1), (v) => (v === 1 ? 255 : 0)));
  });
});

describe('instance models', () => {
  for (const name of ['yolo-nchw', 'yolo-nhwc']) {
    it(`${name}: the three known instances with exact boxes and masks`, async () => {
      const seg = await segment(repository, name, await png(yoloScene()));
      const result = seg.result as InstanceResult;
      expect(result.instances.map((i) => [i.label, i.score, i.box, i.area])).toEqual([
        ['cat', expect.closeTo(0.9, 5), [8, 8, 24, 32], 512],
        ['dog', expect.closeTo(0.7, 5), [10, 8, 24, 32], 384],
        ['dog', expect.closeTo(0.6, 5), [36, 44, 24, 16], 192],
      ]);
      const expectRect = (index: number, x0: number, y0: number, x1: number, y1: number) => {
        const mask = expandCroppedMask(result.instances[index].mask);
        for (let y = 0; y < 64; y++)
          for (let x = 0; x < 64; x++) {
            const inside = x >= x0 && x < x1 && y >= y0 && y < y1 ? 1 : 0;
            if (mask.data[y * 64 + x] !== inside)
              throw new Error(`instance ${index} pixel (${x}, ${y}) is ${mask.data[y * 64 + x]}`);
          }
      };
      expectRect(0, 16, 8, 32, 40);
      expectRect(1, 10, 16, 34, 32);
      expectRect(2, 36, 44, 48, 60);
    });
  }

  it('yolo at twice the size: boxes and areas scale, masks stay on the bands', async () => {
    const seg = await segment(repository, 'yolo-nchw', await png(yoloScene(), 2));
    const result = seg.result as InstanceResult;
    expect(result.instances.map((i) => i.box)).toEqual([
      [16, 16, 48, 64],
      [20, 16, 48, 64],
      [72, 88, 48, 32],
    ]);
    expect(result.instances.map((i) => i.area)).toEqual([512 * 4, 384 * 4, 192 * 4]);
  });

  it('rcnn with masks already pasted: exact masks', async () => {
    const seg = await segment(repository, 'rcnn-pasted', await png(rcnnScene()));
    const result = seg.result as InstanceResult;
    expect(result.instances.map((i) => [i.label, i.box, i.area])).toEqual([
      ['cat', [8, 8, 16, 16], 256],
      ['dog', [8, 16, 24, 16], 384],
    ]);
  });

  it('rcnn with 28x28-style small masks pasted by segserve: torchvision paste areas', async () => {
    const seg = await segment(repository, 'rcnn-small', await png(rcnnScene()));
    const result = seg.result as InstanceResult;
    expect(result.instances.map((i) => [i.label, i.area])).toEqual([
      ['cat', 69],
      ['dog', 124],
    ]);
  });

  it('JSON, COCO results and mask PNG agree with the instances', async () => {
    const seg = await segment(repository, 'yolo-nchw', await png(yoloScene()), { keepImage: true });
    const result = seg.result as InstanceResult;
    const json = toSegmentationJson(seg);
    expect(json.instances).toHaveLength(3);
    json.instances!.forEach((inst, i) => {
      const decoded = decodeRle(inst.mask!);
      expect(Array.from(decoded.data)).toEqual(Array.from(expandCroppedMask(result.instances[i].mask).data));
      expect(inst.area).toBe(result.instances[i].area);
    });
    const coco = toCocoResults(seg, 42, 'scene.png');
    expect(coco.map((r) => [r.image_id, r.file_name, r.category_id, r.category_name])).toEqual([
      [42, 'scene.png', 1, 'cat'],
      [42, 'scene.png', 2, 'dog'],
      [42, 'scene.png', 2, 'dog'],
    ]);
    expect(coco[0].segmentation).toEqual(json.instances![0].mask);

    // Instance numbers in the mask PNG: where masks overlap, the more confident instance wins.
    const ids = await sharp(toMaskPng(seg)).raw().toBuffer({ resolveWithObject: true });
    const colourAt = (x: number, y: number) =>
      ids.data.subarray((y * 64 + x) * ids.info.channels, (y * 64 + x) * ids.info.channels + 3).join(',');
    expect(colourAt(0, 0)).toBe('0,0,0');
    expect(colourAt(20, 20)).not.toBe(colourAt(12, 20)); // cat (1) over dog (2) in the overlap; dog alone left of it

    const overlay = await sharp(await toOverlay(seg)).metadata();
    expect([overlay.width, overlay.height]).toEqual([64, 64]);
  });
});

describe('bad input through the pipeline', () => {
  it('refuses non-images, empty and corrupt bytes with stable codes and keeps serving', async () => {
    await expect(segment(repository, 'softmax-nchw', new Uint8Array())).rejects.toMatchObject({
      code: 'IMAGE_EMPTY',
    });
    await expect(
      segment(repository, 'softmax-nchw', Buffer.from('hello, not an image')),
    ).rejects.toMatchObject({
      code: 'IMAGE_UNSUPPORTED_FORMAT',
    });
    const good = await png(semanticScene());
    await expect(segment(repository, 'softmax-nchw', good.subarray(0, 40))).rejects.toMatchObject({
      code: 'IMAGE_CORRUPT',
    });
    await expect(segment(repository, 'nope', good)).rejects.toMatchObject({ code: 'MODEL_NOT_FOUND' });
    await expect(segment(repository, 'softmax-nchw', good, { version: 9 })).rejects.toMatchObject({
      code: 'MODEL_VERSION_NOT_FOUND',
    });
    const seg = await segment(repository, 'softmax-nchw', good);
    expect(seg.result.task).toBe('semantic');
  });
});
