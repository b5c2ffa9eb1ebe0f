/**
 * Task decoders: raw ONNX outputs of one image -> results in original-image coordinates.
 * `getDecoder(config.decoder)` is the entry point; the rest is exported for tests and tools.
 */
import type { DecoderName } from '../models/config.js';
import { decodeSoftmaxClassifier } from './classification.js';
import { decodeRcnn } from './rcnn.js';
import { decodeMultilabel, decodeSigmoid, decodeSoftmax } from './semantic.js';
import type { Decoder } from './types.js';
import { decodeYoloSeg } from './yolo-seg.js';

const decoders: Record<DecoderName, Decoder> = {
  'yolo-seg': decodeYoloSeg,
  rcnn: decodeRcnn,
  softmax: decodeSoftmax,
  sigmoid: decodeSigmoid,
  'sigmoid-multilabel': decodeMultilabel,
  'softmax-classifier': decodeSoftmaxClassifier,
};

export function getDecoder(name: DecoderName): Decoder {
  return decoders[name];
}

export {
  classUncertainty,
  DEFAULT_TOP_K,
  decodeSoftmaxClassifier,
  softmax,
  topClasses,
} from './classification.js';
export { type CornerBox, iou, type NmsCandidate, nms } from './nms.js';
export { pasteMask } from './paste.js';
export { decodeRcnn } from './rcnn.js';
export { decodeMultilabel, decodeSigmoid, decodeSoftmax } from './semantic.js';
export type * from './types.js';
export { instanceUncertainty } from './uncertainty.js';
export { decodeYoloSeg } from './yolo-seg.js';
