/**
 * A deliberately slow image model for overload tests: the tiny binary "red" detector (see tinySigmoidModel) with
 * a side chain of `steps` [1024 x 512] x [512 x 512] MatMuls whose result is multiplied by 0 and added to the
 * logits. The chain reads the input (through its mean), so ONNX Runtime cannot fold it away at load time, and
 * the answer stays exactly that of the fast model. About 5 ms per step on one thread here.
 */
import { buildModel, type NodeSpec } from '../helpers/onnx-builder.js';
import type { ModelFolder } from './helpers.js';

const ROWS = 1024;
const SIZE = 512;

export function slowBinaryModel(options: { steps: number; maxQueue: number }): ModelFolder {
  const { steps } = options;
  const chain: NodeSpec[] = Array.from({ length: steps }, (_, i) => ({
    op: 'MatMul',
    inputs: [`h${i}`, 'w'],
    outputs: [`h${i + 1}`],
  }));
  const bytes = buildModel({
    inputs: [{ name: 'image', dims: [1, 3, 16, 16] }],
    outputs: [{ name: 'scores', dims: [1, 1, 16, 16] }],
    initializers: [
      { name: 'cw', dims: [1, 3, 1, 1], values: [10, -5, -5] },
      { name: 'cb', dims: [1], values: [-5] },
      { name: 'zero', dims: [1], values: [0] },
      { name: 'base', dims: [ROWS, SIZE], values: new Float32Array(ROWS * SIZE).fill(1) },
      { name: 'w', dims: [SIZE, SIZE], values: new Float32Array(SIZE * SIZE).fill(1 / SIZE) },
    ],
    nodes: [
      {
        op: 'Conv',
        inputs: ['image', 'cw', 'cb'],
        outputs: ['logits'],
        attributes: { kernel_shape: [1, 1] },
      },
      {
        op: 'ReduceMean',
        inputs: ['image'],
        outputs: ['mean'],
        attributes: { axes: [1, 2, 3], keepdims: 0 },
      },
      { op: 'Mul', inputs: ['mean', 'zero'], outputs: ['nothing'] },
      { op: 'Add', inputs: ['base', 'nothing'], outputs: ['h0'] },
      ...chain,
      { op: 'ReduceMean', inputs: [`h${steps}`], outputs: ['chain_mean'], attributes: { keepdims: 0 } },
      { op: 'Mul', inputs: ['chain_mean', 'zero'], outputs: ['chain_nothing'] },
      { op: 'Add', inputs: ['logits', 'chain_nothing'], outputs: ['slow_logits'] },
      { op: 'Sigmoid', inputs: ['slow_logits'], outputs: ['scores'] },
    ],
  });
  return {
    bytes,
    config: {
      task: 'binary',
      decoder: 'sigmoid',
      input: { name: 'image', width: 16, height: 16, resize: 'stretch' },
      labels: ['background', 'red'],
      instances: 1,
      threads: { intra_op: 1, inter_op: 1 },
      max_queue: options.maxQueue,
    },
  };
}
