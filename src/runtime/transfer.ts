/**
 * Moving tensors and masks between threads without needless copies: a typed array that spans its whole
 * ArrayBuffer is transferred (zero-copy, the sender's view is detached afterwards). A view into a larger buffer
 * is copied once, exactly its own bytes, and the copy is transferred: transferring the backing buffer would take
 * bytes the sender still owns (a Node Buffer pool slab, a decoder's packed storage), and plain structured clone
 * would copy the whole backing buffer, not just the view. SharedArrayBuffers are shared by structured clone,
 * never copied, so they stay out of the transfer list.
 */
import type { RawImage } from '../image/types.js';
import type { SegmentationResult } from '../tasks/types.js';
import type { ImageFeed } from './runtime.js';
import type { NamedTensors, TensorArray } from './types.js';

export class TransferList {
  readonly buffers = new Set<ArrayBuffer>();

  /** The view to post in place of `data`, registering what can be transferred. */
  take<T extends TensorArray>(data: T): T {
    if (!(data.buffer instanceof ArrayBuffer)) return data;
    const spansBuffer = data.byteOffset === 0 && data.byteLength === data.buffer.byteLength;
    // A Buffer's slice() is a view on the same memory (Buffer.prototype.slice is subarray), not a copy.
    const owned = spansBuffer ? data : ((Buffer.isBuffer(data) ? new Uint8Array(data) : data.slice()) as T);
    this.buffers.add(owned.buffer as ArrayBuffer);
    return owned;
  }

  list(): ArrayBuffer[] {
    return [...this.buffers];
  }
}

export interface Transferable<T> {
  value: T;
  transfer: ArrayBuffer[];
}

export function transferTensors(tensors: NamedTensors): Transferable<NamedTensors> {
  const list = new TransferList();
  const value: NamedTensors = {};
  for (const [name, tensor] of Object.entries(tensors)) {
    value[name] = { type: tensor.type, dims: tensor.dims, data: list.take(tensor.data) };
  }
  return { value, transfer: list.list() };
}

/** Transfers the decoded pixels of an image feed. */
export function transferImage(image: ImageFeed): Transferable<ImageFeed> {
  const list = new TransferList();
  const content = takeRaw(image.content, list);
  return { value: { ...image, content }, transfer: list.list() };
}

/** The raw image to post, its pixels registered with `list`. */
export function takeRaw(image: RawImage, list: TransferList): RawImage {
  return { ...image, data: list.take(image.data) };
}

/** Transfers the big arrays of a decoded result: instance mask crops, the semantic class map. */
export function transferResult(result: SegmentationResult): Transferable<SegmentationResult> {
  const list = new TransferList();
  return { value: takeResult(result, list), transfer: list.list() };
}

/** The result to post, its big arrays registered with `list`. */
export function takeResult(result: SegmentationResult, list: TransferList): SegmentationResult {
  // A classification is a few numbers per class: cloned, nothing to transfer.
  if (result.task === 'classification') return result;
  return result.task === 'instance'
    ? {
        ...result,
        instances: result.instances.map((instance) => ({
          ...instance,
          mask: { ...instance.mask, data: list.take(instance.mask.data) },
        })),
      }
    : { ...result, classMap: list.take(result.classMap) };
}
