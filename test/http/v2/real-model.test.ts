/**
 * One real model through the v2 protocol: MediaPipe selfie segmentation (input_1:0 [1, 256, 256, 3] NHWC FP32,
 * output activation_10 [1, 256, 256, 1]) with binary tensor data in and out. The answer must be byte for byte
 * what the model's worker pool returns for the same tensor.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ModelRepository } from '../../../src/models/index.js';
import { REPOSITORY_DIR } from '../../helpers/paths.js';
import { describeWithShared } from '../../helpers/shared.js';
import { bytesOf, postBinary, startServer, type TestServer } from './fixtures.js';

const SIZE = 256;

describeWithShared(
  'Open Inference Protocol v2 on MediaPipe selfie (real model)',
  ['models', 'mediapipe-selfie-segmentation', 'selfie_segmentation.onnx'],
  () => {
    let repository: ModelRepository;
    let server: TestServer;

    beforeAll(async () => {
      repository = await ModelRepository.open(REPOSITORY_DIR, { models: ['mediapipe-selfie'] });
      const status = repository.get('mediapipe-selfie');
      expect(status?.state, status?.error?.message).toBe('ready');
      server = await startServer(repository);
    });

    afterAll(async () => {
      await server?.app.close();
      await repository?.close();
    });

    it('answers binary input with binary output of the right shape, equal to the raw inference', async () => {
      // A smooth colour gradient, values in 0..1 as the model reads them.
      const image = new Float32Array(SIZE * SIZE * 3);
      for (let y = 0; y < SIZE; y++)
        for (let x = 0; x < SIZE; x++)
          image.set([x / SIZE, y / SIZE, (x + y) / (2 * SIZE)], (y * SIZE + x) * 3);
      const expected = (
        await repository.resolve('mediapipe-selfie').runtime.run({
          'input_1:0': { type: 'float32', dims: [1, SIZE, SIZE, 3], data: image.slice() },
        })
      ).outputs!.activation_10;

      const answer = await postBinary(
        `${server.url}/v2/models/mediapipe-selfie/infer`,
        {
          inputs: [
            {
              name: 'input_1:0',
              shape: [1, SIZE, SIZE, 3],
              datatype: 'FP32',
              parameters: { binary_data_size: image.byteLength },
            },
          ],
          outputs: [{ name: 'activation_10', parameters: { binary_data: true } }],
        },
        image,
      );
      expect(answer.status, answer.text.slice(0, 300)).toBe(200);
      const headerLength = Number(answer.headers.get('inference-header-content-length'));
      const header = JSON.parse(answer.bytes.subarray(0, headerLength).toString());
      expect(header).toEqual({
        model_name: 'mediapipe-selfie',
        model_version: '1',
        outputs: [
          {
            name: 'activation_10',
            datatype: 'FP32',
            shape: [1, SIZE, SIZE, 1],
            parameters: { binary_data_size: SIZE * SIZE * 4 },
          },
        ],
      });
      const payload = answer.bytes.subarray(headerLength);
      expect(payload.equals(bytesOf(expected.data))).toBe(true);
      const probabilities = new Float32Array(new Uint8Array(payload).buffer);
      expect(probabilities.every((p) => p >= 0 && p <= 1)).toBe(true);
    });
  },
);
