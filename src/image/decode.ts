/**
 * Bytes to pixels, never trusting what the bytes claim. The order of checks is the contract:
 * empty -> unknown magic -> size our own header reading finds over the limit -> header libvips cannot read ->
 * size libvips reads over the limit, and only then pixel decoding, so a decompression bomb is refused from its header (a few hundred bytes) before any pixel memory exists.
 *
 * Decoded images are RGB, 8 bits, in the orientation a person sees (EXIF applied): grey is expanded to three
 * equal channels, 16-bit samples are reduced to 8 bits, and alpha is dropped, not composited over a colour.
 * Dropping keeps the colour values under transparent pixels, which is what PIL's `convert('RGB')` and
 * OpenCV's `imread(IMREAD_COLOR)` (the loaders most segmentation models were trained with) both do.
 * Embedded ICC profiles (and CMYK) are converted to sRGB by libvips, so values match what a viewer shows.
 * Multi-frame images (animated GIF/WebP, multi-page TIFF) yield their first frame.
 */
import sharp from 'sharp';
import { SegserveError } from '../errors.js';
import { declaredSize } from './header-size.js';
import { type ImageFormat, sniffImageFormat } from './sniff.js';
import type { RawImage } from './types.js';

export interface ImageInfo {
  /** From the magic bytes, not from any declared content type. */
  format: ImageFormat;
  /** Stored size as the header declares it, before EXIF orientation. */
  width: number;
  height: number;
  /** EXIF orientation 1..8; 1 when absent or out of range. */
  orientation: number;
  /** Size after EXIF orientation: what a person sees, and the space every result is reported in. */
  orientedWidth: number;
  orientedHeight: number;
  /** Channels of the stored image, alpha included (decoding always yields 3). */
  channels: number;
  hasAlpha: boolean;
}

/**
 * Where pixels come from: compressed bytes that `probeImage` already accepted, or pixels already in memory.
 * Internal to src/image (not re-exported from index.ts).
 */
export type ImageSource =
  | { kind: 'encoded'; bytes: Uint8Array; info: ImageInfo; maxPixels: number }
  | { kind: 'raw'; image: RawImage };

/**
 * `error` aborts on corrupt or truncated pixel data (a truncated JPEG otherwise decodes "fine" with grey rows),
 * while the harmless warnings common in camera and phone files (e.g. extraneous bytes before a marker) pass;
 * sharp's default, `warning`, would refuse those. libjpeg reports damaged entropy-coded data inside a complete
 * file as a warning too, so such a JPEG decodes with damaged pixels, as it does in PIL and OpenCV.
 */
const FAIL_ON = 'error' as const;

function assertPixelLimit(maxPixels: number): void {
  if (!Number.isSafeInteger(maxPixels) || maxPixels <= 0) {
    throw new RangeError(`maxPixels must be a positive integer, got ${maxPixels}`);
  }
}

function assertWithinLimit(width: number, height: number, maxPixels: number): void {
  const pixels = width * height;
  if (pixels > maxPixels) {
    throw new SegserveError('IMAGE_TOO_LARGE', { width, height, pixels, limit: maxPixels });
  }
}

/** libvips appends one line per failing layer; the last names the actual failure. */
function decoderReason(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  const lines = message.split('\n').filter((line) => line.trim() !== '');
  return lines.at(-1)?.trim() ?? 'unknown decoder error';
}

function corrupt(error: unknown): SegserveError {
  return new SegserveError('IMAGE_CORRUPT', { reason: decoderReason(error) }, { cause: error });
}

/** The prebuilt libvips decodes AV1 HEIF (AVIF) only; a libvips built with libde265 also lists `.heic`. */
function heicDecodable(): boolean {
  return sharp.format.heif.input.fileSuffix?.includes('.heic') ?? false;
}

/** Reads and checks the header; refuses everything that must not reach pixel decoding. */
export async function probeImage(bytes: Uint8Array, maxPixels: number): Promise<ImageInfo> {
  assertPixelLimit(maxPixels);
  if (bytes.length === 0) throw new SegserveError('IMAGE_EMPTY');
  const format = sniffImageFormat(bytes);
  if (format === null) throw new SegserveError('IMAGE_UNSUPPORTED_FORMAT');
  // Our own reading of the header first: libvips refuses some huge headers (libpng caps widths at 1,000,000)
  // with a decoder error, and an image too large must be called that, not corrupt.
  const declared = declaredSize(bytes, format);
  if (declared) assertWithinLimit(declared.width, declared.height, maxPixels);

  let metadata: sharp.Metadata;
  try {
    // metadata() parses the header only. sharp's own pixel limit is lifted here so that the declared size comes
    // back and the refusal below can say what it was; the decoding pipelines keep the limit (see openSource).
    metadata = await sharp(bytes, { failOn: FAIL_ON, limitInputPixels: false }).metadata();
  } catch (error) {
    throw corrupt(error);
  }
  if (metadata.format === 'heif' && metadata.compression === 'hevc' && !heicDecodable()) {
    // An iPhone photo is not corrupt: say plainly that this build cannot read HEVC-coded HEIF.
    throw new SegserveError('IMAGE_UNSUPPORTED_FORMAT', {
      format: 'heic',
      reason: 'HEVC-coded HEIF needs a libvips built with libde265',
    });
  }

  const { width, height } = metadata;
  assertWithinLimit(width, height, maxPixels);
  const orientation =
    metadata.orientation !== undefined && metadata.orientation >= 1 && metadata.orientation <= 8
      ? metadata.orientation
      : 1;
  return {
    format,
    width,
    height,
    orientation,
    orientedWidth: metadata.autoOrient.width,
    orientedHeight: metadata.autoOrient.height,
    channels: metadata.channels,
    hasAlpha: metadata.hasAlpha,
  };
}

/** A sharp pipeline over the source, EXIF-oriented. Internal to src/image. */
export function openSource(source: ImageSource): sharp.Sharp {
  if (source.kind === 'raw') {
    const { data, width, height, channels } = source.image;
    // Pixels already in memory: no header to distrust, and their size is already paid for.
    return sharp(data, { raw: { width, height, channels }, limitInputPixels: false });
  }
  // limitInputPixels repeats the probe's check inside the decoder, against the size the decoder itself reads,
  // so a header that understates the real size still cannot make libvips allocate past the limit.
  return sharp(source.bytes, {
    failOn: FAIL_ON,
    limitInputPixels: source.maxPixels,
    sequentialRead: true,
    autoOrient: true,
  });
}

/** Runs `pipeline` to 8-bit RGB (alpha dropped, grey expanded). Internal to src/image. */
export async function readRgb(pipeline: sharp.Sharp, source: ImageSource): Promise<RawImage> {
  try {
    const { data, info } = await pipeline
      .removeAlpha()
      .toColourspace('srgb')
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
    return { width: info.width, height: info.height, channels: 3, data };
  } catch (error) {
    // Failures on pixels we produced ourselves are bugs, not client errors: let them surface as they are.
    if (source.kind === 'raw') throw error;
    if (decoderReason(error).includes('exceeds pixel limit')) {
      const { width, height } = source.info;
      throw new SegserveError(
        'IMAGE_CORRUPT',
        {
          reason: `the decoder found more than ${source.maxPixels} pixels although the header declares ${width}x${height}`,
        },
        { cause: error },
      );
    }
    throw corrupt(error);
  }
}

/** The whole image, EXIF-oriented RGB (for overlays and anything that wants to see what the person sees). */
export async function decodeImage(bytes: Uint8Array, maxPixels: number): Promise<RawImage> {
  const info = await probeImage(bytes, maxPixels);
  const source: ImageSource = { kind: 'encoded', bytes, info, maxPixels };
  return readRgb(openSource(source), source);
}
