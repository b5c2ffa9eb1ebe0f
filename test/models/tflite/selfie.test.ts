/**
 * The MediaPipe selfie model imported from the npm package, on real photos: its output against the reference
 * ONNX conversion (tf2onnx) in ../shared, and its person IoU through the product path (repository -> sharp ->
 * worker pool -> sigmoid decoder).
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { intersectionOverUnion, selectClasses } from '../../../src/eval/iou.js';
import { preprocess } from '../../../src/image/index.js';
import type { InputConfig } from '../../../src/models/config.js';
import { ModelRepository, readModelConfig } from '../../../src/models/index.js';
import { type ImportResult, importBundledSelfieModel } from '../../../src/models/tflite/index.js';
import type { SemanticResult } from '../../../src/tasks/types.js';
import { type HumanSample, readHumanManifest, readPersonMask } from '../../helpers/datasets.js';
import { REPOSITORY_DIR } from '../../helpers/paths.js';
import { segment } from '../../helpers/serving.js';
import { describeWithShared, sharedPath } from '../../helpers/shared.js';

const REFERENCE = ['models', 'mediapipe-selfie-segmentation', 'selfie_segmentation.onnx'];
const COMPARED_IMAGES = 24;

let root: string;
let imported: ImportResult;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'segserve-selfie-'));
  imported = await importBundledSelfieModel(root);
});
afterAll(() => rm(root, { recursive: true, force: true }));

describeWithShared('imported selfie model vs the reference ONNX conversion', REFERENCE, () => {
  let ours: ort.InferenceSession;
  let reference: ort.InferenceSession;
  let input: InputConfig;
  let samples: HumanSample[];

  beforeAll(async () => {
    // Preprocessed exactly as the shipped config of the reference model says: stretch to 256, /255, NHWC.
    input = (await readModelConfig(join(REPOSITORY_DIR, 'mediapipe-selfie', 'config.yaml'))).input;
    ours = await ort.InferenceSession.create(imported.onnxPath);
    reference = await ort.InferenceSession.create(sharedPath(...REFERENCE));
    samples = (await readHumanManifest()).slice(0, COMPARED_IMAGES);
    expect(samples).toHaveLength(COMPARED_IMAGES);
  });
  afterAll(async () => {
    await ours?.release();
    await reference?.release();
  });

  it('serves with the same preprocessing as the reference config', async () => {
    const config = await readModelConfig(imported.configPath);
    // shrink_on_load is how the shipped copy serves camera-size photos, not part of what the model was trained on.
    expect({ ...config.input, name: undefined }).toEqual({
      ...input,
      name: undefined,
      shrink_on_load: false,
    });
    expect(config.output).toEqual({
      names: { scores: 'activation_10' },
      layout: 'NHWC',
      activation: 'applied',
    });
  });

  it(`matches it within 1e-4 (max absolute difference) on ${COMPARED_IMAGES} real photos`, async () => {
    let worst = 0;
    for (const sample of samples) {
      const tensor = await preprocess(await readFile(sample.image), input, { maxPixels: 40_000_000 });
      const feed = new ort.Tensor('float32', tensor.data, tensor.dims);
      const a = (await ours.run({ input_1: feed })).activation_10.data as Float32Array;
      const b = (await reference.run({ 'input_1:0': feed })).activation_10.data as Float32Array;
      expect(a.length).toBe(b.length);
      for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
    }
    console.log(
      `imported vs reference selfie model: max |difference| ${worst.toExponential(2)} over ${samples.length} images`,
    );
    expect(worst).toBeLessThanOrEqual(1e-4);
  });
});

describeWithShared('imported selfie model on human-segmentation', ['datasets', 'human-segmentation'], () => {
  let repository: ModelRepository;

  beforeAll(async () => {
    repository = await ModelRepository.open(root);
    const [person] = repository.list();
    expect([person.name, person.state, person.error?.message]).toEqual(['person', 'ready', undefined]);
  });
  afterAll(() => repository?.close());

  it('has a mean person IoU >= 0.85 over the whole set', async () => {
    const samples = await readHumanManifest();
    expect(samples.length).toBeGreaterThanOrEqual(200);
    let sum = 0;
    let next = 0;
    // Two requests in flight keep the worker busy while sharp decodes the next image.
    const work = async () => {
      while (next < samples.length) {
        const sample = samples[next++];
        const seg = await segment(repository, 'person', await readFile(sample.image));
        const result = seg.result as SemanticResult;
        const truth = await readPersonMask(sample.mask, result.width, result.height);
        sum += intersectionOverUnion(
          selectClasses(result.classMap, (c) => c === 1),
          truth,
        );
      }
    };
    await Promise.all([work(), work()]);
    const iou = sum / samples.length;
    console.log(`imported selfie model: mean person IoU ${iou.toFixed(4)} over ${samples.length} images`);
    expect(iou).toBeGreaterThanOrEqual(0.85);
  });
});
