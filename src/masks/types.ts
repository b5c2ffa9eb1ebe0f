/** A binary mask over a whole image: row-major, one byte per pixel, 0 or 1. */
export interface BinaryMask {
  width: number;
  height: number;
  data: Uint8Array;
}

/**
 * A binary mask of a `width` x `height` image stored only inside the rectangle
 * [left, left + cropWidth) x [top, top + cropHeight); every pixel outside is 0.
 * Instance masks live inside their box, so this keeps decoding and RLE encoding
 * proportional to the box, not to the image.
 */
export interface CroppedMask {
  width: number;
  height: number;
  left: number;
  top: number;
  cropWidth: number;
  cropHeight: number;
  /** Row-major over the crop, one byte per pixel, 0 or 1. */
  data: Uint8Array;
}

/** COCO RLE with the compressed string form, as pycocotools writes it: size is [height, width]. */
export interface CompressedRle {
  size: [number, number];
  counts: string;
}

/** COCO RLE with uncompressed counts (as in `iscrowd: 1` annotations). */
export interface UncompressedRle {
  size: [number, number];
  counts: number[];
}
