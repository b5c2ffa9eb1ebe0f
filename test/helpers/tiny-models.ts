/**
 * Tiny ONNX models, one per decoder, whose outputs are known exactly, plus the scenes (8-bit RGB images at the
 * model's input size) they are meant to see. Each builder's comment states the result its decoder must give for
 * its scene at identity scale (original image = model input). Every model reads RGB scaled by 1/255 (the config
 * defaults), in NCHW or NHWC; NHWC models transpose in (and, for dense outputs, out) so both layouts give the
 * same numbers. `config` is a config.yaml document that `parseModelConfig` accepts.
 *
 * Scenes use pure colours on black and keep at least one black model cell between regions, so bilinear
 * resampling at 2x in either direction keeps every region's pixels on the same side of each threshold.
 */
import type { RawImage } from '../../src/image/types.js';
import type { GraphSpec, NodeSpec, ValueSpec } from './onnx-builder.js';
import { buildModel } from './onnx-builder.js';

export type Layout = 'NCHW' | 'NHWC';
export type Activation = 'applied' | 'logits';

export interface TinyModel {
  bytes: Uint8Array;
  inputName: string;
  layout: Layout;
  width: number;
  height: number;
  /** A config.yaml document for parseModelConfig. */
  config: unknown;
  labels: string[];
}

/** A filled rectangle [x0, x1) x [y0, y1) of one colour. */
export interface PaintedRect {
  x0: number;
  y0: number;
  x1: number;
  y1: number;
  rgb: [number, number, number];
}

export const RED: [number, number, number] = [255, 0, 0];
export const GREEN: [number, number, number] = [0, 255, 0];
export const BLUE: [number, number, number] = [0, 0, 255];
export const YELLOW: [number, number, number] = [255, 255, 0];

/** An RGB image filled with `background`, rectangles painted in order (later ones on top). */
export function paintRgb(
  width: number,
  height: number,
  rects: readonly PaintedRect[],
  background: [number, number, number] = [0, 0, 0],
): RawImage {
  const data = new Uint8Array(width * height * 3);
  for (let i = 0; i < width * height; i++) data.set(background, i * 3);
  for (const r of rects) {
    for (let y = r.y0; y < r.y1; y++) for (let x = r.x0; x < r.x1; x++) data.set(r.rgb, (y * width + x) * 3);
  }
  return { width, height, channels: 3, data };
}

/** The float32 input tensor these models expect for an RGB image: value / 255 in the given layout. */
export function toInputTensor(image: RawImage, layout: Layout): Float32Array {
  const { width, height, data } = image;
  const plane = width * height;
  const out = new Float32Array(plane * 3);
  for (let i = 0; i < plane; i++) {
    for (let c = 0; c < 3; c++) {
      const value = data[i * 3 + c] / 255;
      if (layout === 'NHWC') out[i * 3 + c] = value;
      else out[c * plane + i] = value;
    }
  }
  return out;
}

/** The graph input and the nodes that turn it into an NCHW tensor named `x`. */
function imageInput(
  name: string,
  layout: Layout,
  width: number,
  height: number,
): { input: ValueSpec; nodes: NodeSpec[] } {
  if (layout === 'NHWC') {
    return {
      input: { name, dims: [1, height, width, 3] },
      nodes: [{ op: 'Transpose', inputs: [name], outputs: ['x'], attributes: { perm: [0, 3, 1, 2] } }],
    };
  }
  return {
    input: { name, dims: [1, 3, height, width] },
    nodes: [{ op: 'Identity', inputs: [name], outputs: ['x'] }],
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Semantic and binary models: 16x16 input, a 1x1 convolution over the colour channels.

const SEMANTIC_SIZE = 16;

/**
 * The scene of the semantic models (16x16, black): red x[2,8) y[2,8) (36 px), green x[10,14) y[2,6) (16 px),
 * blue x[4,12) y[10,14) (32 px). All edges are even, so halving or doubling the image keeps them on pixel edges.
 */
export function semanticScene(): RawImage {
  return paintRgb(SEMANTIC_SIZE, SEMANTIC_SIZE, [
    { x0: 2, y0: 2, x1: 8, y1: 8, rgb: RED },
    { x0: 10, y0: 2, x1: 14, y1: 6, rgb: GREEN },
    { x0: 4, y0: 10, x1: 12, y1: 14, rgb: BLUE },
  ]);
}

interface DenseOptions {
  layout?: Layout;
  activation?: Activation;
}

/**
 * A dense model: conv 1x1 with `weights` [C][3] and `bias`, then the activation op (unless logits are asked for),
 * output `scores` in the requested layout.
 */
function denseModel(
  weights: number[][],
  bias: number[],
  activationOp: NodeSpec | undefined,
  layout: Layout,
): Uint8Array {
  const channels = weights.length;
  const { input, nodes } = imageInput('image', layout, SEMANTIC_SIZE, SEMANTIC_SIZE);
  nodes.push({
    op: 'Conv',
    inputs: ['x', 'w', 'b'],
    outputs: ['logits'],
    attributes: { kernel_shape: [1, 1] },
  });
  let last = 'logits';
  if (activationOp) {
    nodes.push({ ...activationOp, inputs: [last], outputs: ['activated'] });
    last = 'activated';
  }
  nodes.push(
    layout === 'NHWC'
      ? { op: 'Transpose', inputs: [last], outputs: ['scores'], attributes: { perm: [0, 2, 3, 1] } }
      : { op: 'Identity', inputs: [last], outputs: ['scores'] },
  );
  const outputDims =
    layout === 'NHWC'
      ? [1, SEMANTIC_SIZE, SEMANTIC_SIZE, channels]
      : [1, channels, SEMANTIC_SIZE, SEMANTIC_SIZE];
  const spec: GraphSpec = {
    inputs: [input],
    outputs: [{ name: 'scores', dims: outputDims }],
    nodes,
    initializers: [
      { name: 'w', dims: [channels, 3, 1, 1], values: weights.flat() },
      { name: 'b', dims: [channels], values: bias },
    ],
  };
  return buildModel(spec);
}

function denseConfig(
  name: string,
  task: 'semantic' | 'binary',
  decoder: 'softmax' | 'sigmoid' | 'sigmoid-multilabel',
  layout: Layout,
  activation: Activation,
  labels: string[],
): unknown {
  return {
    name,
    task,
    decoder,
    input: { name: 'image', width: SEMANTIC_SIZE, height: SEMANTIC_SIZE, resize: 'stretch', layout },
    output: { layout, activation },
    thresholds: { mask: 0.5 },
    labels,
  };
}

/**
 * Softmax over 4 classes ['background', 'red', 'green', 'blue']: logits [5, 10R, 10G, 10B] (colours in 0..1),
 * softmax applied in the graph unless `activation: 'logits'`. Pure red -> 1, green -> 2, blue -> 3,
 * black and grey (letterbox 114) -> 0.
 * On semanticScene(): class map = 1 on the red rect, 2 on the green, 3 on the blue, 0 elsewhere;
 * areas background 172, red 36, green 16, blue 32.
 */
export function tinySoftmaxModel(options: DenseOptions = {}): TinyModel {
  const layout = options.layout ?? 'NCHW';
  const activation = options.activation ?? 'applied';
  const labels = ['background', 'red', 'green', 'blue'];
  const weights = [
    [0, 0, 0],
    [10, 0, 0],
    [0, 10, 0],
    [0, 0, 10],
  ];
  const softmax: NodeSpec | undefined =
    activation === 'applied'
      ? { op: 'Softmax', inputs: [], outputs: [], attributes: { axis: 1 } }
      : undefined;
  return {
    bytes: denseModel(weights, [5, 0, 0, 0], softmax, layout),
    inputName: 'image',
    layout,
    width: SEMANTIC_SIZE,
    height: SEMANTIC_SIZE,
    config: denseConfig('tiny-softmax', 'semantic', 'softmax', layout, activation, labels),
    labels,
  };
}

/**
 * tinySoftmaxModel's graph with other per-class colour weights (rows background, red, green, blue; softmax
 * applied, NCHW), for versions of one model that score differently on the same data: e.g. a green weight of 0
 * never finds green.
 */
export function tinySoftmaxVariant(weights: number[][], bias = [5, 0, 0, 0]): Uint8Array {
  return denseModel(
    weights,
    bias,
    { op: 'Softmax', inputs: [], outputs: [], attributes: { axis: 1 } },
    'NCHW',
  );
}

/** tinySoftmaxModel's colour weights with the rows of `classes` zeroed: a variant blind to those classes. */
export function softmaxWeightsBlindTo(...classes: number[]): number[][] {
  const seesAll = [
    [0, 0, 0],
    [10, 0, 0],
    [0, 10, 0],
    [0, 0, 10],
  ];
  return seesAll.map((row, c) => (classes.includes(c) ? [0, 0, 0] : row));
}

/**
 * A model that loads but fails in `session.run` unless the input is 1 or 2 pixels wide: it adds a [1, 3, 1, 2]
 * constant to the image. Uploaded with a config whose input is wider, its warm-up inference fails.
 */
export function failsAtWidthModel(): Uint8Array {
  return buildModel({
    inputs: [{ name: 'image', dims: [1, 3, 'height', 'width'] }],
    outputs: [{ name: 'scores', dims: [1, 3, 'height', 2] }],
    initializers: [{ name: 'b', dims: [1, 3, 1, 2], values: [0, 0, 0, 0, 0, 0] }],
    nodes: [{ op: 'Add', inputs: ['image', 'b'], outputs: ['scores'] }],
  });
}

/**
 * Binary "red" detector, labels ['background', 'red'], foreground logit 10R - 5G - 5B - 5 (red 5, black and grey
 * -5, green or blue -10). `channels: 1` outputs sigmoid(logit) (or the logit); `channels: 2` outputs the softmax
 * (or logits) of [0, logit] as [background, foreground], the same foreground probability.
 * On semanticScene(): class map = 1 exactly on the red rect (36 px), 0 elsewhere (220 px).
 */
export function tinySigmoidModel(options: DenseOptions & { channels?: 1 | 2 } = {}): TinyModel {
  const layout = options.layout ?? 'NCHW';
  const activation = options.activation ?? 'applied';
  const channels = options.channels ?? 1;
  const labels = ['background', 'red'];
  const foreground = [10, -5, -5];
  const weights = channels === 1 ? [foreground] : [[0, 0, 0], foreground];
  const bias = channels === 1 ? [-5] : [0, -5];
  const activationOp: NodeSpec | undefined =
    activation === 'logits'
      ? undefined
      : channels === 1
        ? { op: 'Sigmoid', inputs: [], outputs: [] }
        : { op: 'Softmax', inputs: [], outputs: [], attributes: { axis: 1 } };
  return {
    bytes: denseModel(weights, bias, activationOp, layout),
    inputName: 'image',
    layout,
    width: SEMANTIC_SIZE,
    height: SEMANTIC_SIZE,
    config: denseConfig(`tiny-sigmoid-${channels}`, 'binary', 'sigmoid', layout, activation, labels),
    labels,
  };
}

/**
 * Three independent sigmoids ['red', 'green', 'blue'] with logits 10C - 5 per channel C (colours in 0..1).
 * A channel wins when it is the highest and above 0.5 (C > 0.5); otherwise the pixel is background. Examples:
 * (1, 0.8, 0) -> red (1); (0.2, 0.9, 0.6) -> green (2); (0.4, 0.3, 0) -> background (0), although red is highest.
 * On semanticScene(): the same class map as tinySoftmaxModel, with labels ['background', 'red', 'green', 'blue'].
 */
export function tinyMultilabelModel(options: DenseOptions = {}): TinyModel {
  const layout = options.layout ?? 'NCHW';
  const activation = options.activation ?? 'applied';
  const labels = ['red', 'green', 'blue'];
  const weights = [
    [10, 0, 0],
    [0, 10, 0],
    [0, 0, 10],
  ];
  const sigmoid: NodeSpec | undefined =
    activation === 'applied' ? { op: 'Sigmoid', inputs: [], outputs: [] } : undefined;
  return {
    bytes: denseModel(weights, [-5, -5, -5], sigmoid, layout),
    inputName: 'image',
    layout,
    width: SEMANTIC_SIZE,
    height: SEMANTIC_SIZE,
    config: denseConfig('tiny-multilabel', 'semantic', 'sigmoid-multilabel', layout, activation, labels),
    labels,
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Classification models: 16x16 input, global average pooling of the colour channels, one score per class.

/** Options of the tiny classifiers: output [1, C, 1, 1] as pooled, or flattened to [1, C]. */
interface ClassifierOptions {
  shape?: '4d' | '2d';
}

/**
 * A classifier: GlobalAveragePool of the image ([1, 3, 1, 1]: the mean of each colour, in 0..1), then a 1x1
 * convolution with `weights` [C][3] and `bias`, then `Flatten` to [1, C] when asked.
 */
function classifierModel(weights: number[][], bias: number[], shape: '4d' | '2d'): Uint8Array {
  const classes = weights.length;
  const { input, nodes } = imageInput('image', 'NCHW', SEMANTIC_SIZE, SEMANTIC_SIZE);
  nodes.push(
    { op: 'GlobalAveragePool', inputs: ['x'], outputs: ['mean'] },
    {
      op: 'Conv',
      inputs: ['mean', 'w', 'b'],
      outputs: [shape === '2d' ? 'pooled' : 'scores'],
      attributes: { kernel_shape: [1, 1] },
    },
  );
  if (shape === '2d')
    nodes.push({ op: 'Flatten', inputs: ['pooled'], outputs: ['scores'], attributes: { axis: 1 } });
  return buildModel({
    inputs: [input],
    outputs: [{ name: 'scores', dims: shape === '2d' ? [1, classes] : [1, classes, 1, 1] }],
    nodes,
    initializers: [
      { name: 'w', dims: [classes, 3, 1, 1], values: weights.flat() },
      { name: 'b', dims: [classes], values: bias },
    ],
  });
}

function classifierConfig(name: string, activation: Activation, labels: string[]): unknown {
  return {
    name,
    task: 'classification',
    decoder: 'softmax-classifier',
    input: { name: 'image', width: SEMANTIC_SIZE, height: SEMANTIC_SIZE, resize: 'stretch' },
    output: { activation },
    labels,
  };
}

/**
 * "Is it red?": labels ['red', 'other'], probabilities applied by the graph: red = the mean red of the image
 * (0..1), other = 1 - red. On semanticScene() (36 red pixels of 256): red 0.140625, other 0.859375; on an image
 * all red: red 1. Resizing keeps the mean of large flat regions, so other sizes score about the same.
 */
export function tinyRedClassifier(options: ClassifierOptions = {}): TinyModel {
  const labels = ['red', 'other'];
  return {
    bytes: classifierModel(
      [
        [1, 0, 0],
        [-1, 0, 0],
      ],
      [0, 1],
      options.shape ?? '4d',
    ),
    inputName: 'image',
    layout: 'NCHW',
    width: SEMANTIC_SIZE,
    height: SEMANTIC_SIZE,
    config: classifierConfig('tiny-red', 'applied', labels),
    labels,
  };
}

/**
 * Which colour: labels ['red', 'green', 'blue', 'grey'], logits 10 x the mean of R, G and B and 2 for grey
 * (`activation: logits`, the decoder applies the softmax), output [1, 4] unless `shape: '4d'`. On
 * semanticScene() (means R 36/256, G 16/256, B 32/256): logits [1.40625, 0.625, 1.25, 2].
 */
export function tinyColourClassifier(options: ClassifierOptions = {}): TinyModel {
  const labels = ['red', 'green', 'blue', 'grey'];
  return {
    bytes: classifierModel(
      [
        [10, 0, 0],
        [0, 10, 0],
        [0, 0, 10],
        [0, 0, 0],
      ],
      [0, 0, 0, 2],
      options.shape ?? '2d',
    ),
    inputName: 'image',
    layout: 'NCHW',
    width: SEMANTIC_SIZE,
    height: SEMANTIC_SIZE,
    config: classifierConfig('tiny-colour', 'logits', labels),
    labels,
  };
}

// ---------------------------------------------------------------------------------------------------------------
// YOLOv8-seg: 64x64 input, 2 classes, 2 prototypes of 16x16 (stride 4), 5 anchors.

const YOLO_SIZE = 64;

/**
 * The detections tensor [1, 8, 5] of tinyYoloSegModel, channel-major: rows cx, cy, w, h, score cat, score dog,
 * coefficient 0, coefficient 1; columns are the anchors.
 */
export const YOLO_DETECTIONS: readonly (readonly number[])[] = [
  // a0 cat  a1 cat  a2 dog  a3 low  a4 dog
  [20, 22, 22, 48, 48], // cx
  [24, 24, 24, 48, 52], // cy
  [24, 24, 24, 16, 24], // w
  [32, 32, 32, 16, 16], // h
  [0.9, 0.8, 0.3, 0.2, 0.55], // cat
  [0.05, 0.1, 0.7, 0.1, 0.6], // dog
  [1, 1, 0, 1, 1], // coefficient of prototype 0 (red)
  [0, 0, 1, 0, 0], // coefficient of prototype 1 (green)
];

/**
 * The scene of the YOLO model (64x64, black): a red vertical band x[16,48) over the full height and a green
 * horizontal band y[16,32) over the full width (yellow where they cross).
 */
export function yoloScene(): RawImage {
  return paintRgb(YOLO_SIZE, YOLO_SIZE, [
    { x0: 16, y0: 0, x1: 48, y1: YOLO_SIZE, rgb: RED },
    { x0: 0, y0: 16, x1: YOLO_SIZE, y1: 32, rgb: GREEN },
    { x0: 16, y0: 16, x1: 48, y1: 32, rgb: YELLOW },
  ]);
}

/**
 * YOLOv8-seg layout, labels ['cat', 'dog'], input `images` 64x64, outputs `output0` [1, 8, 5] (YOLO_DETECTIONS,
 * plus 0 x the input's mean so the graph reads the input) and `output1` [1, 2, 16, 16] = prototypes derived from
 * the image: 4x4 average pooling, then proto0 = 20R - 10, proto1 = 20G - 10 (so +10 on red / green cells, -10 on
 * black). Config: letterbox, score 0.25, NMS IoU 0.45, mask 0.5.
 * Decoding (boxes in x, y, w, h): a1 is suppressed by a0 (same class, IoU 0.846), a3 is below the score threshold.
 * On yoloScene() at identity scale:
 *   1. cat 0.9 (margin 0.85), box [8, 8, 24, 32], mask = box ∩ red band = x[16,32) y[8,40), area 512;
 *   2. dog 0.7 (margin 0.4), box [10, 8, 24, 32], mask = box ∩ green band = x[10,34) y[16,32), area 384;
 *   3. dog 0.6 (margin 0.05), box [36, 44, 24, 16], mask = box ∩ red band = x[36,48) y[44,60), area 192.
 */
export function tinyYoloSegModel(options: { layout?: Layout } = {}): TinyModel {
  const layout = options.layout ?? 'NCHW';
  const labels = ['cat', 'dog'];
  const { input, nodes } = imageInput('images', layout, YOLO_SIZE, YOLO_SIZE);
  const anchors = YOLO_DETECTIONS[0].length;
  nodes.push(
    {
      op: 'AveragePool',
      inputs: ['x'],
      outputs: ['pooled'],
      attributes: { kernel_shape: [4, 4], strides: [4, 4] },
    },
    {
      op: 'Conv',
      inputs: ['pooled', 'proto_w', 'proto_b'],
      outputs: ['output1'],
      attributes: { kernel_shape: [1, 1] },
    },
    {
      op: 'Constant',
      inputs: [],
      outputs: ['detections_const'],
      attributes: {
        value: {
          tensor: { name: 'detections_value', dims: [1, 8, anchors], values: YOLO_DETECTIONS.flat() },
        },
      },
    },
    { op: 'ReduceMean', inputs: ['x'], outputs: ['mean'], attributes: { axes: [1, 2, 3], keepdims: 0 } },
    { op: 'Mul', inputs: ['mean', 'zero'], outputs: ['nothing'] },
    { op: 'Add', inputs: ['detections_const', 'nothing'], outputs: ['output0'] },
  );
  const bytes = buildModel({
    inputs: [input],
    outputs: [
      { name: 'output0', dims: [1, 8, anchors] },
      { name: 'output1', dims: [1, 2, YOLO_SIZE / 4, YOLO_SIZE / 4] },
    ],
    nodes,
    initializers: [
      { name: 'proto_w', dims: [2, 3, 1, 1], values: [20, 0, 0, 0, 20, 0] },
      { name: 'proto_b', dims: [2], values: [-10, -10] },
      { name: 'zero', dims: [1], values: [0] },
    ],
  });
  return {
    bytes,
    inputName: 'images',
    layout,
    width: YOLO_SIZE,
    height: YOLO_SIZE,
    config: {
      name: 'tiny-yolo-seg',
      task: 'instance',
      decoder: 'yolo-seg',
      input: { name: 'images', width: YOLO_SIZE, height: YOLO_SIZE, resize: 'letterbox', layout },
      thresholds: { score: 0.25, nms_iou: 0.45, mask: 0.5 },
      labels,
    },
    labels,
  };
}

// ---------------------------------------------------------------------------------------------------------------
// torchvision Mask R-CNN: 32x32 input, 3 detections, masks pasted (N x 1 x 32 x 32) or small (N x 1 x 4 x 4).

const RCNN_SIZE = 32;

/** Boxes (x1, y1, x2, y2), labels and scores of tinyRcnnModel, in output order. */
export const RCNN_DETECTIONS = {
  boxes: [
    [8, 8, 24, 24],
    [8, 16, 32, 32],
    [2, 2, 8, 8],
  ],
  labels: [1, 2, 1],
  scores: [0.95, 0.6, 0.1],
} as const;

/**
 * The scene of the Mask R-CNN model (32x32, black): a red square x[8,24) y[8,24) and a green rectangle x[8,32)
 * y[16,32), yellow where they overlap (so each colour channel holds one whole shape). Both are aligned to
 * 8-pixel blocks.
 */
export function rcnnScene(): RawImage {
  return paintRgb(RCNN_SIZE, RCNN_SIZE, [
    { x0: 8, y0: 8, x1: 24, y1: 24, rgb: RED },
    { x0: 8, y0: 16, x1: 32, y1: 32, rgb: GREEN },
    { x0: 8, y0: 16, x1: 24, y1: 24, rgb: YELLOW },
  ]);
}

/**
 * torchvision Mask R-CNN outputs, labels ['background', 'cat', 'dog'], input `image` 32x32 (stretch), outputs
 * named `boxes` [3, 4], `labels` [3] int64, `scores` [3], `masks` (config.output.names lists them). Boxes, labels
 * and scores are RCNN_DETECTIONS. Instance i's mask probabilities are colour channel i (R, G, B):
 * - `masks: 'pasted'`: [3, 1, 32, 32], the channel itself;
 * - `masks: 'small'`: [3, 1, 4, 4], the channel averaged over 8x8 blocks (a graph cut before the paste Loop).
 * Config: score 0.5, mask 0.5, so the third detection (0.1) is dropped.
 * On rcnnScene() at identity scale:
 *   1. cat 0.95, box [8, 8, 16, 16];
 *   2. dog 0.6, box [8, 16, 24, 16].
 * Pasted masks: instance 1 = the red square x[8,24) y[8,24), area 256; instance 2 = the green rectangle
 * x[8,32) y[16,32), area 384.
 * Small masks: R pooled is 1 on blocks x,y in {1,2}, G pooled 1 on blocks x in {1,2,3}, y in {2,3}, 0 elsewhere.
 * Pasted as torchvision does (box grown by 6/4 about its centre, truncated to integers, zero-padded 6x6 mask
 * resized bilinearly into it, > 0.5): instance 1 has area 69 in the crop x[4,29) y[4,29) (a 9x9 square
 * x[12,21) y[12,21) less three pixels at each corner); instance 2 has area 124 in the crop x[2,32) y[12,32).
 */
export function tinyRcnnModel(options: { layout?: Layout; masks?: 'pasted' | 'small' } = {}): TinyModel {
  const layout = options.layout ?? 'NCHW';
  const form = options.masks ?? 'pasted';
  const labels = ['background', 'cat', 'dog'];
  const count = RCNN_DETECTIONS.scores.length;
  const { input, nodes } = imageInput('image', layout, RCNN_SIZE, RCNN_SIZE);
  const constant = (output: string, dims: number[], values: readonly number[], type?: 'int64'): NodeSpec => ({
    op: 'Constant',
    inputs: [],
    outputs: [output],
    attributes: { value: { tensor: { name: `${output}_value`, dims, values: [...values], type } } },
  });
  nodes.push(
    constant('boxes', [count, 4], RCNN_DETECTIONS.boxes.flat()),
    constant('labels', [count], RCNN_DETECTIONS.labels, 'int64'),
    constant('scores', [count], RCNN_DETECTIONS.scores),
  );
  if (form === 'small') {
    nodes.push(
      {
        op: 'AveragePool',
        inputs: ['x'],
        outputs: ['pooled'],
        attributes: { kernel_shape: [8, 8], strides: [8, 8] },
      },
      { op: 'Transpose', inputs: ['pooled'], outputs: ['masks'], attributes: { perm: [1, 0, 2, 3] } },
    );
  } else {
    nodes.push({ op: 'Transpose', inputs: ['x'], outputs: ['masks'], attributes: { perm: [1, 0, 2, 3] } });
  }
  const maskSize = form === 'small' ? RCNN_SIZE / 8 : RCNN_SIZE;
  const bytes = buildModel({
    inputs: [input],
    outputs: [
      { name: 'boxes', dims: [count, 4] },
      { name: 'labels', type: 'int64', dims: [count] },
      { name: 'scores', dims: [count] },
      { name: 'masks', dims: [count, 1, maskSize, maskSize] },
    ],
    nodes,
  });
  return {
    bytes,
    inputName: 'image',
    layout,
    width: RCNN_SIZE,
    height: RCNN_SIZE,
    config: {
      name: `tiny-rcnn-${form}`,
      task: 'instance',
      decoder: 'rcnn',
      input: { name: 'image', width: RCNN_SIZE, height: RCNN_SIZE, resize: 'stretch', layout },
      output: { names: { boxes: 'boxes', labels: 'labels', scores: 'scores', masks: 'masks' } },
      thresholds: { score: 0.5, mask: 0.5 },
      labels,
    },
    labels,
  };
}
