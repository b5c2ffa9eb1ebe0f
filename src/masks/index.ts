/** Public API of the mask layer: pure functions over masks (RLE, polygons, PNG, palette, overlay). */
export { brushRleToMask, decodeBrushRle, encodeBrushRle, maskToBrushRle } from './brush-rle.js';
export {
  asCroppedMask,
  cropToContent,
  expandCroppedMask,
  isCroppedMask,
  type MaskBox,
  maskArea,
  maskBbox,
} from './crop.js';
export { type CvatMask, cvatToMask, formatCvatRle, maskToCvat, parseCvatRle } from './cvat-rle.js';
export { type OverlayInput, type OverlayInstance, type OverlayOptions, renderOverlay } from './overlay.js';
export { classPalette, colorForIndex, type Rgb } from './palette.js';
export { encodeBinaryMaskPng, encodeClassMapPng, encodeGreyPng } from './png.js';
export { decodeMaskPng, type MaskPng, type PngHeader, readPngHeader } from './png-read.js';
export {
  maskToPolygons,
  type Polygon,
  type PolygonOptions,
  polygonsToCoco,
  polygonsToMask,
  polygonsToRle,
  polygonToRle,
} from './polygons.js';
export {
  countsToString,
  decodeRle,
  encodeCroppedMask,
  encodeMask,
  rleArea,
  rleBbox,
  rleCounts,
  stringToCounts,
  toCompressedRle,
  unionRle,
} from './rle.js';
export type { BinaryMask, CompressedRle, CroppedMask, UncompressedRle } from './types.js';
