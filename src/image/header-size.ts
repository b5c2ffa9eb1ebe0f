/**
 * The image size a file's header declares, read from the bytes themselves. libvips refuses some headers before
 * it reports a size (libpng rejects widths over 1,000,000, so a PNG declaring 2^31-1 x 1 came back as a corrupt
 * image, IMAGE_CORRUPT), yet what the client sent is an image too large to decode, and must be named so
 * (IMAGE_TOO_LARGE). Only the fixed places where each format states its size are read; `undefined` means "not
 * found here" and leaves the verdict to libvips. AVIF/HEIF are left to libvips: their size sits in property
 * boxes shared by thumbnails and grid tiles, where the primary item takes a box walk this check does not need.
 */
import type { ImageFormat } from './sniff.js';

export interface DeclaredSize {
  width: number;
  height: number;
}

function view(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** PNG: the IHDR chunk (13 bytes) comes first; width and height are big-endian uint32 (at most 2^31-1). */
function pngSize(bytes: Uint8Array): DeclaredSize | undefined {
  if (bytes.length < 24) return undefined;
  const v = view(bytes);
  if (v.getUint32(8) !== 13 || String.fromCharCode(...bytes.subarray(12, 16)) !== 'IHDR') return undefined;
  return { width: v.getUint32(16), height: v.getUint32(20) };
}

/**
 * GIF: the logical screen size, little-endian uint16 at bytes 6 and 8 (what libvips reports). A GIF header has
 * no checksum, so it counts as a declaration only when the block after the screen descriptor (and its colour
 * table) is one a GIF can have there: an extension, an image or the trailer. Noise after the magic stays corrupt.
 */
function gifSize(bytes: Uint8Array): DeclaredSize | undefined {
  if (bytes.length < 14) return undefined;
  const packed = bytes[10];
  const colourTable = packed & 0x80 ? 3 * 2 ** ((packed & 0x07) + 1) : 0;
  const next = bytes[13 + colourTable];
  if (next !== 0x21 && next !== 0x2c && next !== 0x3b) return undefined;
  const v = view(bytes);
  return { width: v.getUint16(6, true), height: v.getUint16(8, true) };
}

/** WebP: the first chunk after `RIFF....WEBP` is VP8 (lossy), VP8L (lossless) or VP8X (extended, canvas size). */
function webpSize(bytes: Uint8Array): DeclaredSize | undefined {
  if (bytes.length < 30) return undefined;
  const v = view(bytes);
  const chunk = String.fromCharCode(...bytes.subarray(12, 16));
  if (chunk === 'VP8X') {
    const uint24 = (at: number) => bytes[at] | (bytes[at + 1] << 8) | (bytes[at + 2] << 16);
    return { width: uint24(24) + 1, height: uint24(27) + 1 };
  }
  if (chunk === 'VP8L' && bytes[20] === 0x2f) {
    const bits = v.getUint32(21, true);
    return { width: (bits & 0x3fff) + 1, height: ((bits >>> 14) & 0x3fff) + 1 };
  }
  // Lossy: a 3-byte frame tag, the start code 9d 01 2a, then 14-bit width and height (2 bits of scale above).
  if (chunk === 'VP8 ' && bytes[23] === 0x9d && bytes[24] === 0x01 && bytes[25] === 0x2a) {
    return { width: v.getUint16(26, true) & 0x3fff, height: v.getUint16(28, true) & 0x3fff };
  }
  return undefined;
}

/** Start-of-frame markers: C0-CF except DHT (C4), JPG (C8) and DAC (CC). */
function isStartOfFrame(marker: number): boolean {
  return marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc;
}

/**
 * JPEG: walks the marker segments to the first start-of-frame (precision, height, width). Segments are skipped
 * by their length, so a thumbnail's frame inside the EXIF segment (APP1) is never mistaken for the image's.
 */
function jpegSize(bytes: Uint8Array): DeclaredSize | undefined {
  const v = view(bytes);
  let at = 2;
  while (at + 4 <= bytes.length) {
    if (bytes[at] !== 0xff) return undefined;
    const marker = bytes[at + 1];
    // Fill bytes, and markers that stand alone without a length (TEM, RSTn).
    if (marker === 0xff) {
      at += 1;
      continue;
    }
    if (marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) {
      at += 2;
      continue;
    }
    // Start of scan (or end of image) before any frame header: nothing declared where it should be.
    if (marker === 0xda || marker === 0xd9) return undefined;
    const length = v.getUint16(at + 2);
    if (isStartOfFrame(marker)) {
      if (at + 10 > bytes.length) return undefined;
      // A frame header is 8 bytes plus 3 per component (1 to 4): anything else is not one.
      const components = bytes[at + 9];
      if (components < 1 || components > 4 || length !== 8 + 3 * components) return undefined;
      return { width: v.getUint16(at + 7), height: v.getUint16(at + 5) };
    }
    if (length < 2) return undefined;
    at += 2 + length;
  }
  return undefined;
}

const TIFF_IMAGE_WIDTH = 256;
const TIFF_IMAGE_LENGTH = 257;
const TIFF_SHORT = 3;
const TIFF_LONG = 4;

/** Classic TIFF: ImageWidth and ImageLength of the first IFD (SHORT or LONG). BigTIFF is left to libvips. */
function tiffSize(bytes: Uint8Array): DeclaredSize | undefined {
  if (bytes.length < 8) return undefined;
  const v = view(bytes);
  const little = bytes[0] === 0x49;
  if (v.getUint16(2, little) !== 42) return undefined;
  const ifd = v.getUint32(4, little);
  if (ifd + 2 > bytes.length) return undefined;
  const count = v.getUint16(ifd, little);
  let width: number | undefined;
  let height: number | undefined;
  for (let i = 0; i < count; i++) {
    const entry = ifd + 2 + i * 12;
    if (entry + 12 > bytes.length) break;
    const tag = v.getUint16(entry, little);
    if (tag !== TIFF_IMAGE_WIDTH && tag !== TIFF_IMAGE_LENGTH) continue;
    const type = v.getUint16(entry + 2, little);
    const value =
      type === TIFF_SHORT
        ? v.getUint16(entry + 8, little)
        : type === TIFF_LONG
          ? v.getUint32(entry + 8, little)
          : undefined;
    if (tag === TIFF_IMAGE_WIDTH) width = value;
    else height = value;
  }
  return width !== undefined && height !== undefined ? { width, height } : undefined;
}

/** The size the header of `bytes` (already sniffed as `format`) declares, or undefined where it is not read. */
export function declaredSize(bytes: Uint8Array, format: ImageFormat): DeclaredSize | undefined {
  switch (format) {
    case 'png':
      return pngSize(bytes);
    case 'gif':
      return gifSize(bytes);
    case 'webp':
      return webpSize(bytes);
    case 'jpeg':
      return jpegSize(bytes);
    case 'tiff':
      return tiffSize(bytes);
    default:
      return undefined;
  }
}
